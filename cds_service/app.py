"""Flask application factory: the transport layer. Routes stay a few lines each.

Everything a route needs lives in `Services` (settings, FHIR client, authenticator, store,
metrics), built once per process by `create_app`; tests pass their own.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask import Flask, Response, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from cds_service import assessment_api, metrics
from cds_service.config import Settings
from cds_service.discovery import SERVICES_BY_ID, HookService, discovery_document
from cds_service.errors import RequestValidationError
from cds_service.fhir_client import FhirClient, FhirTarget
from cds_service.gather import DataUnavailableError
from cds_service.hooks import HookOutcome, HookSettings, handle_hook
from cds_service.http_headers import register_headers
from cds_service.json_provider import OrjsonProvider
from cds_service.logs import HOOK_INSTANCE_ENVIRON, configure_logging, log_event
from cds_service.overrides import concern_of, withheld_audit_records, withhold_overridden
from cds_service.rate_limit import RateLimiter, retry_after
from cds_service.request_body import (
    MAX_FEEDBACK_BODY_BYTES,
    MAX_HOOK_BODY_BYTES,
    BodyTooLargeError,
    read_json,
)
from cds_service.security import AUTH_OFF_WARNING, AuthError
from cds_service.security.jwt_parts import RefusalReason
from cds_service.security.launch_tokens import LaunchTokenVerifier
from cds_service.smart import smart_config, static_file
from cds_service.store import (
    ANONYMOUS_CLIENT,
    AuditRecord,
    CardNotIssuedError,
    Store,
    validate_feedback,
)
from cds_service.tracing import setup_tracing
from cds_service.validation import validate_hook_request
from cds_service.wiring import (
    assessment_rate_limiter,
    jwt_authenticator,
    launch_token_verifier,
    open_store,
)
from fhir_mappings import warm_up
from icaht import RULES_VERSION

log = logging.getLogger("cds_service")


class AuthFailedError(Exception):
    """Authentication failed: one 401 for every reason (WWW-Authenticate: Bearer, a JSON
    OperationOutcome without the reason; decision 0019). `reason` (a RefusalReason value, or
    "other" for an authenticator that gives none) goes to the log and /metrics only."""

    def __init__(self, reason: str = "other") -> None:
        super().__init__(reason)
        self.reason = reason


class ForbiddenFhirServerError(Exception):
    """The request's fhirServer is not one the authenticated client may use."""


class Authenticator(Protocol):
    def authenticate(self, authorization: str | None, audience: str) -> Any: ...


@dataclass
class Services:
    settings: Settings
    fhir: FhirClient
    store: Store
    authenticator: Authenticator | None  # None only with ICAHT_CDS_AUTH=none
    auth_error: type[Exception] = AuthFailedError
    # "now" in a time zone: the evaluation date of every hook call (tests pin it)
    clock: Callable[[ZoneInfo], datetime] = datetime.now
    # the assessment API (finding 8): None only with ICAHT_CDS_ASSESSMENT_AUTH=none
    launch_tokens: LaunchTokenVerifier | None = None
    assessment_limiter: RateLimiter | None = None  # None: ICAHT_CDS_ASSESSMENT_RATE=off


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    configure_logging()
    settings = settings or (services.settings if services else Settings.from_env())
    services = services or default_services(settings)
    warm_up()  # code tables and the UCUM registry, out of the first request's time
    app = Flask(__name__)
    app.json = OrjsonProvider(app)  # JSON answers by orjson (issue 20; json_provider.py)
    app.extensions["icaht"] = services
    if services.authenticator is None:
        log_event("auth_disabled", level=logging.WARNING, warning=_AUTH_OFF)
    if services.launch_tokens is None:
        log_event("assessment_auth_disabled", level=logging.WARNING, warning=ASSESSMENT_AUTH_OFF)
    _register_metrics_listener(app, services.settings)
    _register_routes(app, services)
    _register_smart(app, services)
    register_headers(app, services.settings)
    _register_errors(app)
    # the TracerProvider (None: off, the default), for a flush at shutdown or in tests
    app.extensions["tracing"] = setup_tracing(app, services.store.engine, services.settings.tracing)
    return app


