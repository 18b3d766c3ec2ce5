"""EHR authentication for CDS Hooks calls: JWT (RS384/ES384), allow-listed keys and FHIR servers.

- `Authenticator(clients, replay_cache).authenticate(authorization_header, audience)` returns an
  `AuthenticatedClient` or raises `AuthError` (the route answers a bare 401).
- `AuthenticatedClient.allows_fhir_server(url)` says whether a request's `fhirServer` is one of
  that client's FHIR base URLs (normal-form equality, no prefix matching).
- `load_clients(path)` reads the ICAHT_CDS_CLIENTS file; `auth_disabled()` tells whether
  ICAHT_CDS_AUTH=none switched authentication off (local development only: log AUTH_OFF_WARNING).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cds_service.security.authenticator import (
    AuthenticatedClient,
    Authenticator,
    ReplayCache,
)
from cds_service.security.clients import (
    ClientConfig,
    ClientsConfigError,
    clients_from_document,
    load_clients,
)
from cds_service.security.jwt_parts import AuthError
from cds_service.security.replay import InMemoryReplayCache

AUTH_ENV = "ICAHT_CDS_AUTH"
CLIENTS_ENV = "ICAHT_CDS_CLIENTS"
AUTH_OFF_WARNING = (
    "ICAHT_CDS_AUTH=none: EHR authentication is OFF. Any caller can ask for cards and make the "
    "service call any fhirServer. Local development only, never in production."
)

__all__ = [
    "AUTH_ENV",
    "AUTH_OFF_WARNING",
    "CLIENTS_ENV",
    "AuthError",
    "AuthenticatedClient",
    "Authenticator",
    "ClientConfig",
    "ClientsConfigError",
    "InMemoryReplayCache",
    "ReplayCache",
    "auth_disabled",
    "authenticator_from_file",
    "clients_from_document",
    "load_clients",
]


def auth_disabled(env: Mapping[str, str] | None = None) -> bool:
    """True when ICAHT_CDS_AUTH=none (case-insensitive): skip authentication, warn loudly."""
    value = (os.environ if env is None else env).get(AUTH_ENV, "jwt")
    return value.strip().lower() == "none"


def authenticator_from_file(
    clients_path: str | Path, replay_cache: ReplayCache, **options: Any
) -> Authenticator:
    """An Authenticator for the clients in `clients_path` (options as for Authenticator)."""
    return Authenticator(load_clients(clients_path), replay_cache, **options)
