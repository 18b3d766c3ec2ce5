"""Prometheus metrics: request counts and latency per hook, prefetch use, FHIR calls.

Under gunicorn every worker is a process: `icaht-cds serve` sets PROMETHEUS_MULTIPROC_DIR
before prometheus_client is imported, and `/metrics` then aggregates all workers. Labels hold
service ids, resource types and outcomes only: no patient data.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)

HOOK_REQUESTS = Counter(
    "icaht_hook_requests_total", "Hook calls by service and HTTP status", ["service", "status"]
)
HOOK_LATENCY = Histogram(
    "icaht_hook_duration_seconds", "Hook call latency", ["service"], buckets=LATENCY_BUCKETS
)
PREFETCH = Counter(
    "icaht_prefetch_total",
    "Prefetch keys by how they were resolved (prefetch hit, fetched, null, failed)",
    ["key", "source"],
)
FHIR_LATENCY = Histogram(
    "icaht_fhir_request_duration_seconds",
    "Requests to FHIR servers by resource type",
    ["resource"],
    buckets=LATENCY_BUCKETS,
)
FHIR_ERRORS = Counter(
    "icaht_fhir_errors_total",
    "Failed FHIR requests by resource type and kind",
    ["resource", "kind"],
)
CARDS = Counter("icaht_cards_total", "Cards returned by service", ["service"])
AUDIT_FAILURES = Counter("icaht_audit_failures_total", "Audit rows that could not be written")
CARDS_WITHHELD = Counter(
    "icaht_cards_withheld_total",
    "Alert cards not shown because the clinician overrode the same concern (decision 0007)",
    ["service"],
)
OVERRIDE_LOOKUP_FAILURES = Counter(
    "icaht_override_lookup_failures_total",
    "Hook calls whose overrides could not be read (store down): every card was shown",
)


def observe_fhir_call(resource: str, seconds: float, outcome: str) -> None:
    FHIR_LATENCY.labels(resource).observe(seconds)
    if outcome != "ok":
        FHIR_ERRORS.labels(resource, outcome).inc()


def exposition() -> tuple[bytes, str]:
    """The metrics page: all gunicorn workers in multiprocess mode, else this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
