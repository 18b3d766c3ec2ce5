"""The service's HTTP routes as Flask Blueprints: the CDS hooks (`cds_hooks`), the SMART app and
its assessment API (`smart_api`), and operations (`operations`: health, readiness, metrics).
Routes stay a few lines each: they read the request, call one function, and raise a
ServiceError (cds_service/errors.py) for anything but success; one handler answers those
(cds_service/app.py). What all routes share is here."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request

from cds_service import metrics
from cds_service.errors import AuthFailedError
from cds_service.logs import log_event
from cds_service.store import ANONYMOUS_CLIENT
from cds_service.wiring import Services

# the route names a refused call is counted and logged under (hooks: their service id)
REFUSAL_ROUTES = {
    "cds_hooks.discovery": "discovery",
    "cds_hooks.feedback": "feedback",
    "smart_api.assessment": "assessment",
    "operations.metrics_page": "metrics",
}


def services() -> Services:
    found: Services = current_app.extensions["icaht"]
    return found


def authenticate(services: Services, path: str) -> Any:
    """The authenticated EHR client of this call (None with ICAHT_CDS_AUTH=none), or
    AuthFailedError (-> 401) with the authenticator's reason."""
    if services.authenticator is None:
        return None
    try:
        return services.authenticator.authenticate(
            request.headers.get("Authorization"), services.settings.public_url + path
        )
    except services.auth_error as error:
        raise AuthFailedError(str(getattr(error, "reason", "other"))) from error


def client_id(client: Any) -> str:
    """Who a card is issued to and whose feedback counts: the JWT issuer (0017)."""
    return ANONYMOUS_CLIENT if client is None else str(client.iss)


def refused(status: int, reason: str) -> None:
    """Log and count a 401/403 with its reason class (closed sets: metrics.count_refused); no
    token, no patient data, no value of the caller's choosing."""
    endpoint = request.endpoint or ""
    if endpoint == "cds_hooks.hook":
        route = metrics.service_label(str((request.view_args or {}).get("service_id")))
    else:
        route = REFUSAL_ROUTES.get(endpoint, metrics.OTHER)
    reason_label = metrics.closed(str(reason), metrics.REFUSAL_REASONS)
    log_event("refused", level=logging.WARNING, route=route, status=status, reason=reason_label)
    metrics.count_refused(route, status, reason_label)
