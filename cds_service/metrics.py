"""Prometheus metrics: request counts and latency per hook, prefetch use, FHIR calls.

Under gunicorn every worker is a process: `icaht-cds serve` sets PROMETHEUS_MULTIPROC_DIR
before prometheus_client is imported, and `/metrics` then aggregates all workers.

Every label value comes from a closed set, so nothing a caller or a FHIR server sends (a patient
id in a URL path, a crafted paging link) can become a label: resource types are those of the
discovery document's prefetch templates (else "other"), results "ok" or a FhirError class name
(else "other"), services the ids of SERVICES_BY_ID (else "other"). Refused calls (401, 403) are
counted under the route they were refused on: a service id, or one of REFUSAL_ROUTES
(discovery, feedback, assessment, metrics), and their reason class (RefusalReason). Cards are
also counted per rule (the catalogue's ids, "status" for the status card) and feedback per
outcome (accepted, overridden): the governance view of `icaht-cds report`, live. `/metrics`
itself needs ICAHT_CDS_METRICS_TOKEN (docs/decisions/0019).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from cds_service.discovery import PREFETCH as PREFETCH_TEMPLATES
from cds_service.discovery import RESOURCE_TYPES, SERVICES_BY_ID
from cds_service.fhir_client import FhirError
from cds_service.gather import Source
from cds_service.security.jwt_parts import RefusalReason
from cds_service.store.records import OUTCOMES as FEEDBACK_OUTCOMES
from icaht.rules import RULES_BY_ID

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
CARDS_BY_RULE = Counter(
    "icaht_cards_by_rule_total",
    "Cards shown by service and rule id (the catalogue's ids, 'status' for the status card)",
    ["service", "rule"],
)
FEEDBACK = Counter(
    "icaht_feedback_total",
    "Feedback entries stored, by service and outcome (accepted, overridden)",
    ["service", "outcome"],
)
AUTH_REFUSED = Counter(
    "icaht_auth_refused_total",
    "Calls refused with 401 or 403, by route (service id, discovery, feedback, assessment, "
    "metrics) and reason class",
    ["service", "reason"],
)


OTHER = "other"  # the label of any value outside its closed set


def _subclass_names(root: type[Exception]) -> frozenset[str]:
    names, pending = {root.__name__}, [root]
    while pending:
        subclass: type[Exception]
        for subclass in pending.pop().__subclasses__():
            names.add(subclass.__name__)
            pending.append(subclass)
    return frozenset(names)


FHIR_RESULTS = frozenset({"ok"}) | _subclass_names(FhirError)
PREFETCH_KEYS = frozenset(template.key for template in PREFETCH_TEMPLATES)
PREFETCH_SOURCES = frozenset(get_args(Source))
HTTP_STATUSES = frozenset(str(status) for status in range(100, 600))
# the routes a call can be refused on besides the hooks (a feedback call counts as "feedback",
# not as its service's hook call)
REFUSAL_ROUTES = frozenset({"discovery", "feedback", "assessment", "metrics"})
REFUSAL_REASONS = frozenset(reason.value for reason in RefusalReason)
STATUS_CARD = "status"  # the rule label of the status card (no rule of its own)
RULE_LABELS = frozenset(RULES_BY_ID) | {STATUS_CARD}


def closed(value: object, allowed: Iterable[str]) -> str:
    """`value` when it is one of `allowed`, else "other"."""
    return value if isinstance(value, str) and value in allowed else OTHER


def service_label(service_id: str) -> str:
    return closed(service_id, SERVICES_BY_ID)


def observe_fhir_call(resource: str, seconds: float, result: str) -> None:
    resource_label = closed(resource, RESOURCE_TYPES)
    FHIR_LATENCY.labels(resource_label).observe(seconds)
    if result != "ok":
        FHIR_ERRORS.labels(resource_label, closed(result, FHIR_RESULTS)).inc()


def count_hook(service_id: str, status: int, seconds: float) -> None:
    HOOK_REQUESTS.labels(service_label(service_id), closed(str(status), HTTP_STATUSES)).inc()
    HOOK_LATENCY.labels(service_label(service_id)).observe(seconds)


def count_refused(route: str, status: int, reason: str) -> None:
    """A refused call (401/403): in icaht_hook_requests_total by route and status, and in
    icaht_auth_refused_total by route and reason class; every label from its closed set."""
    route_label = closed(route, REFUSAL_ROUTES | SERVICES_BY_ID.keys())
    HOOK_REQUESTS.labels(route_label, closed(str(status), HTTP_STATUSES)).inc()
    AUTH_REFUSED.labels(route_label, closed(reason, REFUSAL_REASONS)).inc()


def rule_label(rule_id: str) -> str:
    """A catalogue rule id, "status" for the status card (""), else "other"."""
    return closed(rule_id or STATUS_CARD, RULE_LABELS)


def count_cards(service_id: str, rule_ids: Iterable[str]) -> None:
    """The cards of one hook answer, one per rule id (as shown, after withholding)."""
    for rule_id in rule_ids:
        CARDS_BY_RULE.labels(service_label(service_id), rule_label(rule_id)).inc()


def count_feedback(service_id: str, outcomes: Iterable[str]) -> None:
    for outcome in outcomes:
        FEEDBACK.labels(service_label(service_id), closed(outcome, FEEDBACK_OUTCOMES)).inc()


def count_prefetch(key: str, source: str) -> None:
    PREFETCH.labels(closed(key, PREFETCH_KEYS), closed(source, PREFETCH_SOURCES)).inc()


def exposition() -> tuple[bytes, str]:
    """The metrics page: all gunicorn workers in multiprocess mode, else this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
