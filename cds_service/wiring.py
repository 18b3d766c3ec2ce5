"""Build the service's long-lived parts from the settings: store, authenticator, FHIR client,
launch-token verifier, rate limiter; `Services` holds them for the routes (one per process)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cds_service import metrics
from cds_service.errors import AuthFailedError
from cds_service.fhir_client import FhirClient
from cds_service.rate_limit import RateLimiter
from cds_service.security import AUTH_OFF_WARNING, Authenticator, AuthError, load_clients
from cds_service.security.launch_tokens import LaunchTokenVerifier, load_issuers
from cds_service.settings import Settings, SettingsError
from cds_service.store import Store

ASSESSMENT_AUTH_OFF = (
    "ICAHT_CDS_ASSESSMENT_AUTH=none: the assessment API takes calls without a SMART launch "
    "token (rate-limited by client address only). Demo and local development only."
)


class RequestAuthenticator(Protocol):
    def authenticate(self, authorization: str | None, audience: str) -> Any: ...


@dataclass
class Services:
    """Everything a route needs: settings, FHIR client, store, authenticator and the rest;
    built once per process by `default_services`, tests pass their own."""

    settings: Settings
    fhir: FhirClient
    store: Store
    authenticator: RequestAuthenticator | None  # None only with ICAHT_CDS_AUTH=none
    auth_error: type[Exception] = AuthFailedError
    # "now" in a time zone: the evaluation date of every hook call (tests pin it)
    clock: Callable[[ZoneInfo], datetime] = datetime.now
    # the assessment API (finding 8): None only with ICAHT_CDS_ASSESSMENT_AUTH=none
    launch_tokens: LaunchTokenVerifier | None = None
    assessment_limiter: RateLimiter | None = None  # None: ICAHT_CDS_ASSESSMENT_RATE=off

    def warnings(self) -> list[str]:
        """What is switched off that production needs on (logged at start, shown by /readyz)."""
        warnings = [AUTH_OFF_WARNING] if self.authenticator is None else []
        if self.launch_tokens is None:
            warnings.append(ASSESSMENT_AUTH_OFF)
        return warnings


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


def open_store(settings: Settings) -> Store:
    """The feedback/audit/replay store; migrated first if it is behind and the settings say so
    (a SQLite file by default; a shared database is migrated by `icaht-cds migrate`, decision
    0033). A store at or beyond this release's revision is never touched."""
    store = Store(settings.database_url)
    if settings.migrates_on_start:
        store.migrate()
    return store


def prepare_store(settings: Settings) -> None:
    """Create and (see open_store) migrate the store once, before the gunicorn workers start
    (issue 13 finding 12): they then find the schema current and a SQLite file already in WAL
    mode (which the file keeps), instead of racing to set both up and losing one to "database
    is locked"."""
    open_store(settings).engine.dispose()  # no connection may cross the fork


def jwt_authenticator(settings: Settings, store: Store) -> tuple[Authenticator, type[Exception]]:
    if not settings.clients_path:
        raise SettingsError(
            "ICAHT_CDS_CLIENTS must name the allowed EHR clients file "
            "(or ICAHT_CDS_AUTH=none for local development only)"
        )
    return Authenticator(load_clients(settings.clients_path), store), AuthError


def launch_token_verifier(settings: Settings) -> LaunchTokenVerifier | None:
    """The assessment API's token check, or None with ICAHT_CDS_ASSESSMENT_AUTH=none."""
    if settings.assessment_auth_mode == "none":
        return None
    if not settings.smart_issuers_path:
        raise SettingsError(
            "ICAHT_CDS_SMART_ISSUERS must name the EHRs whose SMART id_tokens the assessment API "
            "accepts (or ICAHT_CDS_ASSESSMENT_AUTH=none for the demo and development only)"
        )
    return LaunchTokenVerifier(load_issuers(settings.smart_issuers_path), settings.smart_client_id)


def assessment_rate_limiter(settings: Settings) -> RateLimiter | None:
    if settings.assessment_rate is None:
        return None
    calls, seconds = settings.assessment_rate
    return RateLimiter(calls, seconds)
