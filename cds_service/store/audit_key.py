"""The key that pseudonymises patient ids in the audit table (HMAC-SHA256).

ICAHT_CDS_AUDIT_KEY holds the key (at least 32 characters; e.g. the output of
`python -c "import secrets; print(secrets.token_urlsafe(32))"`), from the deployment's secret
store. The same key must be given to every replica, and kept: the same patient then has the
same hash in every audit row, and nobody who reads only the database can recover the id by
hashing candidate ids (which a plain SHA-256 of a short medical record number would allow).

When it is unset and the store is a SQLite file (demo, development), a random key is generated
once and kept next to the database file (`<db>.audit-key`, mode 0600). For any other database
(PostgreSQL, shared by replicas) the key is required.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

from cds_service.security.files import write_private_file
from cds_service.settings import env_or_file

AUDIT_KEY_ENV = "ICAHT_CDS_AUDIT_KEY"
MIN_KEY_LENGTH = 32


class AuditKeyError(ValueError):
    """The audit key is missing or too short (the message never contains the key)."""


def patient_hash(key: bytes, patient_id: str) -> str:
    """Hex HMAC-SHA256 of a patient id under the audit key (64 characters)."""
    return hmac.new(key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def resolve_audit_key(database_url: str, env: Mapping[str, str] | None = None) -> bytes:
    """The audit key from ICAHT_CDS_AUDIT_KEY, else the generated dev key of a SQLite file."""
    # or ICAHT_CDS_AUDIT_KEY_FILE: the key mounted as a file (deploy/kubernetes)
    configured = env_or_file(os.environ if env is None else env, AUDIT_KEY_ENV)
    if configured:
        if len(configured) < MIN_KEY_LENGTH:
            raise AuditKeyError(f"{AUDIT_KEY_ENV} must be at least {MIN_KEY_LENGTH} characters")
        return configured.encode("utf-8")
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise AuditKeyError(f"{AUDIT_KEY_ENV} is required with a {url.get_backend_name()} store")
    if not url.database or url.database == ":memory:":
        return secrets.token_bytes(32)  # an in-memory store lives and dies with its key
    return _dev_key(Path(url.database).with_suffix(".audit-key"))


def _dev_key(path: Path) -> bytes:
    if not path.exists():
        write_private_file(path, secrets.token_urlsafe(32).encode("ascii"))
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_LENGTH:
        raise AuditKeyError(f"{path} holds a key shorter than {MIN_KEY_LENGTH} characters")
    return key
