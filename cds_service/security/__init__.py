"""EHR authentication for CDS Hooks calls: JWT (RS384/ES384), allow-listed keys and FHIR servers.

- `Authenticator(clients, replay_cache).authenticate(authorization_header, audience)` returns an
  `AuthenticatedClient` or raises `AuthError` (the route answers a bare 401).
- `AuthenticatedClient.allows_fhir_server(url)` says whether a request's `fhirServer` is one of
  that client's FHIR base URLs (normal-form equality, no prefix matching).
- `load_clients(path)` reads the ICAHT_CDS_CLIENTS file; with ICAHT_CDS_AUTH=none (read by
  cds_service/settings.py) authentication is off: local development only, AUTH_OFF_WARNING is
  logged.

"""

from __future__ import annotations

from cds_service.security.authenticator import (
    AuthenticatedClient,
    Authenticator,
    ReplayCache,
)
from cds_service.security.clients import (
    ClientSettings,
    ClientsFileError,
    clients_from_document,
    load_clients,
)
from cds_service.security.jwt_parts import AuthError
from cds_service.security.replay import InMemoryReplayCache

AUTH_OFF_WARNING = (
    "ICAHT_CDS_AUTH=none: EHR authentication is OFF. Any caller can ask for cards and make the "
    "service call any fhirServer. Local development only, never in production."
)

__all__ = [
    "AUTH_OFF_WARNING",
    "AuthError",
    "AuthenticatedClient",
    "Authenticator",
    "ClientSettings",
    "ClientsFileError",
    "InMemoryReplayCache",
    "ReplayCache",
    "clients_from_document",
    "load_clients",
]
