"""Operations: /healthz (the process answers), /readyz (it can serve: database and schema),
/metrics (Prometheus, behind a bearer token of its own; decision 0019)."""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from cds_service import metrics
from cds_service.errors import AuthFailedError, NotFoundError
from cds_service.routes import services
from cds_service.security.jwt_parts import RefusalReason
from cds_service.wiring import Services

operations = Blueprint("operations", __name__)


@operations.get("/healthz")
def healthz() -> ResponseReturnValue:
    # the starter's id for this process, echoed so that `icaht-cds demo` knows its own service
    # answers and not an older one on the same port (no meaning beyond that; unset: left out)
    instance = os.environ.get("ICAHT_CDS_INSTANCE_ID")
    return jsonify({"status": "ok", **({"instance": instance} if instance else {})})


@operations.get("/readyz")
def readyz() -> ResponseReturnValue:
    checks, warnings, schema = readiness(services())
    ready = all(checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    if schema is not None:  # which revision, and what to do when "schema" fails (0033)
        body["schema"] = schema
    if warnings:
        body["warnings"] = warnings
    return jsonify(body), 200 if ready else 503


@operations.get("/metrics")
def metrics_page() -> ResponseReturnValue:
    token = services().settings.metrics_token
    if token is None:
        raise NotFoundError("metrics are off (ICAHT_CDS_METRICS_TOKEN)")
    given = (request.headers.get("Authorization") or "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        # logged and counted once, as every refusal: the 401 handler's `refused` event
        raise AuthFailedError(RefusalReason.METRICS_TOKEN)
    payload, content_type = metrics.exposition()
    return current_app.response_class(payload, mimetype=content_type.split(";")[0])


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
    return checks, services.warnings(), None if status is None else status.describe()
