"""Honour 'overridden' feedback: withhold the alert cards whose concern the clinician overrode.

An override is remembered by the store (service, client, patient HMAC, rule, concern key; see
`Store.record_feedback`). A later hook call of the same client for the same patient in the same
service does not show an alert card with that concern key until the data change (a new key) or, with
ICAHT_CDS_OVERRIDE_DAYS=N, until N days after the override, whichever comes first. The order
services share one scope: an override on order-select also holds on order-sign for the same
draft order (same concern key), and the other way round (docs/decisions/0026). The status
card carries no concern key and is never withheld. Another client's calls still show the card:
one EHR's clinicians cannot hide a card from another's. Reasons: docs/decisions/0007, 0017.

The store is read once per call, at the edge (`overridden_concerns`); `withhold` is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from cds_service import metrics
from cds_service.cards import Card
from cds_service.concerns import scope_services
from cds_service.logs import log_event
from cds_service.store import Store


def overridden_concerns(
    store: Store,
    *,
    service_id: str,
    client: str,
    patient_id: str,
    now: datetime,
    override_days: int | None,
) -> frozenset[str]:
    """The concern keys this client's clinicians overrode for this patient in the service's
    scope (order-select and order-sign share one).

    A store that cannot be read withholds nothing: showing a card the clinician has already
    dismissed is a nuisance, hiding one that was never dismissed would be a hazard.
    """
    since = None if override_days is None else now - timedelta(days=override_days)
    try:
        return store.overridden_concerns(
            scope_services(service_id), patient_id, client=client, since=since
        )
    except SQLAlchemyError as error:
        log_event("override_lookup_failed", level=logging.ERROR, error=type(error).__name__)
        metrics.OVERRIDE_LOOKUP_FAILURES.inc()
        return frozenset()


def withhold(
    cards: Iterable[Card], overridden: frozenset[str]
) -> tuple[tuple[Card, ...], tuple[Card, ...]]:
    """(shown, withheld): the alert cards whose concern key was overridden are withheld, the
    others (the status card among them) shown, each in the order given."""
    shown: list[Card] = []
    withheld: list[Card] = []
    for card in cards:
        concern = card.concern_key
        (withheld if concern and concern in overridden else shown).append(card)
    return tuple(shown), tuple(withheld)
