"""Feedback, audit and the JWT replay cache: SQLite by default, PostgreSQL by URL.

- `Store(url)`: `migrate()`, `ping()`, `record_feedback(*FeedbackRecord)`,
  `record_audit(*AuditRecord)`, `claim(iss, jti, expires_at)` (the ReplayCache of
  cds_service.security), and read helpers for audits and tests.
- `validate_feedback(body, service_id=..., client=...)`: a CDS Hooks feedback body ->
  FeedbackRecords, or RequestValidationError naming the field. `record_feedback` refuses
  entries on cards not issued to that client (`CardNotIssuedError`, docs/decisions/0017).
- Environment: ICAHT_CDS_DATABASE_URL (read by cds_service.settings), ICAHT_CDS_AUDIT_KEY (the
  HMAC key for patient ids in audit rows, see audit_key.py).
"""

from __future__ import annotations

from cds_service.store.audit_key import AUDIT_KEY_ENV, AuditKeyError, resolve_audit_key
from cds_service.store.engine import normalise_database_url
from cds_service.store.feedback import validate_feedback
from cds_service.store.records import ANONYMOUS_CLIENT, AuditRecord, FeedbackRecord
from cds_service.store.store import CardNotIssuedError, Store

__all__ = [
    "ANONYMOUS_CLIENT",
    "AUDIT_KEY_ENV",
    "AuditKeyError",
    "AuditRecord",
    "CardNotIssuedError",
    "FeedbackRecord",
    "Store",
    "normalise_database_url",
    "resolve_audit_key",
    "validate_feedback",
]
