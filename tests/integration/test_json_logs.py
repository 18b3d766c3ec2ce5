"""Every log line is JSON with a UTC timestamp in milliseconds: the app's, and gunicorn's own
error and access lines (its logging configured from gunicorn_conf.logconfig_dict); lines logged
while a hook call is handled carry its hookInstance, also from the FHIR client's pool threads
(issue 17, docs/decisions/0034). Access lines carry the path without its query string."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from fhir_listener import FhirListener
from served import ServedProcess
from test_override_feedback import PATIENT as HOOK_PATIENT
from test_override_feedback import SERVICE, hook_request

from cds_service import gunicorn_conf
from cds_service.app import Services, create_app
from cds_service.fhir_client import FhirClient
from cds_service.logs import JsonFormatter, json_handler, log_event, utc_timestamp
from cds_service.settings import Settings
from cds_service.store import Store

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PATIENT_ID = "log-patient-4711"


def test_an_app_line_is_json_with_utc_milliseconds() -> None:
    created = datetime(2026, 12, 5, 6, 30, 0, 123000, tzinfo=UTC).timestamp()
    assert utc_timestamp(created) == "2026-12-05T06:30:00.123Z"
    assert utc_timestamp(created + 0.8769) == "2026-12-05T06:30:01.000Z"  # rounded, carried
    record = logging.LogRecord("cds_service.events", logging.INFO, "x.py", 1, "hook", None, None)
    record.created = created
    record.event = "hook"  # type: ignore[attr-defined]
    record.fields = {"service": "icaht-patient-view", "cards": 2}  # type: ignore[attr-defined]
    assert json.loads(JsonFormatter().format(record)) == {
        "ts": "2026-12-05T06:30:00.123Z",
        "level": "info",
        "logger": "cds_service.events",
        "event": "hook",
        "service": "icaht-patient-view",
        "cards": 2,
    }


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """gunicorn's dictConfig changes process-wide loggers: put them back for the next tests."""
    names = ("", "gunicorn.error", "gunicorn.access", "cds_service")
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate, lg.filters[:])
        for name in names
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.filters[:] = filters


def test_gunicorn_error_lines_use_the_app_format(
    logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from gunicorn.config import Config  # noqa: PLC0415
    from gunicorn.glogging import Logger  # noqa: PLC0415

    config = Config()
    config.set("logconfig_dict", gunicorn_conf.logconfig_dict)
    logger = Logger(config)  # what the gunicorn master does with the settings module
    logger.info("Booting worker with pid: %s", 4242)
    logger.error("Worker (pid:%s) was sent SIGKILL!", 4243)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("info", "gunicorn.error", "Booting worker with pid: 4242"),
        ("error", "gunicorn.error", "Worker (pid:4243) was sent SIGKILL!"),
    ]
    assert all(TIMESTAMP.match(line["ts"]) for line in lines)


def test_gunicorn_access_and_error_lines_of_a_running_server(tmp_path: Path) -> None:
    """The real thing: `icaht-cds serve` (gunicorn with the project's settings)."""
    server = ServedProcess(tmp_path, workers=1)
    server.start(tmp_path / "store.sqlite3")
    try:
        assert server.wait_ready(), server.log()[-3000:]
        query = f"patient={PATIENT_ID}&_count=5"
        answer = requests.get(f"{server.url}/smart/config.json?{query}", timeout=10)
        assert answer.status_code == 200
        hook = hook_request(50)
        called = requests.post(f"{server.url}/cds-services/{SERVICE}", json=hook, timeout=30)
        assert called.status_code == 200
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert all(TIMESTAMP.match(line["ts"]) for line in lines)
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "cds_service.events"} <= loggers
    (access,) = [
        line
        for line in lines
        if line["logger"] == "gunicorn.access" and line["path"] == "/smart/config.json"
    ]
    assert access["event"] == "access" and access["method"] == "GET"
    assert access["status"] == 200 and access["duration_ms"] >= 0
    assert PATIENT_ID not in server.log()  # the query string is never logged
    assert "hook_instance" not in access
    (hook_access,) = [line for line in lines if line.get("path") == f"/cds-services/{SERVICE}"]
    assert hook_access["logger"] == "gunicorn.access"
    assert hook_access["hook_instance"] == hook["hookInstance"]
    hook_lines = [line for line in lines if line.get("event") == "hook"]
    assert [line["hook_instance"] for line in hook_lines] == [hook["hookInstance"]]
    assert HOOK_PATIENT not in server.log()


# ---------------------------------------------------------------- hook instance on every line


def test_lines_logged_during_a_hook_call_carry_its_hook_instance(
    tmp_path: Path, listener: FhirListener
) -> None:
    pool_logger = logging.getLogger("cds_service.test_pool")

    def observe(resource: str, seconds: float, outcome: str) -> None:
        # called in the FHIR client's pool threads, for each FHIR request of the hook call
        pool_logger.info("fhir request done")

    settings = Settings(auth="none", database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store = Store(settings.database_url)
    store.migrate()
    services = Services(settings, FhirClient(observer=observe), store, None)
    app = create_app(settings, services)
    stream = io.StringIO()
    handler = json_handler(stream)
    logger = logging.getLogger("cds_service")
    logger.addHandler(handler)
    try:
        log_event("before")
        instance = str(uuid.uuid4())
        body: dict[str, Any] = {
            "hook": "patient-view",
            "hookInstance": instance,
            "fhirServer": listener.base,
            "context": {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID},
        }
        response = app.test_client().post("/cds-services/icaht-patient-view", json=body)
        assert response.status_code == 200
        log_event("after")
    finally:
        logger.removeHandler(handler)
        store.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    during = lines[1:-1]
    assert [lines[0]["event"], lines[-1]["event"]] == ["before", "after"]
    assert "hook_instance" not in lines[0] and "hook_instance" not in lines[-1]
    pool_lines = [line for line in during if line.get("message") == "fhir request done"]
    assert len(pool_lines) == len(listener.paths) > 0  # one per FHIR request, from the pool
    assert any(line.get("event") == "hook" for line in during)
    assert [line.get("hook_instance") for line in during] == [instance] * len(during)
    assert PATIENT_ID not in stream.getvalue()
