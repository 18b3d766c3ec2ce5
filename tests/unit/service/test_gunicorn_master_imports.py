"""The gunicorn master loads the settings and the worker class without importing requests or
urllib3 (docs/decisions/0008-serving.md): gevent monkey-patches each worker before the
application is imported, and a urllib3 imported before the patching would keep blocking,
unpatched SSL for every HTTPS call to a FHIR server or a JWKS URL."""

from __future__ import annotations

import subprocess
import sys

MASTER = """
import sys
from gunicorn.config import Config
config = Config()
config.set("worker_class", "cds_service.gevent_worker.BufferingGeventWorker")
import cds_service.gunicorn_conf as settings
worker = config.worker_class
print(worker.__name__, settings.worker_class, settings.keepalive)
print(sorted(name for name in ("requests", "urllib3") if name in sys.modules))
"""


def test_the_gunicorn_master_imports_neither_requests_nor_urllib3() -> None:
    result = subprocess.run(
        [sys.executable, "-c", MASTER], capture_output=True, text=True, check=True, timeout=60
    )
    worker_line, imported = result.stdout.splitlines()
    assert worker_line == (
        "BufferingGeventWorker cds_service.gevent_worker.BufferingGeventWorker 5"
    )
    assert imported == "[]"
