"""The embedded FHIR server: sekmet-fhir (pinned, PyPI) run from its own virtual environment.

Used by `icaht-cds demo` and by the test suite's session fixture. sekmet is a real FHIR R4
server on SQLite (decision record 0001): we start it on 127.0.0.1 with its
simulator off, wait for `/metadata`, and stop it. It lives in `.state/fhir-venv` because it pins
its own fhir.resources and FastAPI; `./dev setup` installs it from requirements/fhir-server.txt.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = PROJECT_ROOT / ".state"


class FhirServerError(RuntimeError):
    """The embedded FHIR server could not be started or is not installed."""


def sekmet_executable(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    override = os.environ.get("ICAHT_SEKMET_BIN")
    path = Path(override) if override else state_dir / "fhir-venv" / "bin" / "sekmet"
    if not path.exists():
        raise FhirServerError(
            f"sekmet-fhir is not installed at {path}. Run `./dev setup` (it creates "
            ".state/fhir-venv from requirements/fhir-server.txt), or set ICAHT_SEKMET_BIN."
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_fhir_server(base_url: str, timeout: float = 1.0) -> bool:
    try:
        response = requests.get(f"{base_url}/metadata", timeout=timeout)
    except requests.RequestException:
        return False
    return response.ok and response.json().get("resourceType") == "CapabilityStatement"


@dataclass
class LocalFhirServer:
    """One sekmet process on 127.0.0.1 with its SQLite database in `workdir`."""

    workdir: Path
    port: int
    state_dir: Path = DEFAULT_STATE_DIR
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def log_path(self) -> Path:
        return self.workdir / "sekmet.log"

    @property
    def pid_path(self) -> Path:
        return self.workdir / "sekmet.pid"

    def write_settings(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        settings = self.workdir / "settings.yaml"
        # simulator off: otherwise sekmet acts on ServiceRequest/Task resources by itself
        settings.write_text(
            f"base_url: {self.base_url}\n"
            "host: 127.0.0.1\n"
            f"port: {self.port}\n"
            f"db_path: {self.workdir / 'fhir.db'}\n"
            "simulator: {enabled: false}\n"
            "log_inbound: false\n"
        )
        return settings

    def start(self, timeout: float = 30.0, detach: bool = False) -> None:
        executable = sekmet_executable(self.state_dir)
        settings = self.write_settings()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(executable), "serve", "-c", str(settings)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=detach,
        )
        self.pid_path.write_text(str(self.process.pid))
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise FhirServerError(
                    f"sekmet exited with code {self.process.returncode}; "
                    f"last log lines:\n{self._log_tail()}"
                )
            if is_fhir_server(self.base_url, timeout=0.5):
                return
            time.sleep(0.1)
        self.stop()
        raise FhirServerError(
            f"sekmet did not answer {self.base_url}/metadata within {timeout:.0f} s; "
            f"last log lines:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        elif self.process is None and self.pid_path.exists():
            _terminate_pid(int(self.pid_path.read_text()))
        self.pid_path.unlink(missing_ok=True)

    def _log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _terminate_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
