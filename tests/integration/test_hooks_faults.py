"""A failing FHIR server never makes a hook hang past its deadline or answer 500.

The faults come from a real HTTP server on loopback (a small stand-in that misbehaves on
purpose: a real FHIR server cannot be told to be slow or to lie), plus a closed port.
No wall-clock bound is asserted (it would flake on a loaded 2-core CI): the tests assert what
the service said (the 412's diagnostics name the fault) and what the server saw (how many
requests, and that the service hung up on a slow one instead of waiting for its answer). A real
hang still fails: the slow server answers after SLOW_ANSWER only, and pytest-timeout stops the
run.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.logs import JsonFormatter
from cds_service.settings import Settings
from icaht_demo.fhir_server import free_port

DEADLINE = 1.0
FHIR_TIMEOUT = 0.8
SLOW_ANSWER = 60.0  # the slow mode answers this late, if the service is still waiting
TOKEN = "secret-access-token-4711"


class FaultyFhir(BaseHTTPRequestHandler):
    mode = "ok"
    seen: ClassVar[list[str]] = []  # paths of the requests received, in order
    hung_up = threading.Semaphore(0)  # released for each slow request the client abandoned

    def do_GET(self) -> None:
        mode, hung_up = type(self).mode, type(self).hung_up  # this test's, even if answered late
        type(self).seen.append(self.path)
        if mode == "slow":
            if self._client_hangs_up_within(SLOW_ANSWER):
                hung_up.release()
                return
            self._send(200, _bundle([]))
        elif mode in ("500", "401"):
            self._send(int(mode), {"resourceType": "OperationOutcome", "issue": []})
        elif mode == "garbage":
            self._send(200, b"<html>not json")
        elif mode == "lying-total":
            self._send(200, _bundle([], total=5000))
        elif mode == "endless-paging":
            self._send(200, _bundle([], next_url=self._url()))
        elif mode == "foreign-next":
            self._send(200, _bundle([], next_url="http://169.254.169.254/latest/meta-data"))
        else:
            self._send(200, _bundle([]))

    @classmethod
    def hung_up_on(cls, count: int) -> bool:
        """True once the client has abandoned `count` slow requests (each within SLOW_ANSWER)."""
        return all(cls.hung_up.acquire(timeout=SLOW_ANSWER) for _ in range(count))

    def _client_hangs_up_within(self, seconds: float) -> bool:
        """Wait for the client to close the connection (EOF), at most `seconds`."""
        self.connection.settimeout(seconds)
        try:
            return self.connection.recv(1) == b""
        except OSError:
            return False

    def _url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def _send(self, status: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _bundle(entries: list[Any], total: int | None = None, next_url: str | None = None) -> dict:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if total is not None:
        bundle["total"] = total
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


@pytest.fixture(scope="module")
def faulty() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FaultyFhir)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def app(database_url: str) -> Flask:
    settings = Settings(
        auth="none",
        deadline_seconds=DEADLINE,
        fhir_timeout_seconds=FHIR_TIMEOUT,
        database_url=database_url,
    )
    return create_app(settings)


@pytest.fixture
def seen() -> list[str]:
    """The requests the faulty server receives during one test."""
    FaultyFhir.seen = []
    FaultyFhir.hung_up = threading.Semaphore(0)
    return FaultyFhir.seen


def _call(app: Flask, fhir_url: str) -> tuple[int, Any]:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_url,
        "fhirAuthorization": {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Observation.read",
            "subject": "icaht-cds",
        },
        "context": {"userId": "Practitioner/dr-1", "patientId": "p-1"},
    }
    response = app.test_client().post("/cds-services/icaht-patient-view", json=body)
    return response.status_code, response.get_json()


# what the 412 says for each fault: the fault itself, found and reported (not a generic error)
SAYS = {
    "slow": f"no answer within {FHIR_TIMEOUT:.2f} s",
    "500": "500",
    "401": "401",
    "garbage": "invalid JSON",
    "endless-paging": "paging does not end",
}


# how often one URL may be asked for: once (no retries); an endless paging link is the first
# page's own URL, asked for once more before the repeat is noticed
ASKED_AT_MOST = {"endless-paging": 2}


@pytest.mark.parametrize("mode", list(SAYS))
def test_fhir_fault_gives_412_within_the_deadline(
    app: Flask, faulty: ThreadingHTTPServer, seen: list[str], mode: str
) -> None:
    """cds-hooks_2.0@54: required data unobtainable -> 412 with an OperationOutcome that names
    the fault. The server is asked each URL once (no retries; an endless paging link is noticed
    on its first repeat), and a slow server is hung up on: the service stopped waiting for it."""
    FaultyFhir.mode = mode
    status, body = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    assert status == 412, body
    assert body["resourceType"] == "OperationOutcome"
    assert "Traceback" not in json.dumps(body)
    assert SAYS[mode] in body["issue"][0]["diagnostics"], body
    requested = list(seen)
    assert requested, "the FHIR server was never asked"
    most = max(requested.count(path) for path in requested)
    assert most <= ASKED_AT_MOST.get(mode, 1), f"a request was repeated: {requested}"
    if mode == "slow":  # every slow request was abandoned by the service, none answered
        assert FaultyFhir.hung_up_on(len(requested)), "the service kept waiting for the server"


def test_fhir_server_down_gives_412_at_once(app: Flask) -> None:
    """A refused connection is reported as such, not waited out until the deadline."""
    status, body = _call(app, f"http://127.0.0.1:{free_port()}/fhir")
    assert status == 412
    diagnostics = body["issue"][0]["diagnostics"]
    assert "unreachable" in diagnostics
    assert "deadline" not in diagnostics and "no answer within" not in diagnostics


def test_a_bundle_that_lies_about_total_is_taken_by_its_entries(
    app: Flask, faulty: ThreadingHTTPServer, seen: list[str]
) -> None:
    """`total` is never trusted: no entries -> no CAR-T infusion on record -> no cards, and no
    page is asked for beyond the first (the Bundle has no `next` link)."""
    FaultyFhir.mode = "lying-total"
    status, body = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    assert (status, body) == (200, {"cards": []})
    assert seen and len(seen) == len(set(seen)), seen


def test_a_paging_link_to_another_host_is_not_followed(
    app: Flask, faulty: ThreadingHTTPServer
) -> None:
    FaultyFhir.mode = "foreign-next"
    status, body = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    assert status == 412
    assert "paging link" in body["issue"][0]["diagnostics"]


def test_no_token_or_patient_id_in_error_answers_or_logs(
    app: Flask, faulty: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    FaultyFhir.mode = "500"
    with caplog.at_level(logging.INFO, logger="cds_service"):
        _, body = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    logs = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert '"event": "hook"' in logs
    for secret in (TOKEN, "p-1"):
        assert secret not in json.dumps(body)
        assert secret not in logs