_AUTH_OFF = AUTH_OFF_WARNING
ASSESSMENT_AUTH_OFF = (
    "ICAHT_CDS_ASSESSMENT_AUTH=none: the assessment API takes calls without a SMART launch "
    "token (rate-limited by client address only). Demo and local development only."
)


def default_services(settings: Settings) -> Services:
    fhir = FhirClient(
        per_request_timeout=settings.fhir_timeout_seconds, observer=metrics.observe_fhir_call
    )
    store = open_store(settings)
    launch_tokens = launch_token_verifier(settings)
    limiter = assessment_rate_limiter(settings)
    if settings.auth == "none":
        return Services(
            settings, fhir, store, None, launch_tokens=launch_tokens, assessment_limiter=limiter
        )
    authenticator, error_type = jwt_authenticator(settings, store)
    return Services(
        settings,
        fhir,
        store,
        authenticator,
        error_type,
        launch_tokens=launch_tokens,
        assessment_limiter=limiter,
    )


def _register_routes(app: Flask, services: Services) -> None:
    @app.get("/cds-services")
    def discovery() -> ResponseReturnValue:
        if services.settings.discovery_auth == "jwt":  # "none": EHR set-up tools read it bare
            _authenticate(services, "/cds-services")
        return jsonify(discovery_document())

    @app.post("/cds-services/<service_id>")
    def hook(service_id: str) -> ResponseReturnValue:
        service = SERVICES_BY_ID.get(service_id)
        if service is None:
            return _outcome(404, "not-found", f"no CDS service {service_id!r}")
        client = _authenticate(services, f"/cds-services/{service_id}")
        return _run_hook(services, service, client)

    @app.post("/cds-services/<service_id>/feedback")
    def feedback(service_id: str) -> ResponseReturnValue:
        if service_id not in SERVICES_BY_ID:
            return _outcome(404, "not-found", f"no CDS service {service_id!r}")
        client = _authenticate(services, f"/cds-services/{service_id}/feedback")
        try:
            body = read_json(request, MAX_FEEDBACK_BODY_BYTES)
            records = validate_feedback(body, service_id=service_id, client=_client_id(client))
        except RequestValidationError as error:
            return _outcome(400, "invalid", f"{error.field} {error.message}", error.field)
        try:
            services.store.record_feedback(*records)
        except CardNotIssuedError as error:
            # one client cannot act on another's cards; the request is refused whole (0017)
            log_event("feedback_refused", service=service_id, entries=len(error.indexes))
            return _not_issued(error.indexes)
        log_event("feedback", service=service_id, entries=len(records))
        metrics.count_feedback(service_id, (record.outcome for record in records))
        return app.response_class(status=200)

    # the starter's id for this process, echoed so that `icaht-cds demo` knows its own service
    # answers and not an older one on the same port (no meaning beyond that; unset: left out)
    instance = os.environ.get("ICAHT_CDS_INSTANCE_ID")

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify({"status": "ok", **({"instance": instance} if instance else {})})

    @app.get("/readyz")
    def readyz() -> ResponseReturnValue:
        checks, warnings, schema = readiness(services)
        ready = all(checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if schema is not None:  # which revision, and what to do when "schema" fails (0033)
            body["schema"] = schema
        if warnings:
            body["warnings"] = warnings
        return jsonify(body), 200 if ready else 503

    @app.get("/metrics")
    def metrics_page() -> ResponseReturnValue:
        # behind a bearer token of its own, not the public port's business (decision 0019)
        token = services.settings.metrics_token
        if token is None:
            return _outcome(404, "not-found", "metrics are off (ICAHT_CDS_METRICS_TOKEN)")
        given = (request.headers.get("Authorization") or "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            # logged and counted once, as every refusal: the 401 handler's `refused` event
            raise AuthFailedError(RefusalReason.METRICS_TOKEN)
        payload, content_type = metrics.exposition()
        return app.response_class(payload, mimetype=content_type.split(";")[0])


METRICS_LISTENER_PATHS = ("/metrics", "/healthz")


def _register_metrics_listener(app: Flask, settings: Settings) -> None:
    """With ICAHT_CDS_METRICS_PORT, the listener on that port serves /metrics and /healthz
    only, and the public port answers /metrics with 404: Prometheus scrapes a port that the
    Ingress never routes to (issue 17). The port is the socket's own (gunicorn sets
    SERVER_PORT from the listener's address on TCP, never from the Host header)."""
    port = settings.metrics_port
    if port is None:
        return

    @app.before_request
    def route_by_listener() -> ResponseReturnValue | None:
        on_metrics_port = request.environ.get("SERVER_PORT") == str(port)
        if on_metrics_port and request.path not in METRICS_LISTENER_PATHS:
            return _outcome(404, "not-found", "the metrics port serves /metrics only")
        if not on_metrics_port and request.path == "/metrics":
            return _outcome(404, "not-found", f"metrics are served on port {port}")
        return None


def _register_smart(app: Flask, services: Services) -> None:
    settings = services.settings

    @app.post("/api/v1/assessment")
    def assessment() -> ResponseReturnValue:
        # the launch token and the rate before the body is read (docs/decisions/0009, finding 8)
        token_patient: str | None = None
        if services.launch_tokens is None:
            client = request.remote_addr or "unknown"
        else:
            try:
                identity = services.launch_tokens.verify(request.headers.get("Authorization"))
            except AuthError as error:
                _refused(401, error.reason)
                return _no_store(_unauthorized())
            client, token_patient = identity.rate_key, identity.patient
        limiter = services.assessment_limiter
        wait = limiter.take(client) if limiter is not None else None
        if limiter is not None and wait is not None:
            log_event("assessment", status=429)
            return _throttled(limiter, wait)
        status, body = assessment_api.handle(request, settings, services.clock, token_patient)
        if status == 403:  # the only 403: not the launch token's patient
            _refused(403, RefusalReason.PATIENT_NOT_ALLOWED)
        return _no_store(jsonify(body)), status

    # the SMART app's files and configuration: public, no JWT (the app holds no secret)
    @app.get("/smart/config.json")
    def smart_configuration() -> ResponseReturnValue:
        response = jsonify(smart_config(settings))
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/smart/<path:path>")
    def smart_static(path: str) -> ResponseReturnValue:
        found = static_file(path)
        if found is None:
            return _outcome(404, "not-found", "no such file")
        response = send_file(found[0], mimetype=found[1], etag=True)
        response.headers["Cache-Control"] = "no-cache"  # revalidate: a new release shows at once
        return response


def _unauthorized() -> Response:
    """401 for the assessment API: a JSON body and the Bearer challenge (RFC 6750 section 3),
    no reason beyond "invalid_token" (the reason is in the log)."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "login",
                "diagnostics": "a valid SMART launch id_token is required (Authorization: Bearer)",
            }
        ],
    }
    response = jsonify(body)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="icaht-cds", error="invalid_token"'
    return response


def _throttled(limiter: RateLimiter, wait: float) -> Response:
    text = f"more than {limiter.calls} calls in {limiter.seconds:g} s from this client"
    issue = {"severity": "error", "code": "throttled", "diagnostics": f"rate limit: {text}"}
    response = jsonify({"resourceType": "OperationOutcome", "issue": [issue]})
    response.status_code = 429
    response.headers["Retry-After"] = retry_after(wait)
    return _no_store(response)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # patient data, or an answer about a token
    return response


def readiness(services: Services) -> tuple[dict[str, bool], list[str], str | None]:
    """The checks, the warnings, and where the schema stands (None when the database does not
    answer): the schema is read once per probe."""
    database = services.store.ping()
    status = services.store.schema_status() if database else None
    checks = {
        "config": True,
        "database": database,
        # at or beyond this release's revision: a newer release's additive migration leaves
        # this one working, so a rolling upgrade or a rollback keeps it in service (0033)
        "schema": status is not None and status.ready,
    }
    warnings = [_AUTH_OFF] if services.authenticator is None else []
    if services.launch_tokens is None:
        warnings.append(ASSESSMENT_AUTH_OFF)
    return checks, warnings, None if status is None else status.describe()


def _authenticate(services: Services, path: str) -> Any:
    if services.authenticator is None:
        return None
    try:
        return services.authenticator.authenticate(
            request.headers.get("Authorization"), services.settings.public_url + path
        )
    except services.auth_error as error:
        raise AuthFailedError(str(getattr(error, "reason", "other"))) from error


# the route names a refused call is counted and logged under (hooks: their service id)
_REFUSAL_ROUTES = {
    "discovery": "discovery",
    "feedback": "feedback",
    "assessment": "assessment",
    "metrics_page": "metrics",
}


def _refused(status: int, reason: str) -> None:
    """Log and count a 401/403 with its reason class (closed sets: metrics.count_refused); no
    token, no patient data, no value of the caller's choosing."""
    endpoint = request.endpoint or ""
    if endpoint == "hook":
        route = metrics.service_label(str((request.view_args or {}).get("service_id")))
    else:
        route = _REFUSAL_ROUTES.get(endpoint, metrics.OTHER)
    reason_label = metrics.closed(str(reason), metrics.REFUSAL_REASONS)
    log_event("refused", level=logging.WARNING, route=route, status=status, reason=reason_label)
    metrics.count_refused(route, status, reason_label)


def _run_hook(services: Services, service: HookService, client: Any) -> ResponseReturnValue:
    started = time.perf_counter()
    try:
        body = read_json(request, MAX_HOOK_BODY_BYTES)
        validate_hook_request(service.hook, body)
    except RequestValidationError as error:
        return _outcome(400, "invalid", f"{error.field} {error.message}", error.field)
    assert isinstance(body, dict)
    g.hook_instance = body["hookInstance"]
    request.environ[HOOK_INSTANCE_ENVIRON] = g.hook_instance  # for gunicorn's access line
    target = _fhir_target(services, body, client)
    settings = HookSettings(
        services.settings.timezone,
        services.settings.deadline_seconds,
        services.settings.smart_launch,
        services.settings.rule_options,
    )
    try:
        outcome = handle_hook(service, body, target, services.fhir, settings, now=services.clock)
    except DataUnavailableError as error:
        _log_hook(service, body, None, started, status=412, missing=list(error.keys))
        _count(service, 412, started)
        return _outcome(412, "incomplete", f"required data unavailable: {error}")
    withhold_overridden(  # overridden alert cards stay away until their data change (0007)
        services.store,
        outcome,
        service_id=service.id,
        client=_client_id(client),
        patient_id=str(body["context"]["patientId"]),
        now=services.clock(ZoneInfo(services.settings.timezone)),
        override_days=services.settings.override_days,
    )
    _log_hook(service, body, outcome, started, status=200)
    _count(service, 200, started, outcome)
    _audit(services, service, body, outcome, _client_id(client))
    return jsonify(outcome.response)


def _client_id(client: Any) -> str:
    """Who a card is issued to and whose feedback counts: the JWT issuer (0017)."""
    return ANONYMOUS_CLIENT if client is None else str(client.iss)


def _audit(
    services: Services,
    service: HookService,
    body: dict[str, Any],
    outcome: HookOutcome,
    client: str,
) -> None:
    """One audit row per card shown (or one for a call that showed none), and one per alert
    card withheld because its concern was overridden; each names the client it went to."""
    common = {
        "client": client,
        "hook_instance": body["hookInstance"],
        "service_id": service.id,
        "hook": service.hook,
        "rules_version": RULES_VERSION,
        "patient_id": body["context"]["patientId"],
        "early_grade": _text(outcome.early_grade),
        "late_grade": _text(outcome.late_grade),
        "timings_ms": outcome.timings_ms,
    }
    cards = outcome.response["cards"]
    shown = [
        AuditRecord(
            card_uuid=card.get("uuid"),
            rule_ids=(rule,) if rule else (),
            concern_key=concern_of(card),
            **common,
        )
        for card, rule in zip(cards, outcome.rule_ids, strict=True)
    ] or [AuditRecord(**common)]
    records = shown + withheld_audit_records(outcome, common)
    try:
        services.store.record_audit(*records)
    except SQLAlchemyError as error:
        # the cards still go out: the clinician's information matters more than our log of it
        log_event("audit_failed", level=logging.ERROR, error=type(error).__name__)
        metrics.AUDIT_FAILURES.inc()


def _text(grade: int | None) -> str | None:
    return None if grade is None else str(grade)


def _count(
    service: HookService, status: int, started: float, outcome: HookOutcome | None = None
) -> None:
    metrics.count_hook(service.id, status, time.perf_counter() - started)
    if outcome is not None:
        for key, source in outcome.sources.items():
            metrics.count_prefetch(key, source)
        metrics.CARDS.labels(metrics.service_label(service.id)).inc(len(outcome.response["cards"]))
        metrics.count_cards(service.id, outcome.rule_ids)


def _fhir_target(services: Services, body: dict[str, Any], client: Any) -> FhirTarget | None:
    server = body.get("fhirServer")
    token = (body.get("fhirAuthorization") or {}).get("access_token")
    if server is None:
        # development only: the configured FHIR server stands in for a missing fhirServer
        if services.authenticator is None and services.settings.fhir_url:
            return FhirTarget(services.settings.fhir_url)
        return None
    if client is None:  # ICAHT_CDS_AUTH=none
        return FhirTarget(str(server).rstrip("/"), token)
    allowed = client.allowed_fhir_server(server)
    if allowed is None:
        raise ForbiddenFhirServerError
    return FhirTarget(allowed.rstrip("/"), token)  # the configured spelling, not the caller's


def _log_hook(
    service: HookService,
    body: dict[str, Any],
    outcome: HookOutcome | None,
    started: float,
    **fields: Any,
) -> None:
    # ids, counts and timings only: never patient ids, names or values (DEVELOPERS.md)
    log_event(
        "hook",
        service=service.id,
        hook_instance=body.get("hookInstance"),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        phases_ms=outcome.timings_ms if outcome else None,
        sources=outcome.sources if outcome else None,
        resources=outcome.resources if outcome else None,
        cards=len(outcome.response["cards"]) if outcome else 0,
        observations=outcome.observations if outcome else None,
        left_out=outcome.left_out if outcome else None,
        **fields,
    )


def _outcome(status: int, code: str, text: str, field: str | None = None) -> ResponseReturnValue:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": text}
    if field:
        issue["expression"] = [field]
    return jsonify({"resourceType": "OperationOutcome", "issue": [issue]}), status


def _not_issued(indexes: tuple[int, ...]) -> ResponseReturnValue:
    """400, one issue per refused entry: the same answer for an unknown card and for another
    client's, so that it tells nothing about other clients' cards (docs/decisions/0017)."""
    issues = [
        {
            "severity": "error",
            "code": "not-found",
            "diagnostics": f"feedback[{index}].card was not issued by this service to this client",
            "expression": [f"feedback[{index}].card"],
        }
        for index in indexes
    ]
    return jsonify({"resourceType": "OperationOutcome", "issue": issues}), 400


_UNAUTHORIZED = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication required"}],
}


def _register_errors(app: Flask) -> None:
    @app.errorhandler(AuthFailedError)
    def unauthorized(error: AuthFailedError) -> ResponseReturnValue:
        # the same answer for every reason, no hint for an attacker: the reason is in the log
        _refused(401, error.reason)
        response = jsonify(_UNAUTHORIZED)
        response.status_code = 401
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(BodyTooLargeError)
    def too_large(error: BodyTooLargeError) -> ResponseReturnValue:
        return _outcome(413, "too-costly", str(error))

    @app.errorhandler(ForbiddenFhirServerError)
    def forbidden(error: ForbiddenFhirServerError) -> ResponseReturnValue:
        _refused(403, RefusalReason.FHIR_SERVER_NOT_ALLOWED)
        return _outcome(403, "forbidden", "fhirServer is not allowed for this client")

    @app.errorhandler(SQLAlchemyError)
    def store_down(error: SQLAlchemyError) -> ResponseReturnValue:
        # the replay cache and the feedback store live in the database: without it, no answer
        log_event("store_unavailable", level=logging.ERROR, error=type(error).__name__)
        return _outcome(503, "transient", "the service's database is unavailable")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        return _outcome(error.code or 500, "processing", error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        incident = str(uuid.uuid4())
        log.exception("unexpected error, incident %s", incident)
        return _outcome(500, "exception", f"internal error (incident {incident})")
