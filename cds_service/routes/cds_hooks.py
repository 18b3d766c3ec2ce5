"""CDS Hooks 2.0: discovery, the hook services and their feedback.

A hook call: the route reads the call's inputs once (`read_call`), runs the pipeline
(cds_service/hooks.py `run_hook`), and at the edge turns its result into JSON, the log line,
the metrics and the audit rows; the store is read once for the overridden concerns (only when
an alert card is shown) and written once for the audit.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from cds_service import metrics
from cds_service.discovery import SERVICES_BY_ID, HookService, discovery_document
from cds_service.errors import (
    CardsNotIssuedError,
    DataUnavailableError,
    ForbiddenError,
    NotFoundError,
)
from cds_service.fhir_client import FhirTarget
from cds_service.hooks import HookCall, HookFacts, HookResult, HookSettings, run_hook
from cds_service.logs import HOOK_INSTANCE_ENVIRON, log_event
from cds_service.overrides import overridden_concerns
from cds_service.request_body import MAX_FEEDBACK_BODY_BYTES, MAX_HOOK_BODY_BYTES, read_json
from cds_service.routes import authenticate, client_id, services
from cds_service.security.jwt_parts import RefusalReason
from cds_service.store import CardNotIssuedError, validate_feedback
from cds_service.validation import validate_hook_request
from cds_service.wiring import Services

cds_hooks = Blueprint("cds_hooks", __name__)


@cds_hooks.get("/cds-services")
def discovery() -> ResponseReturnValue:
    found = services()
    if found.settings.discovery_auth == "jwt":  # "none": EHR set-up tools read it bare
        authenticate(found, "/cds-services")
    return jsonify(discovery_document())


@cds_hooks.post("/cds-services/<service_id>")
def hook(service_id: str) -> ResponseReturnValue:
    found, service = services(), hook_service(service_id)
    client = authenticate(found, f"/cds-services/{service_id}")
    started = time.perf_counter()
    call = read_call(found, service, client)
    settings = found.settings

    def overridden() -> frozenset[str]:
        return overridden_concerns(
            found.store,
            service_id=service.id,
            client=call.client,
            patient_id=call.patient_id,
            now=call.now,
            override_days=settings.override_days,
        )

    try:
        result = run_hook(call, found.fhir, hook_settings(found), overridden)
    except DataUnavailableError as error:
        _log_hook(call, None, 0, started, status=412, missing=list(error.keys))
        metrics.count_hook(service.id, 412, time.perf_counter() - started)
        raise
    record(found, call, result, started)
    return jsonify(result.response())


@cds_hooks.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> ResponseReturnValue:
    found = services()
    hook_service(service_id)
    client = authenticate(found, f"/cds-services/{service_id}/feedback")
    body = read_json(request, MAX_FEEDBACK_BODY_BYTES)
    records = validate_feedback(body, service_id=service_id, client=client_id(client))
    try:
        found.store.record_feedback(*records)
    except CardNotIssuedError as error:
        # one client cannot act on another's cards; the request is refused whole (0017)
        log_event("feedback_refused", service=service_id, entries=len(error.indexes))
        raise CardsNotIssuedError(error.indexes) from error
    log_event("feedback", service=service_id, entries=len(records))
    metrics.count_feedback(service_id, (record.outcome for record in records))
    return current_app.response_class(status=200)


def hook_service(service_id: str) -> HookService:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise NotFoundError(f"no CDS service {service_id!r}")
    return service


def hook_settings(found: Services) -> HookSettings:
    settings = found.settings
    return HookSettings(
        settings.timezone, settings.deadline_seconds, settings.smart_launch, settings.rule_settings
    )


def read_call(found: Services, service: HookService, client: Any) -> HookCall:
    """The call's inputs, read once: the validated body, its patient and hookInstance, the
    clock, the client and the FHIR server to fetch from."""
    body = read_json(request, MAX_HOOK_BODY_BYTES)
    validate_hook_request(service.hook, body)
    assert isinstance(body, dict)
    hook_instance = str(body["hookInstance"])
    g.hook_instance = hook_instance
    request.environ[HOOK_INSTANCE_ENVIRON] = hook_instance  # for gunicorn's access line
    target = _fhir_target(found, body, client)
    return HookCall(
        service=service,
        body=body,
        patient_id=str(body["context"]["patientId"]),
        hook_instance=hook_instance,
        now=found.clock(ZoneInfo(found.settings.timezone)),
        client=client_id(client),
        target=target,
    )


def _fhir_target(found: Services, body: dict[str, Any], client: Any) -> FhirTarget | None:
    server = body.get("fhirServer")
    token = (body.get("fhirAuthorization") or {}).get("access_token")
    if server is None:
        # development only: the configured FHIR server stands in for a missing fhirServer
        if found.authenticator is None and found.settings.fhir_url:
            return FhirTarget(found.settings.fhir_url)
        return None
    if client is None:  # ICAHT_CDS_AUTH=none
        return FhirTarget(str(server).rstrip("/"), token)
    allowed = client.allowed_fhir_server(server)
    if allowed is None:
        raise ForbiddenError(
            RefusalReason.FHIR_SERVER_NOT_ALLOWED, "fhirServer is not allowed for this client"
        )
    return FhirTarget(allowed.rstrip("/"), token)  # the configured spelling, not the caller's


def record(found: Services, call: HookCall, result: HookResult, started: float) -> None:
    """The call's log lines, metrics and audit rows."""
    service_id = call.service.id
    if result.withheld:
        # a count only: which rules and patients stay in the audit table (hashed patient id)
        metrics.CARDS_WITHHELD.labels(service_id).inc(len(result.withheld))
        log_event("cards_withheld", service=service_id, cards=len(result.withheld))
    _log_hook(call, result.facts, len(result.cards), started, status=200)
    metrics.count_hook(service_id, 200, time.perf_counter() - started)
    for key, source in result.facts.sources.items():
        metrics.count_prefetch(key, source)
    metrics.CARDS.labels(metrics.service_label(service_id)).inc(len(result.cards))
    metrics.count_cards(service_id, result.rule_ids)
    try:
        found.store.record_audit(*result.audit)
    except SQLAlchemyError as error:
        # the cards still go out: the clinician's information matters more than our log of it
        log_event("audit_failed", level=logging.ERROR, error=type(error).__name__)
        metrics.AUDIT_FAILURES.inc()


def _log_hook(
    call: HookCall, facts: HookFacts | None, cards: int, started: float, **fields: Any
) -> None:
    # ids, counts and timings only: never patient ids, names or values (no patient data in logs:
    # docs/design.md §1)
    log_event(
        "hook",
        service=call.service.id,
        hook_instance=call.hook_instance,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        phases_ms=dict(facts.timings_ms) if facts else None,
        sources=dict(facts.sources) if facts else None,
        resources=dict(facts.resources) if facts else None,
        cards=cards,
        observations=facts.observations if facts else None,
        left_out=facts.left_out if facts else None,
        **fields,
    )
