"""Build the service's long-lived parts from the settings: store, authenticator, FHIR client."""

from __future__ import annotations

from cds_service.config import ConfigError, Settings
from cds_service.rate_limit import RateLimiter
from cds_service.security import Authenticator, AuthError, load_clients
from cds_service.security.launch_tokens import LaunchTokenVerifier, load_issuers
from cds_service.store import Store


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
        raise ConfigError(
            "ICAHT_CDS_CLIENTS must name the allowed EHR clients file "
            "(or ICAHT_CDS_AUTH=none for local development only)"
        )
    return Authenticator(load_clients(settings.clients_path), store), AuthError


def launch_token_verifier(settings: Settings) -> LaunchTokenVerifier | None:
    """The assessment API's token check, or None with ICAHT_CDS_ASSESSMENT_AUTH=none."""
    if settings.assessment_auth_mode == "none":
        return None
    if not settings.smart_issuers_path:
        raise ConfigError(
            "ICAHT_CDS_SMART_ISSUERS must name the EHRs whose SMART id_tokens the assessment API "
            "accepts (or ICAHT_CDS_ASSESSMENT_AUTH=none for the demo and development only)"
        )
    return LaunchTokenVerifier(load_issuers(settings.smart_issuers_path), settings.smart_client_id)


def assessment_rate_limiter(settings: Settings) -> RateLimiter | None:
    if settings.assessment_rate is None:
        return None
    calls, seconds = settings.assessment_rate
    return RateLimiter(calls, seconds)
