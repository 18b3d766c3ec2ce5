"""Run the service under gunicorn with the settings of cds_service/gunicorn_conf.py.

`icaht-cds serve` sets the store up, then replaces itself with a fresh gunicorn process: the
master then imports only gunicorn, gevent and the settings, and each worker is monkey-patched
by gevent before it imports the application (requests, urllib3 and ssl's users must come after
the patching; docs/decisions/0008-serving.md).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

GUNICORN_SETTINGS = "python:cds_service.gunicorn_conf"


def gunicorn_command(bind: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        GUNICORN_SETTINGS,
        "--bind",
        bind,
        "--workers",
        str(workers),
    ]


def exec_gunicorn(bind: str, workers: int) -> NoReturn:
    """Become the gunicorn master (same process id: signals reach gunicorn directly)."""
    command = gunicorn_command(bind, workers)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
