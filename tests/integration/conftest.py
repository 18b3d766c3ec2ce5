"""A real PostgreSQL server for the store's tests, started from Debian's binaries.

The server runs in a fresh temporary directory on a free port of 127.0.0.1 (and a unix socket in
the same directory), with trust authentication, and is stopped at the end of the session.
PostgreSQL refuses to run as root: when the tests run as root, the directory is given to the
`postgres` user and the binaries run through `runuser -u postgres --`.

If the server cannot start, every test that needs it fails with the reason (never skips): CI
must not turn green without having exercised the PostgreSQL engine.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fhir_listener import FhirListener

from icaht_demo.fhir_server import free_port

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresError(RuntimeError):
    pass


@dataclass
class LocalPostgres:
    bin_dir: Path
    workdir: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_file(self) -> Path:
        return self.workdir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def _run(self, program: str, *args: str) -> None:
        command = [*_as_postgres(), str(self.bin_dir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise PostgresError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log[-2000:]}"
            )


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _bin_dir() -> Path:
    candidates = sorted(glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name))
    if not candidates:
        raise PostgresError(
            f"no PostgreSQL binaries in {PG_BIN_GLOB}: install Debian's 'postgresql' package"
        )
    return Path(candidates[-1])


def _workdir() -> Path:
    # not under pytest's basetemp: that is mode 0700 and the postgres user could not enter it
    workdir = Path(tempfile.mkdtemp(prefix="icaht-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
    return workdir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    try:
        server = LocalPostgres(_bin_dir(), _workdir(), free_port())
        server.init()
        server.start()
    except (PostgresError, KeyError, OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"PostgreSQL could not start: {error}", pytrace=False)
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: LocalPostgres) -> str:
    """URL of the running test server's `postgres` database (psycopg 3 driver)."""
    return postgres_server.url()


@pytest.fixture
def listener() -> Iterator[FhirListener]:
    """A FHIR stand-in on loopback (fhir_listener.FhirListener), stopped after the test."""
    fhir = FhirListener()
    thread = threading.Thread(target=fhir.server.serve_forever, daemon=True)
    thread.start()
    yield fhir
    fhir.server.shutdown()
    fhir.server.server_close()


@pytest.fixture
def wal_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the store fsyncs itself (`engine.sync_wal`: a replay claim made durable before
    an answer, decision 0035), in order; each fsync is still done (a spy). SQLite's own fsyncs,
    such as an audit commit's, happen in C and are not seen."""
    import cds_service.store.engine as store_engine  # noqa: PLC0415

    synced: list[str] = []
    real_fsync = store_engine.os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(Path(f"/proc/self/fd/{descriptor}").readlink().name)
        real_fsync(descriptor)

    monkeypatch.setattr(store_engine.os, "fsync", recording_fsync)
    return synced
