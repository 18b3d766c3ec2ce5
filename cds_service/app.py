"""Flask application factory: the transport layer.

Everything a route needs lives in `Services` (cds_service/wiring.py: settings, FHIR client,
authenticator, store, metrics), built once per process by `create_app`; tests pass their own.
The routes are Blueprints (cds_service/routes/); every error they raise is answered here, by
one handler that writes the OperationOutcome.
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from cds_service.errors import (
    AuthFailedError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
    StoreUnavailableError,
)
from cds_service.http_headers import register_headers
from cds_service.json_provider import OrjsonProvider
from cds_service.logs import configure_logging, log_event
from cds_service.routes import refused
from cds_service.routes.cds_hooks import cds_hooks
from cds_service.routes.operations import operations
from cds_service.routes.smart_api import smart_api
from cds_service.security import AUTH_OFF_WARNING
from cds_service.settings import Settings
from cds_service.tracing import setup_tracing
from cds_service.wiring import ASSESSMENT_AUTH_OFF, Services, default_services
from fhir_mappings import warm_up

log = logging.getLogger("cds_service")
# re-exported for the callers that build the application: `Services`, `default_services`
__all__ = ["ASSESSMENT_AUTH_OFF", "Services", "create_app", "default_services"]
METRICS_LISTENER_PATHS = ("/metrics", "/healthz")


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    configure_logging()
    settings = settings or (services.settings if services else Settings.from_env())
    services = services or default_services(settings)
    warm_up()  # code tables and the UCUM registry, out of the first request's time
    app = Flask(__name__)
    app.json = OrjsonProvider(app)  # JSON answers by orjson (issue 20; json_provider.py)
    app.extensions["icaht"] = services
    if services.authenticator is None:
        log_event("auth_disabled", level=logging.WARNING, warning=AUTH_OFF_WARNING)
    if services.launch_tokens is None:
        log_event("assessment_auth_disabled", level=logging.WARNING, warning=ASSESSMENT_AUTH_OFF)
    _route_by_listener(app, services.settings)
    app.register_blueprint(cds_hooks)
    app.register_blueprint(operations)
    app.register_blueprint(smart_api)
    register_headers(app, services.settings)
    app.register_error_handler(Exception, answer_error)
    _claims_to_disk_before_answers(app, services)
    # the TracerProvider (None: off, the default), for a flush at shutdown or in tests
    app.extensions["tracing"] = setup_tracing(app, services.store.engine, services.settings.tracing)
    return app


def _claims_to_disk_before_answers(app: Flask, services: Services) -> None:
    """No answer leaves while the replay claim of its token could still be lost to a power
    cut: the claim is committed without its own fsync, and the audit or feedback commit usually
    covers it; for every other answer (discovery, a refused body, a call without cards) this
    syncs the WAL first (Store.claims_to_disk; decision 0035, third amendment). Registered
    after the security headers, so it runs before them (Flask runs these in reverse): a 503
    in its place gets them too."""

    @app.after_request
    def claims_to_disk(response: Response) -> Response:
        try:
            services.store.claims_to_disk()
        except OSError as error:
            # what a failed fsync of the claim's own commit would have given: no answer
            log_event("store_unavailable", level=logging.ERROR, error=type(error).__name__)
            return app.make_response(answer_error(StoreUnavailableError()))
        return response


def _route_by_listener(app: Flask, settings: Settings) -> None:
    """With ICAHT_CDS_METRICS_PORT, the listener on that port serves /metrics and /healthz
    only, and the public port answers /metrics with 404: Prometheus scrapes a port that the
    Ingress never routes to (issue 17). The port is the socket's own (gunicorn sets
    SERVER_PORT from the listener's address on TCP, never from the Host header)."""
    port = settings.metrics_port
    if port is None:
        return

    @app.before_request
    def route_by_listener() -> None:
        on_metrics_port = request.environ.get("SERVER_PORT") == str(port)
        if on_metrics_port and request.path not in METRICS_LISTENER_PATHS:
            raise NotFoundError("the metrics port serves /metrics only")
        if not on_metrics_port and request.path == "/metrics":
            raise NotFoundError(f"metrics are served on port {port}")


def answer_error(error: Exception) -> ResponseReturnValue:
    """The one error handler: an OperationOutcome with the error's status and headers; a
    refusal (401, 403) is logged and counted with its reason; anything unexpected is a 500 with
    an incident id (the traceback goes to the log only)."""
    if isinstance(error, SQLAlchemyError):
        # the replay cache and the feedback store live in the database: without it, no answer
        log_event("store_unavailable", level=logging.ERROR, error=type(error).__name__)
        error = StoreUnavailableError()
    if isinstance(error, HTTPException):
        return _operation_outcome_response(error.code or 500, "processing", error.name)
    if not isinstance(error, ServiceError):
        incident = str(uuid.uuid4())
        log.exception("unexpected error, incident %s", incident, exc_info=error)
        return _operation_outcome_response(
            500, "exception", f"internal error (incident {incident})"
        )
    if isinstance(error, AuthFailedError | ForbiddenError):
        # the same answer for every reason, no hint for an attacker: the reason is in the log
        refused(error.status, error.reason)
    response = jsonify(error.operation_outcome())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _operation_outcome_response(status: int, code: str, text: str) -> Response:
    issue = {"severity": "error", "code": code, "diagnostics": text}
    response = jsonify({"resourceType": "OperationOutcome", "issue": [issue]})
    response.status_code = status
    return response
