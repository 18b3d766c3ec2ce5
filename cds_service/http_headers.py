"""Security headers and CORS on every answer (issue 13, finding 13; docs/decisions/0019).

- Every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (the SMART
  app's URLs carry launch and code parameters) and a Content-Security-Policy.
- The SMART app's files (/smart/*): scripts, styles and images from the service only (no inline
  script, no eval: the app's pages load their code from files), `frame-ancestors` from
  ICAHT_CDS_FRAME_ANCESTORS (the EHR origins that show the app in a frame; default 'self').
  `connect-src *`: the app reads whichever EHR launches it (its FHIR server and token endpoint
  are known only at launch, from `iss`), with the EHR's token, never the service's.
- Everything else is data, never a page: `default-src 'none'; frame-ancestors 'none'`.
- The hooks and the assessment API carry patient data: `Cache-Control: no-store` unless the
  route chose otherwise.
- CORS on the hooks (browser-based CDS clients, cds-hooks_2.0@208) and the assessment API: a
  request's `Origin` that is one of ICAHT_CDS_CORS_ORIGINS (default: the service's own public
  origin) is echoed in `Access-Control-Allow-Origin`; any other origin gets no CORS header.
  `Vary: Origin` on all of them, so a cache never serves one origin's answer to another.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from cds_service.settings import Settings

CORS_PATHS = ("/cds-services", "/api/")  # the hooks and the SMART app's assessment API
PATIENT_DATA_PATHS = CORS_PATHS
SMART_PATH = "/smart/"
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"


def smart_csp(frame_ancestors: tuple[str, ...]) -> str:
    """The SMART app's policy; `frame_ancestors` are origins checked by settings.origin_of."""
    ancestors = " ".join(("'self'", *frame_ancestors))
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src *",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
            f"frame-ancestors {ancestors}",
        )
    )


def register_headers(app: Flask, settings: Settings) -> None:
    smart_policy = smart_csp(settings.frame_ancestors)
    allowed_origins = settings.allowed_cors_origins

    @app.before_request
    def preflight() -> ResponseReturnValue | None:
        # a preflight carries no JWT and gets no content; its CORS headers come below
        if request.method == "OPTIONS" and request.path.startswith(CORS_PATHS):
            return app.response_class(status=204)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        smart = request.path.startswith(SMART_PATH)
        response.headers["Content-Security-Policy"] = smart_policy if smart else DATA_CSP
        if request.path.startswith(PATIENT_DATA_PATHS) and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        if request.path.startswith(CORS_PATHS):
            _cors(response, allowed_origins)
        return response


def _cors(response: Response, allowed_origins: frozenset[str]) -> None:
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin is None or origin not in allowed_origins:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Max-Age"] = "600"
