"""A failing FHIR server never makes a hook hang past its deadline or answer 500.

The faults come from a real HTTP server on loopback (a small stand-in that misbehaves on
purpose: a real FHIR server cannot be told to be slow or to lie), plus a closed port.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.fhir_server import free_port
from cds_service.logs import JsonFormatter

DEADLINE = 1.0
MARGIN = 0.5  # scheduling slack on a loaded 2-core machine
TOKEN = "secret-access-token-4711"


class FaultyFhir(BaseHTTPRequestHandler):
    mode = "ok"

    def do_GET(self) -> None:
        mode = type(self).mode
        if mode == "slow":
            time.sleep(3)
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
        fhir_timeout_seconds=0.8,
        database_url=database_url,
    )
    return create_app(settings)


def _call(app: Flask, fhir_url: str) -> tuple[int, Any, float]:
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
    started = time.monotonic()
    response = app.test_client().post("/cds-services/icaht-patient-view", json=body)
    return response.status_code, response.get_json(), time.monotonic() - started


@pytest.mark.parametrize("mode", ["slow", "500", "401", "garbage", "endless-paging"])
def test_fhir_fault_gives_412_within_the_deadline(
    app: Flask, faulty: ThreadingHTTPServer, mode: str
) -> None:
    """cds-hooks_2.0@54: required data unobtainable -> 412 with an OperationOutcome."""
    FaultyFhir.mode = mode
    status, body, seconds = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    assert status == 412, body
    assert body["resourceType"] == "OperationOutcome"
    assert "Traceback" not in json.dumps(body)
    assert seconds < DEADLINE + MARGIN


def test_fhir_server_down_gives_412_at_once(app: Flask) -> None:
    status, body, seconds = _call(app, f"http://127.0.0.1:{free_port()}/fhir")
    assert status == 412
    assert "unreachable" in body["issue"][0]["diagnostics"]
    assert seconds < DEADLINE + MARGIN


def test_a_bundle_that_lies_about_total_is_taken_by_its_entries(
    app: Flask, faulty: ThreadingHTTPServer
) -> None:
    """`total` is never trusted: no entries -> no CAR-T infusion on record -> no cards."""
    FaultyFhir.mode = "lying-total"
    status, body, seconds = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    assert (status, body) == (200, {"cards": []})
    assert seconds < DEADLINE + MARGIN


def test_a_paging_link_to_another_host_is_not_followed(
    app: Flask, faulty: ThreadingHTTPServer
) -> None:
    FaultyFhir.mode = "foreign-next"
    status, body, _ = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    assert status == 412
    assert "paging link" in body["issue"][0]["diagnostics"]


def test_no_token_or_patient_id_in_error_answers_or_logs(
    app: Flask, faulty: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    FaultyFhir.mode = "500"
    with caplog.at_level(logging.INFO, logger="cds_service"):
        _, body, _ = _call(app, f"http://127.0.0.1:{faulty.server_address[1]}/fhir")
    logs = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert '"event": "hook"' in logs
    for secret in (TOKEN, "p-1"):
        assert secret not in json.dumps(body)
        assert secret not in logs
