"""Start the real service on 127.0.0.1: as production does (`icaht-cds serve`: gunicorn with the
project's settings, for the serving tests of issue 13 findings 2 and 12), or in a thread of the
test process with a pinned clock (`serve_pinned`: werkzeug, for tests that post fixtures dated
from one evaluation date)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from werkzeug.serving import make_server

from cds_service.app import create_app, default_services
from cds_service.settings import Settings
from icaht_demo.fhir_server import free_port


@contextmanager
def serve_pinned(
    settings: Settings, clock: Callable[[ZoneInfo], datetime], port: int = 0
) -> Iterator[str]:
    """The app with `settings` and its clock pinned, on a werkzeug server in a thread; yields
    its base URL and stops it afterwards. `port`: 0 picks a free one; give one (free_port())
    when `settings.public_url` must name it (the JWT audience with authentication on)."""
    services = replace(default_services(settings), clock=clock)
    server = make_server("127.0.0.1", port, create_app(settings, services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def noon_of(day: date) -> Callable[[ZoneInfo], datetime]:
    """A service clock (`Services.clock`) pinned to noon of `day` in the zone it is asked for."""

    def clock(zone: ZoneInfo) -> datetime:
        return datetime.combine(day, clock_time(12), zone)

    return clock


@contextmanager
def running(workdir: Path, workers: int | None = 4) -> Iterator[ServedProcess]:
    """`icaht-cds serve` in `workdir` (its store `store.sqlite3` there), ready; stopped after.
    `workers` None: no --workers, the server's default."""
    server = ServedProcess(workdir, workers=workers)
    server.start(workdir / "store.sqlite3")
    try:
        assert server.wait_ready(), server.log()[-3000:]
        yield server
    finally:
        server.stop()


class ServedProcess:
    """`icaht-cds serve` with ICAHT_CDS_AUTH=none and its own SQLite store and log; `workers`
    None: no --workers, the server's default."""

    def __init__(self, workdir: Path, workers: int | None = 4) -> None:
        self.workdir = workdir
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "service.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, database: Path, extra_env: Mapping[str, str] | None = None) -> None:
        env = os.environ | {
            "ICAHT_CDS_AUTH": "none",
            "ICAHT_CDS_PUBLIC_URL": self.url,
            "ICAHT_CDS_DATABASE_URL": f"sqlite:///{database}",
            "ICAHT_CDS_TIMEZONE": "Europe/Berlin",
            **(extra_env or {}),
        }
        command = [sys.executable, "-m", "icaht_cli", "serve", "--port", str(self.port)]
        command += ["--state-dir", str(self.workdir)]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 60.0) -> bool:
        """True once /readyz answers 200; False if the server exits or time runs out."""
        assert self.process is not None
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.process.poll() is None:
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
