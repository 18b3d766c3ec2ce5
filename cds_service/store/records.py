"""What goes into the store: frozen values, built by the routes (or by `validate_feedback`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

OUTCOMES = ("accepted", "overridden")
# the client of every call when ICAHT_CDS_AUTH=none; with JWTs the client is the token's `iss`
ANONYMOUS_CLIENT = "anonymous"


@dataclass(frozen=True)
class FeedbackRecord:
    """One CDS Hooks feedback entry: what the clinician did with one card.

    `client` is the authenticated caller (JWT `iss`, or ANONYMOUS_CLIENT): the store accepts
    the entry only for a card this service issued to that client (docs/decisions/0017).
    """

    client: str = field(kw_only=True)
    service_id: str
    card_uuid: str
    outcome: str  # "accepted" or "overridden"
    outcome_timestamp: datetime  # when the clinician acted (from the EHR), timezone-aware
    accepted_suggestion_ids: tuple[str, ...] = ()
    override_reason_code: str | None = None
    override_reason_system: str | None = None
    override_reason_display: str | None = None
    user_comment: str | None = None  # free text typed by the clinician: may hold patient data
    hook_instance: str | None = None  # None: looked up from the audit row of the card
    rules_version: str | None = None  # None: looked up from the audit row of the card

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        if self.outcome_timestamp.tzinfo is None:
            raise ValueError("outcome_timestamp must be timezone-aware")


@dataclass(frozen=True)
class AuditRecord:
    """One card shown (or one hook call that showed none: `card_uuid` None), or one alert card
    withheld because its concern was overridden (`withheld`, docs/decisions/0007).

    `patient_id` is given in clear and never stored: the store keeps only its HMAC-SHA256 under
    the audit key. No names, no lab values: only ids, grades, rule ids and timings. `client` is
    the caller the card was issued to (JWT `iss`, or ANONYMOUS_CLIENT; docs/decisions/0017).
    """

    client: str = field(kw_only=True)
    hook_instance: str
    service_id: str
    hook: str
    rules_version: str
    card_uuid: str | None = None
    patient_id: str | None = field(default=None, repr=False)
    rule_ids: tuple[str, ...] = ()
    early_grade: str | None = None
    late_grade: str | None = None
    timings_ms: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    concern_key: str | None = None  # alert cards: what the override of this card applies to
    withheld: bool = False  # True: not shown, because the clinician overrode this concern
