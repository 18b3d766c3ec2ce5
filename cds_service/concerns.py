"""The concern key of an alert card: which data made which rule fire (docs/decisions/0007).

The key hashes the service's override *scope*, not its id (docs/decisions/0026): order-select
and order-sign share the scope "order", so an alert overridden when the order was selected is
the same concern when the same draft order is signed; patient-view keeps its own scope (its
service id, so the keys of patient-view overrides already stored do not change).

The card's uuid changes whenever any of its content does, including the day since infusion in
the machine assessment; an override must outlive that. The concern key hashes only the service,
the rule, its severity and the data the alert rests on (`Alert.data_used`: item, value, day
and source id of each datum, all absolute dates), never the evaluation date, the rendered
text (whose "day +N" phrases move every day) or the data computed as of the evaluation date
(`DataUsed.as_of_evaluation`: ICAHT grades, whose status and lower bound move with the date on
the same counts; a grade that changes because of a new count changes the key through that
count). The same data on another day give the same key; a new or changed value, a new draft
order or another severity give a new one.

The patient id is not hashed in: the store pairs the key with the patient's HMAC, and a plain
hash of an id next to it would only give a dictionary attack something to aim at.
"""

from __future__ import annotations

import hashlib
import json

from cds_service.discovery import SERVICES
from icaht.rules import Alert

CONCERN_KEY = "org.icaht.concern"  # card extension carrying the key
ORDER_SCOPE = "order"  # order-select and order-sign: one order workflow (0026)
ORDER_HOOKS = frozenset({"order-select", "order-sign"})


def override_scope(service_id: str) -> str:
    """The scope an override holds in: "order" for the order services, else the service id."""
    hook = next((s.hook for s in SERVICES if s.id == service_id), None)
    return ORDER_SCOPE if hook in ORDER_HOOKS else service_id


def scope_services(service_id: str) -> tuple[str, ...]:
    """The services whose overrides count for `service_id`'s cards (itself first)."""
    scope = override_scope(service_id)
    others = [s.id for s in SERVICES if s.id != service_id and override_scope(s.id) == scope]
    return (service_id, *others)


def concern_key(service_id: str, alert: Alert) -> str:
    """64 hex characters (SHA-256), stable for the same override scope, rule and evidence."""
    evidence = sorted(  # sorted: the order the FHIR server listed the data in does not matter
        [datum.item, datum.value, datum.day.isoformat() if datum.day else "", datum.source_id or ""]
        for datum in alert.data_used
        if not datum.as_of_evaluation
    )
    scope = override_scope(service_id)
    content = json.dumps([scope, alert.rule_id, alert.severity, evidence], sort_keys=True)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()
