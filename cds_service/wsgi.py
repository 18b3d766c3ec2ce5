"""Run the service under gunicorn with the settings of cds_service/gunicorn_conf.py.

`icaht-cds serve` sets the store up, then replaces itself with a fresh gunicorn process: the
master then imports only gunicorn, gevent and the settings, and each worker is monkey-patched
by gevent before it imports the application (requests, urllib3 and ssl's users must come after
the patching; docs/decisions/0008-serving.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

GUNICORN_SETTINGS = "python:cds_service.gunicorn_conf"


def gunicorn_command(binds: str | Sequence[str], workers: int) -> list[str]:
    """The gunicorn command line; one `--bind` per address (the public port, and the metrics
    port when ICAHT_CDS_METRICS_PORT is set)."""
    addresses = [binds] if isinstance(binds, str) else list(binds)
    command = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_SETTINGS]
    for address in addresses:
        command += ["--bind", address]
    return [*command, "--workers", str(workers)]


def exec_gunicorn(binds: str | Sequence[str], workers: int) -> NoReturn:
    """Become the gunicorn master (same process id: signals reach gunicorn directly)."""
    command = gunicorn_command(binds, workers)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
