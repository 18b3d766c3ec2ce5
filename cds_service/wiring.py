"""Build the service's long-lived parts from the settings: store, authenticator, FHIR client."""

from __future__ import annotations

from cds_service.config import ConfigError, Settings
from cds_service.security import Authenticator, AuthError, load_clients
from cds_service.store import Store


def open_store(settings: Settings) -> Store:
    """The feedback/audit/replay store, migrated to the newest schema."""
    store = Store(settings.database_url)
    store.migrate()
    return store


def prepare_store(settings: Settings) -> None:
    """Create and migrate the store once, before the gunicorn workers start (issue 13 finding
    12): they then find the schema current and a SQLite file already in WAL mode (which the
    file keeps), instead of racing to set both up and losing one to "database is locked"."""
    open_store(settings).engine.dispose()  # no connection may cross the fork


def jwt_authenticator(settings: Settings, store: Store) -> tuple[Authenticator, type[Exception]]:
    if not settings.clients_path:
        raise ConfigError(
            "ICAHT_CDS_CLIENTS must name the allowed EHR clients file "
            "(or ICAHT_CDS_AUTH=none for local development only)"
        )
    return Authenticator(load_clients(settings.clients_path), store), AuthError
