"""Optional OpenTelemetry traces of Flask, requests and SQLAlchemy (docs/decisions/0034).

ICAHT_CDS_TRACING: "off" (default), "console" (spans as JSON on stdout) or "otlp" (the OTLP/HTTP
exporter, configured by the standard OTEL_EXPORTER_OTLP_* variables; OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES name the service). The packages come with the `otel` extra
(`pip install 'icaht-cds[otel]'`); tracing on without them is a configuration error.

Nothing that can carry a patient id leaves in a span (ScrubbingExporter, in front of every
exporter): URLs lose their query string (FHIR searches carry `patient=`), outgoing calls keep
only the server's origin (FHIR read paths and paging links carry patient ids: Patient/{id}),
`url.query` is dropped, and error descriptions and exception messages (requests puts the URL
in them) are reduced to the exception type. SQL statements are traced with their placeholders,
never their values (the instrumentation records no parameters).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from cds_service.settings import SettingsError

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.engine import Engine

# health probes and the Prometheus scrape would be most of the spans and tell nothing
EXCLUDED_URLS = "healthz,readyz,metrics"
# attributes holding a whole URL, and those holding a path with its query (old and new names)
URL_ATTRIBUTES = frozenset({"http.url", "url.full"})
PATH_ATTRIBUTES = frozenset({"http.target", "url.path"})
DROPPED_ATTRIBUTES = frozenset({"url.query", "exception.message", "exception.stacktrace"})


def setup_tracing(
    app: Flask, engine: Engine, mode: str, *, exporter: SpanExporter | None = None
) -> Any:
    """Instrument `app`, requests and `engine` when `mode` is "console" or "otlp" (or an
    `exporter` is given: tests); the TracerProvider, or None when tracing is off."""
    if mode == "off" and exporter is None:
        return None
    try:
        from opentelemetry import trace  # noqa: PLC0415 (optional: the `otel` extra)
        from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: PLC0415
        from opentelemetry.instrumentation.requests import RequestsInstrumentor  # noqa: PLC0415
        from opentelemetry.instrumentation.sqlalchemy import (  # noqa: PLC0415
            SQLAlchemyInstrumentor,
        )
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )
    except ImportError as error:
        raise SettingsError(
            f"ICAHT_CDS_TRACING={mode} needs the OpenTelemetry packages: "
            f"pip install 'icaht-cds[otel]' ({error.name} is missing)"
        ) from error
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "icaht-cds")})
    provider = TracerProvider(resource=resource)
    scrubbed = ScrubbingExporter(exporter or _exporter(mode))
    # a test's exporter sees each span when it ends; a real one gets them in batches
    processor = SimpleSpanProcessor(scrubbed) if exporter else BatchSpanProcessor(scrubbed)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)  # the first one set in a process stays
    FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call,unused-ignore]
        app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS
    )
    requests_instrumentor = RequestsInstrumentor()
    if not requests_instrumentor.is_instrumented_by_opentelemetry:
        requests_instrumentor.instrument(tracer_provider=provider)
    # the instrumentation declares SQLAlchemy < 2.1 and would silently do nothing with our
    # 2.1: its check is skipped, and tests/integration/test_tracing.py shows the spans come
    SQLAlchemyInstrumentor().instrument(
        engine=engine, tracer_provider=provider, skip_dep_check=True
    )
    return provider


def _exporter(mode: str) -> SpanExporter:
    if mode == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    return OTLPSpanExporter()


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def origin_only(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host  # no user:password either
    return urlunsplit((parts.scheme, netloc, "", "", ""))


_OMIT = object()


def scrub_attributes(attributes: Mapping[str, Any] | None, *, client: bool) -> dict[str, Any]:
    """A span's (or event's) attributes without query strings, and for an outgoing call
    without the URL's path (`client`: FHIR paths hold patient ids)."""
    clean = {key: _scrubbed(key, value, client) for key, value in (attributes or {}).items()}
    return {key: value for key, value in clean.items() if value is not _OMIT}


def _scrubbed(key: str, value: Any, client: bool) -> Any:
    if key in DROPPED_ATTRIBUTES:
        return _OMIT
    if not isinstance(value, str):
        return value
    if key in URL_ATTRIBUTES:
        return origin_only(value) if client else without_query(value)
    if key in PATH_ATTRIBUTES:
        return _OMIT if client else value.split("?", 1)[0]
    return value


try:  # the exporter wrapper needs the SDK; without it setup_tracing refuses (above)
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind, Status

    class ScrubbingExporter(SpanExporter):  # type: ignore[misc,unused-ignore]
        """Exports copies of the spans with every patient-bearing value taken out."""

        def __init__(self, inner: SpanExporter) -> None:
            self._inner = inner

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return self._inner.export([scrub_span(span) for span in spans])

        def shutdown(self) -> None:
            self._inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(self._inner.force_flush(timeout_millis))

    def scrub_span(span: ReadableSpan) -> ReadableSpan:
        client = span.kind == SpanKind.CLIENT
        events = [
            Event(event.name, scrub_attributes(event.attributes, client=client), event.timestamp)
            for event in span.events
        ]
        # an error's description is the exception's text (requests puts the URL in it)
        status = Status(span.status.status_code)
        return ReadableSpan(
            name=span.name.split("?", 1)[0],
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=scrub_attributes(span.attributes, client=client),
            events=events,
            links=span.links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

except ImportError:  # pragma: no cover - the `otel` extra is not installed
    pass
