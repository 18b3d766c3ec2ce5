"""Run the service under gunicorn (gthread workers, ../shared/ecosystem.md section 3).

The settings live in deploy/gunicorn.conf.py so that `gunicorn -c deploy/gunicorn.conf.py
'cds_service.app:create_app()'` in a container and `icaht-cds serve` run the same way.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess

from cds_service.app import create_app


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app()


def _child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def run_gunicorn(bind: str, workers: int = 2, threads: int = 8) -> None:
    _Gunicorn(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 30,
            "graceful_timeout": 10,
            "accesslog": None,
            "child_exit": _child_exit,
        }
    ).run()
