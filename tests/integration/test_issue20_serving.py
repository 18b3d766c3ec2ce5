"""Issue 20: every worker gets connections, and a port is served by one server only.

The real server (`icaht-cds serve`, gunicorn with cds_service/gunicorn_conf.py, 4 workers unless a
test says otherwise) on 127.0.0.1. On one listening socket shared by all workers, connections
opened together could all land on one worker, which then served them one call at a time on one
core (decision 0008, second amendment). Each worker now listens on a socket of its own with
SO_REUSEPORT, and the kernel spreads new connections over them. SO_REUSEPORT would also let a
second server of the same user bind the same port and take part of its connections: the
settings refuse to start then.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from served import ServedProcess, running

from cds_service.cpus import default_workers

WORKERS = 4
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    with running(tmp_path_factory.mktemp("serving"), workers=WORKERS) as server:
        yield server


def listening_inodes(port: int) -> set[str]:
    """The inodes of the TCP sockets listening on `port` (IPv4, as the service binds)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == LISTEN:
            found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(match.group(1))
    return inodes


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(x) for x in (task / "children").read_text().split()]
    return found


def test_each_worker_listens_on_a_socket_of_its_own(served: ServedProcess) -> None:
    assert served.process is not None
    listening = listening_inodes(served.port)
    workers = children(served.process.pid)
    assert len(workers) == WORKERS
    held = [socket_inodes(pid) & listening for pid in workers]
    # one listening socket per worker, none shared, none in the master
    assert [len(inodes) for inodes in held] == [1] * WORKERS
    assert len(set().union(*held)) == WORKERS == len(listening)
    assert not socket_inodes(served.process.pid) & listening


def test_a_second_server_on_the_same_port_refuses_to_start(
    served: ServedProcess, tmp_path: Path
) -> None:
    second = ServedProcess(tmp_path, workers=1)
    second.port = served.port
    second.url = served.url
    second.start(tmp_path / "store.sqlite3")
    assert second.process is not None
    try:
        code = second.process.wait(timeout=60)
    finally:
        second.stop()
    assert code != 0
    assert f"Can't listen on 127.0.0.1:{served.port}" in second.log()
    # the first server still has the port alone, with all its workers
    assert len(listening_inodes(served.port)) == WORKERS
    assert requests.get(f"{served.url}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(("variable", "expected"), [(None, None), ("3", 3)])
def test_without_workers_given_the_server_starts_one_per_usable_cpu_or_as_the_variable_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str | None, expected: int | None
) -> None:
    """`icaht-cds serve` with no --workers: ICAHT_CDS_WORKERS when set, else one worker per CPU
    this process may use (cds_service/cpus.py; decision 0008, fourth amendment)."""
    if variable is None:
        monkeypatch.delenv("ICAHT_CDS_WORKERS", raising=False)
        # the computation is unit-tested (tests/unit/test_cpus.py); here, that serve uses it
        expected = default_workers({})
    else:
        monkeypatch.setenv("ICAHT_CDS_WORKERS", variable)
    with running(tmp_path, workers=None) as server:
        assert server.process is not None
        assert len(children(server.process.pid)) == expected
        assert len(listening_inodes(server.port)) == expected


PIPELINED = 400  # requests one connection sends at once: always readable, never waiting


def _read_responses(sock: socket.socket, expected: int, arrivals: list[float]) -> None:
    """Read until `expected` responses have arrived, noting when each one completed."""
    buffer = b""
    sock.settimeout(60)
    while len(arrivals) < expected:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buffer += chunk
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head, rest = buffer[:end], buffer[end + 4 :]
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            if len(rest) < length:
                break
            buffer = rest[length:]
            arrivals.append(time.monotonic())


def test_a_connection_with_requests_always_waiting_does_not_hold_its_worker(
    tmp_path: Path,
) -> None:
    """One worker; connection A pipelines PIPELINED requests, so that its next request is
    always there to read; connection B then asks once. B is answered while A's requests are
    still being served, not after all of them: the worker yields to the event loop after each
    request (cds_service/gevent_worker.py), so one busy connection cannot hold a worker while
    the others wait (issue 20's c=32 tail of several seconds)."""
    server = ServedProcess(tmp_path, workers=1)
    server.start(tmp_path / "store.sqlite3")
    try:
        assert server.wait_ready(), server.log()[-3000:]
        request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
        busy = socket.create_connection(("127.0.0.1", server.port))
        other = socket.create_connection(("127.0.0.1", server.port))
        busy_arrivals: list[float] = []
        reader = threading.Thread(
            target=_read_responses, args=(busy, PIPELINED, busy_arrivals), daemon=True
        )
        reader.start()
        busy.sendall(request * PIPELINED)
        time.sleep(0.005)  # A's requests are in the worker's socket buffer first
        other.sendall(request)
        other_arrival: list[float] = []
        _read_responses(other, 1, other_arrival)
        reader.join(timeout=60)
        busy.close()
        other.close()
    finally:
        server.stop()
    assert len(busy_arrivals) == PIPELINED and len(other_arrival) == 1
    served_before = sum(1 for moment in busy_arrivals if moment < other_arrival[0])
    # before the fix B waited for all of A's requests (served_before == PIPELINED)
    assert served_before < PIPELINED // 2, served_before
