"""The SMART-on-FHIR app's service side: its static files and its configuration document.

The app itself (launch.html, index.html, app.js, vendor/...) lives in `static/`; it reads the
patient's data with the EHR's access token and posts it to `/api/v1/assessment` with the launch's
OpenID Connect id_token (which the API verifies, docs/decisions/0009). The service never sees the
access token: it only serves the files and tells the app its client id, scopes, the assessment
URL and which lab and vital-sign codes to read (the same lists the hooks prefetch with).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from cds_service.discovery import lab_codes, vital_sign_codes
from cds_service.settings import Settings
from fhir_mappings.tables import LOINC

STATIC_DIR = Path(__file__).resolve().parent / "static"

# the only file types the app consists of; anything else under /smart/ is a 404
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".txt": "text/plain",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def static_file(path: str) -> tuple[Path, str] | None:
    """The file under static/ for a request path and its content type, or None.

    None for anything outside static/ (.., absolute paths, hidden files), directories, missing
    files and unknown types: the route answers 404 without saying which.
    """
    if any(ord(character) < 32 or character in "\\\x7f" for character in path):
        return None  # a NUL or control character is no file name (and breaks the OS call)
    relative = PurePosixPath(path)
    if relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
        return None
    if any(part.startswith(".") for part in relative.parts):
        return None
    content_type = CONTENT_TYPES.get(relative.suffix.lower())
    if content_type is None:
        return None
    candidate = (STATIC_DIR / relative).resolve()
    if not candidate.is_relative_to(STATIC_DIR) or not candidate.is_file():
        return None
    return candidate, content_type


def smart_config(settings: Settings) -> dict[str, Any]:
    """The app's configuration: a public client (no secret), so nothing here is confidential."""
    return {
        "clientId": settings.smart_client_id,
        "scope": settings.smart_scope,
        "assessmentUrl": f"{settings.public_url}/api/v1/assessment",
        # the codes of the hooks' `labs` and `vitals` prefetch keys (docs/decisions/0023)
        "observationCodes": [f"{LOINC}|{code}" for code in lab_codes()],
        "vitalSignCodes": [f"{LOINC}|{code}" for code in vital_sign_codes()],
    }
