"""Issue 13, finding 3 (second part): one slow FHIR server cannot starve calls to another.

Two real HTTP servers on loopback: a slow one (each answer takes 3 s, longer than the 2 s call
deadline) and a healthy one (0.3 s an answer, a FHIR server under ordinary load). Twenty-four
callers hammer the slow one with hook-sized fetches (7 searches each, as a call without
prefetch makes) while a hook-sized fetch from the healthy one runs every 0.2 s. Before the fix
the slow server's searches took every thread of the shared pool, and the healthy calls queued
behind them until their 2 s deadline had passed. Now
a FHIR server gets at most `per_target_limit` of the pool, queued work of a call whose deadline
has passed never starts, and every healthy call gets its answers well within its deadline.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cds_service.fhir_client import Deadline, FhirClient, FhirError, FhirTarget

SLOW_ANSWER_SECONDS = 3.0
# a FHIR server under ordinary load: the 2 s deadline leaves a call to it 1.7 s of slack
HEALTHY_ANSWER_SECONDS = 0.3
# a site that lets one FHIR request use the whole deadline (ICAHT_CDS_FHIR_TIMEOUT_SECONDS)
REQUEST_TIMEOUT_SECONDS = 2.0
DEADLINE_SECONDS = 2.0  # the service's default hook call deadline
QUERIES = {f"key{index}": f"Observation?patient=p1&code={index}" for index in range(7)}
SLOW_CALLERS = 24
HEALTHY_CALLS = 10


class CountingServer:
    """A FHIR stand-in answering every GET with an empty Bundle after `delay` seconds.

    `in_flight` counts the searches whose client still waits (a client that hung up at its
    deadline no longer counts), so `max_in_flight` is how many searches the client ran at once.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.received = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/fhir"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner.lock:
                    owner.received += 1
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    if not self._client_waits(owner.delay):
                        return
                    data = json.dumps({"resourceType": "Bundle", "type": "searchset"}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up at its deadline
                finally:
                    with owner.lock:
                        owner.in_flight -= 1

            def _client_waits(self, seconds: float) -> bool:
                """Wait `seconds`; False as soon as the client hangs up (HTTP/1.0: it sends
                nothing after its request, so the socket becomes readable only on close)."""
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable:
                        try:
                            return self.connection.recv(1, socket.MSG_PEEK) != b""
                        except OSError:
                            return False
                return True

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow() -> Iterator[CountingServer]:
    server = CountingServer(SLOW_ANSWER_SECONDS)
    yield server
    server.close()


@pytest.fixture
def healthy() -> Iterator[CountingServer]:
    server = CountingServer(HEALTHY_ANSWER_SECONDS)
    yield server
    server.close()


def _hammer(
    client: FhirClient, target: FhirTarget, stop: threading.Event, end: float, offset: float
) -> None:
    # independent clients: their calls start spread over the deadline, not all in one burst
    stop.wait(offset)
    while not stop.is_set() and time.monotonic() < end:  # bounded in time
        client.gather(target, QUERIES, Deadline(DEADLINE_SECONDS))


def test_finding03_slow_fhir_server_does_not_starve_calls_to_a_healthy_one(
    slow: CountingServer, healthy: CountingServer
) -> None:
    client = FhirClient(per_request_timeout=REQUEST_TIMEOUT_SECONDS)
    stop = threading.Event()
    end = time.monotonic() + 40  # the healthy calls below end long before
    hammers = [
        threading.Thread(
            target=_hammer,
            args=(client, FhirTarget(slow.base), stop, end, n * DEADLINE_SECONDS / SLOW_CALLERS),
        )
        for n in range(SLOW_CALLERS)
    ]
    outcomes: list[bool] = []
    seconds: list[float] = []
    try:
        for hammer in hammers:
            hammer.start()
        time.sleep(DEADLINE_SECONDS + 0.5)  # every slow caller runs: they fill what they may
        for _ in range(HEALTHY_CALLS):
            started = time.monotonic()
            answers = client.gather(FhirTarget(healthy.base), QUERIES, Deadline(DEADLINE_SECONDS))
            seconds.append(time.monotonic() - started)
            outcomes.append(not any(isinstance(a, FhirError) for a in answers.values()))
            time.sleep(0.2)
    finally:
        stop.set()
        for hammer in hammers:
            hammer.join(timeout=10)
        client.close()
    assert outcomes == [True] * HEALTHY_CALLS, f"healthy calls took {seconds}"
    # the slow server never held more than its share of the pool (8 of 32; the server counts a
    # search until it notices the hang-up, up to 50 ms late, so a freed slot may overlap with
    # its next search): before, it held the whole pool (17 at once with a pool of 16)
    assert client.per_target_limit == client.pool_size // 4
    assert slow.max_in_flight < client.pool_size // 2
    assert slow.received > 0  # it was hammered


def test_finding03_queued_searches_of_an_expired_call_never_start(slow: CountingServer) -> None:
    # a pool of 2 threads, both open to one server: the first call's two searches hold both;
    # the second call's searches wait, their deadline passes, and they must never reach the
    # server afterwards
    client = FhirClient(per_request_timeout=2.5, pool_size=2, per_target_limit=2)
    try:
        first = threading.Thread(
            target=client.gather,
            args=(FhirTarget(slow.base), {"a": "Patient/1", "b": "Patient/2"}, Deadline(2.5)),
        )
        first.start()
        time.sleep(0.3)
        answers = client.gather(
            FhirTarget(slow.base), {"c": "Patient/3", "d": "Patient/4"}, Deadline(0.5)
        )
        first.join(timeout=10)
        time.sleep(SLOW_ANSWER_SECONDS)  # long after the pool's threads came free
    finally:
        client.close()
    assert all(isinstance(answer, FhirError) for answer in answers.values())
    assert slow.received == 2  # only the first call's searches ever reached the server
