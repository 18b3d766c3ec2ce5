"""Honour 'overridden' feedback: withhold the alert cards whose concern the clinician overrode.

An override is remembered by the store (service, client, patient HMAC, rule, concern key; see
`Store.record_feedback`). A later hook call of the same client for the same patient in the same
service does not show an alert card with that concern key until the data change (a new key) or, with
ICAHT_CDS_OVERRIDE_DAYS=N, until N days after the override, whichever comes first. The order
services share one scope: an override on order-select also holds on order-sign for the same
draft order (same concern key), and the other way round (docs/decisions/0026). The status
card carries no concern key and is never withheld. Another client's calls still show the card:
one EHR's clinicians cannot hide a card from another's. Reasons: docs/decisions/0007, 0017.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cds_service import metrics
from cds_service.concerns import CONCERN_KEY, scope_services
from cds_service.hooks import HookOutcome
from cds_service.logs import log_event
from cds_service.store import AuditRecord, Store


def withhold_overridden(
    store: Store,
    outcome: HookOutcome,
    *,
    service_id: str,
    client: str,
    patient_id: str,
    now: datetime,
    override_days: int | None,
) -> int:
    """Take the overridden alert cards out of `outcome` (into `outcome.withheld`); how many.

    A store that cannot be read withholds nothing: showing a card the clinician has already
    dismissed is a nuisance, hiding one that was never dismissed would be a hazard.
    """
    cards = outcome.response["cards"]
    if not any(concern_of(card) for card in cards):
        return 0  # no alert card: nothing to look up
    since = None if override_days is None else now - timedelta(days=override_days)
    try:
        overridden = store.overridden_concerns(  # the scope's services: order-select and -sign
            scope_services(service_id), patient_id, client=client, since=since
        )
    except SQLAlchemyError as error:
        log_event("override_lookup_failed", level=logging.ERROR, error=type(error).__name__)
        metrics.OVERRIDE_LOOKUP_FAILURES.inc()
        return 0
    shown: list[tuple[dict[str, Any], str]] = []
    for card, rule_id in zip(cards, outcome.rule_ids, strict=True):
        concern = concern_of(card)
        target = outcome.withheld if concern and concern in overridden else shown
        target.append((card, rule_id))
    outcome.response["cards"] = [card for card, _ in shown]
    outcome.rule_ids = tuple(rule_id for _, rule_id in shown)
    if outcome.withheld:
        # a count only: which rules and patients stay in the audit table (hashed patient id)
        metrics.CARDS_WITHHELD.labels(service_id).inc(len(outcome.withheld))
        log_event("cards_withheld", service=service_id, cards=len(outcome.withheld))
    return len(outcome.withheld)


def withheld_audit_records(outcome: HookOutcome, common: Mapping[str, Any]) -> list[AuditRecord]:
    """One audit row per withheld card (`withheld=True`): what the clinician did not see."""
    return [
        AuditRecord(
            card_uuid=card.get("uuid"),
            rule_ids=(rule_id,) if rule_id else (),
            concern_key=concern_of(card),
            withheld=True,
            **common,
        )
        for card, rule_id in outcome.withheld
    ]


def concern_of(card: Mapping[str, Any]) -> str | None:
    """The concern key of an alert card; None for the status card."""
    value = (card.get("extension") or {}).get(CONCERN_KEY)
    return str(value) if value else None
