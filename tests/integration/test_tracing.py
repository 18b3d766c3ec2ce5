"""OpenTelemetry traces of a hook call (ICAHT_CDS_TRACING, the `otel` extra; issue 17,
docs/decisions/0034): Flask, requests and SQLAlchemy spans in one trace, and no query string
and no patient id in any exported span, also when a FHIR request fails (requests puts the URL
in its error). The exporter is the SDK's in-memory one behind the service's ScrubbingExporter;
the FHIR server is a real listener on loopback (fhir_listener.FhirListener)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fhir_listener import FhirListener
from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cds_service.app import Services, create_app
from cds_service.fhir_client import FhirClient
from cds_service.settings import Settings
from cds_service.store import Store
from cds_service.tracing import URL_ATTRIBUTES, setup_tracing
from icaht_demo.fhir_server import free_port

PATIENT_ID = "Trace-Patient-4711"


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[Flask, InMemorySpanExporter]]:
    settings = Settings(auth="none", database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store = Store(settings.database_url)
    store.migrate()
    app = create_app(settings, Services(settings, FhirClient(per_request_timeout=5), store, None))
    exporter = InMemorySpanExporter()
    assert setup_tracing(app, store.engine, "off", exporter=exporter)
    yield app, exporter
    FlaskInstrumentor.uninstrument_app(app)
    RequestsInstrumentor().uninstrument()
    SQLAlchemyInstrumentor().uninstrument()
    store.close()


def hook_call(app: Flask, fhir_server: str) -> int:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "context": {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID},
    }
    return app.test_client().post("/cds-services/icaht-patient-view?trace=1", json=body).status_code


def exported(exporter: InMemorySpanExporter) -> list[Any]:
    spans = list(exporter.get_finished_spans())
    for span in spans:
        text = span.to_json()
        assert PATIENT_ID not in text and PATIENT_ID.lower() not in text.lower()
        for key, value in (span.attributes or {}).items():
            assert key != "url.query"
            if key in URL_ATTRIBUTES or key in ("http.target", "url.path"):
                assert "?" not in str(value), (key, value)
        for event in span.events:
            assert "exception.message" not in (event.attributes or {})
        assert span.status.description is None
    return spans


def test_a_hook_call_is_one_trace_without_patient_ids(
    traced: tuple[Flask, InMemorySpanExporter], listener: FhirListener
) -> None:
    app, exporter = traced
    assert hook_call(app, listener.base) == 200
    asked = " ".join(listener.paths)
    assert PATIENT_ID in asked and "?" in asked  # the FHIR server saw the id and the queries
    spans = exported(exporter)
    server = [span for span in spans if span.kind == SpanKind.SERVER]
    clients = [span for span in spans if span.kind == SpanKind.CLIENT]
    assert len(server) == 1
    assert server[0].attributes.get("http.route") == "/cds-services/<service_id>"
    # one span per FHIR request, each from the FHIR pool threads, all in the hook call's trace
    http_clients = [
        span for span in clients if span.instrumentation_scope.name.endswith("requests")
    ]
    assert len(http_clients) == len(listener.paths)
    sql = [span for span in clients if span.instrumentation_scope.name.endswith("sqlalchemy")]
    assert sql, "no SQLAlchemy span (audit rows are written in every hook call)"
    trace_ids = {span.context.trace_id for span in (*http_clients, *sql)}
    assert trace_ids == {server[0].context.trace_id}
    origins = {
        span.attributes.get("url.full") or span.attributes.get("http.url") for span in http_clients
    }
    assert origins == {listener.base.rsplit("/fhir", 1)[0]}  # the server's origin only


def test_a_failed_fhir_request_leaves_no_url_in_the_error(
    traced: tuple[Flask, InMemorySpanExporter],
) -> None:
    app, exporter = traced
    closed = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens: connection refused
    hook_call(app, closed)
    spans = exported(exporter)
    failed = [span for span in spans if span.kind == SpanKind.CLIENT and span.events]
    assert failed, "the refused connections were not traced as errors"
    types = {event.attributes.get("exception.type") for span in failed for event in span.events}
    assert any("ConnectionError" in str(name) for name in types)
    assert all(json.loads(span.to_json())["status"]["status_code"] == "ERROR" for span in failed)


class Collector:
    """An OTLP/HTTP trace receiver on loopback: keeps the protobuf bodies it is sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                collector.bodies.append(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"


def test_otlp_mode_sends_scrubbed_spans_to_the_collector(
    tmp_path: Path, listener: FhirListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ICAHT_CDS_TRACING=otlp as a site sets it: the standard variables name the collector."""
    collector = Collector()
    threading.Thread(target=collector.server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "icaht-cds-test")
    monkeypatch.setenv("ICAHT_CDS_TRACING", "otlp")
    monkeypatch.setenv("ICAHT_CDS_AUTH", "none")
    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    settings = Settings.from_env()
    assert settings.tracing == "otlp"
    app = create_app(settings)
    services: Services = app.extensions["icaht"]
    try:
        assert hook_call(app, listener.base) == 200
        assert app.extensions["tracing"].force_flush()  # BatchSpanProcessor: send now
    finally:
        FlaskInstrumentor.uninstrument_app(app)
        RequestsInstrumentor().uninstrument()
        SQLAlchemyInstrumentor().uninstrument()
        services.store.close()
        collector.server.shutdown()
        collector.server.server_close()
    assert collector.bodies, "nothing reached the collector"
    spans = []
    for body in collector.bodies:
        assert PATIENT_ID.encode() not in body
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            names = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert names["service.name"] == "icaht-cds-test"
            spans += [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert {span.kind for span in spans} >= {2, 3}  # SERVER and CLIENT (protobuf enum values)
    for span in spans:
        for attribute in span.attributes:
            if attribute.key in URL_ATTRIBUTES or attribute.key == "http.target":
                assert "?" not in attribute.value.string_value
