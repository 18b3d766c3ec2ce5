"""The SMART app: its files and configuration (public: the app holds no secret) and its
assessment API, `POST /api/v1/assessment` (cds_service/assessment_api.py): the launch token and
the rate are checked before the body is read (docs/decisions/0009, finding 8); every answer
about a patient or a token is `Cache-Control: no-store`."""

from __future__ import annotations

from types import MappingProxyType

from flask import Blueprint, Response, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from cds_service import assessment_api
from cds_service.errors import AuthFailedError, NotFoundError, ServiceError, ThrottledError
from cds_service.logs import log_event
from cds_service.rate_limit import retry_after
from cds_service.routes import services
from cds_service.security import AuthError
from cds_service.smart import smart_config, static_file

smart_api = Blueprint("smart_api", __name__)
NO_STORE = {"Cache-Control": "no-store"}  # patient data, or an answer about a token


class LaunchTokenRefusedError(AuthFailedError):
    """401 for the assessment API: the Bearer challenge (RFC 6750 section 3), no reason beyond
    "invalid_token" (the reason is in the log)."""

    headers = MappingProxyType(
        {"WWW-Authenticate": 'Bearer realm="icaht-cds", error="invalid_token"', **NO_STORE}
    )

    def __init__(self, reason: str) -> None:
        text = "a valid SMART launch id_token is required (Authorization: Bearer)"
        super().__init__(reason, text)


@smart_api.post("/api/v1/assessment")
def assessment() -> ResponseReturnValue:
    found = services()
    token_patient: str | None = None
    if found.launch_tokens is None:
        client = request.remote_addr or "unknown"
    else:
        try:
            identity = found.launch_tokens.verify(request.headers.get("Authorization"))
        except AuthError as error:
            raise LaunchTokenRefusedError(error.reason) from error
        client, token_patient = identity.rate_key, identity.patient
    limiter = found.assessment_limiter
    wait = limiter.take(client) if limiter is not None else None
    if limiter is not None and wait is not None:
        log_event("assessment", status=429)
        text = f"more than {limiter.calls} calls in {limiter.seconds:g} s from this client"
        raise ThrottledError(f"rate limit: {text}", retry_after(wait), NO_STORE)
    try:
        body = assessment_api.handle(request, found.settings, found.clock, token_patient)
    except ServiceError as error:  # answered by answer_error, never cached like the rest
        error.headers = MappingProxyType({**error.headers, **NO_STORE})
        raise
    response: Response = jsonify(body)
    response.headers.update(NO_STORE)
    return response


@smart_api.get("/smart/config.json")
def smart_configuration() -> ResponseReturnValue:
    response = jsonify(smart_config(services().settings))
    response.headers["Cache-Control"] = "no-cache"
    return response


@smart_api.get("/smart/<path:path>")
def smart_static(path: str) -> ResponseReturnValue:
    found = static_file(path)
    if found is None:
        raise NotFoundError("no such file")
    response = send_file(found[0], mimetype=found[1], etag=True)
    response.headers["Cache-Control"] = "no-cache"  # revalidate: a new release shows at once
    return response
