"""The order workflow as EHRs run it (issue 18, docs/decisions/0026), through the HTTP endpoints.

order-select then order-sign for the same draft order: an alert overridden on order-select is
withheld on order-sign (the order services share one override scope); order-select judges only
the orders `context.selections` names; free text from the draft order (its medication's text)
reaches the card escaped. The patient is the M21 request fixture (platelets 49 x10^9/L on the
fixtures' evaluation date), its draft order replaced by warfarin; the service's clock and its
store's clock are pinned to that date.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from cds_service.app import Services, create_app
from cds_service.cards import OVERRIDE_SYSTEM, RULE_KEY
from cds_service.concerns import CONCERN_KEY
from cds_service.fhir_client import FhirClient
from cds_service.settings import Settings
from cds_service.store import Store
from cds_service.validation import response_errors

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "requests"
    / "request-M21-in-enoxaparin-order-platelets-49.json"
)
TZ = "Europe/Berlin"
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # the fixtures' evaluation date (generate.py)
AUDIT_KEY = b"order-workflow-test-audit-key-0123456789"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
IMG = "<img src=x onerror=alert(1)>"
UNESCAPED_LINK = re.compile(r"(?<!\\)\]\(")  # "](" whose "]" has no backslash


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Flask, Store]]:
    database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    settings = Settings(auth="none", timezone=TZ, database_url=database_url)
    store = Store(database_url, audit_key=AUDIT_KEY, clock=lambda: NOW)
    store.migrate()
    services = Services(
        settings, FhirClient(), store, None, clock=lambda tz: NOW.astimezone(ZoneInfo(str(tz)))
    )
    yield create_app(settings, services), store
    store.close()


def medication_request(order_id: str, text: str, system: str, code: str) -> dict[str, Any]:
    base = json.loads(FIXTURE.read_text())["context"]["draftOrders"]["entry"][0]["resource"]
    return base | {
        "id": order_id,
        "medicationCodeableConcept": {"text": text, "coding": [{"system": system, "code": code}]},
    }


WARFARIN = medication_request("warfarin-1", "Warfarin 5 mg tablet", RXNORM, "11289")
ENOXAPARIN = medication_request("enoxaparin-1", "Enoxaparin 40 mg SC daily", ATC, "B01AB05")


def request(hook: str, orders: list[dict[str, Any]], selections: list[str] | None = None) -> Any:
    body = copy.deepcopy(json.loads(FIXTURE.read_text()))
    body["hook"] = hook
    body["hookInstance"] = str(uuid.uuid4())
    context = body["context"]
    context["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": order} for order in orders],
    }
    context.pop("selections")
    if hook == "order-select":
        context["selections"] = (
            selections
            if selections is not None
            else [f"{o['resourceType']}/{o['id']}" for o in orders]
        )
    return body


def call(app: Flask, hook: str, orders: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    response = app.test_client().post(
        f"/cds-services/icaht-{hook}", json=request(hook, orders, **kw)
    )
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert response_errors("response.json", answer) == []
    return list(answer["cards"])


def m21(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [card for card in cards if card["extension"].get(RULE_KEY) == "M21"]


def override(app: Flask, hook: str, card: dict[str, Any]) -> None:
    entry = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "system": OVERRIDE_SYSTEM,
                "code": "clinical-judgement",
                "display": "Benefit outweighs risk for this patient",
            }
        },
        "outcomeTimestamp": NOW.isoformat(),
    }
    response = app.test_client().post(
        f"/cds-services/icaht-{hook}/feedback", json={"feedback": [entry]}
    )
    assert response.status_code == 200, response.get_json()


def test_an_override_on_order_select_holds_on_order_sign_for_the_same_order(
    app: tuple[Flask, Store],
) -> None:
    """Before: the concern key hashed the service id, so order-sign showed the M21 card the
    clinician had just overridden on order-select. After: withheld, with its audit row."""
    flask_app, store = app
    (selected,) = m21(call(flask_app, "order-select", [WARFARIN]))
    assert "Warfarin 5 mg tablet" in selected["detail"]
    override(flask_app, "order-select", selected)

    assert m21(call(flask_app, "order-sign", [WARFARIN])) == []
    withheld = [row for row in store.audit_rows() if row["withheld"]]
    assert [(row["service_id"], row["rule_ids"]) for row in withheld] == [
        ("icaht-order-sign", ["M21"])
    ]
    assert withheld[0]["concern_key"] == selected["extension"][CONCERN_KEY]

    # another draft order is another concern: its card is shown on order-sign
    other = WARFARIN | {"id": "warfarin-2"}
    (shown,) = m21(call(flask_app, "order-sign", [other]))
    assert shown["extension"][CONCERN_KEY] != selected["extension"][CONCERN_KEY]
    # and patient-view keeps its own scope: the order override hides nothing there
    pv = request("order-sign", [])
    pv["hook"] = "patient-view"
    del pv["context"]["draftOrders"]
    response = flask_app.test_client().post("/cds-services/icaht-patient-view", json=pv)
    assert response.status_code == 200
    assert len(store.audit_rows()) > len(withheld)


def test_order_select_judges_only_the_selected_orders(app: tuple[Flask, Store]) -> None:
    """Two draft anticoagulants, the selection names enoxaparin. Before: one M21 card naming
    both orders (warfarin was selected earlier and had had its own check). After: the card is
    about enoxaparin only; order-sign still judges both."""
    flask_app, _ = app
    (card,) = m21(
        call(
            flask_app,
            "order-select",
            [WARFARIN, ENOXAPARIN],
            selections=["MedicationRequest/enoxaparin-1"],
        )
    )
    assert "Enoxaparin 40 mg SC daily" in card["detail"]
    assert "Warfarin" not in card["detail"]

    (signed,) = m21(call(flask_app, "order-sign", [WARFARIN, ENOXAPARIN]))
    assert "Enoxaparin 40 mg SC daily" in signed["detail"] and "Warfarin" in signed["detail"]

    # selections that name no draft order are an EHR error: every draft is judged, so the
    # safety alert is not silenced by a bad reference
    (unmatched,) = m21(
        call(flask_app, "order-select", [WARFARIN], selections=["MedicationRequest/gone"])
    )
    assert "Warfarin" in unmatched["detail"]


def test_a_drug_name_carrying_html_and_a_link_reaches_the_card_escaped(
    app: tuple[Flask, Store],
) -> None:
    """The CDS Hooks Sandbox rendered an <img> injected through a drug name. Before: the draft
    order's text went into the M21 card's detail as written. After: escaped."""
    flask_app, _ = app
    hostile = f"Warfarin {IMG} [click](javascript:alert(1))\n# ![x](http://evil)"
    order = medication_request("warfarin-1", hostile, RXNORM, "11289")
    for hook in ("order-select", "order-sign"):
        (card,) = m21(call(flask_app, hook, [order]))
        for field in (card["summary"], card["detail"]):
            assert "<img" not in field and not UNESCAPED_LINK.search(field), field
        assert "&lt;img src=x onerror=alert(1)&gt;" in card["detail"]
        assert r"\[click\](javascript:alert(1)) # \!\[x\](http://evil)" in card["detail"]
