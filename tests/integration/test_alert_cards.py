"""Management alerts as CDS cards through the real HTTP endpoints, with prefetch only.

Each patient is written as FHIR resources dated relative to TODAY, a fixed date the service's
clock is pinned to (the service grades "today" in the centre's time zone): the answers do not
depend on the day, or the hour, the suite runs. Cards are checked against the project's
response schema, suggested resources against fhir.resources' R4B models. Tagged with CDS Hooks
2.0 requirement ids.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.servicerequest import ServiceRequest
from flask import Flask
from served import noon_of

from cds_service.app import create_app, default_services
from cds_service.settings import Settings
from cds_service.validation import response_errors

TZ = "Europe/Berlin"
PATIENT = "alert-p1"
TODAY = date(2026, 11, 24)  # the service's pinned day; winter: the data's +01:00 is Berlin's


@pytest.fixture(scope="module")
def app(database_url: str) -> Flask:
    settings = Settings(auth="none", timezone=TZ, database_url=database_url)
    return create_app(settings, replace(default_services(settings), clock=noon_of(TODAY)))


def today() -> date:
    return TODAY


def at(day0: date, day: int) -> str:
    return f"{day0 + timedelta(days=day)}T07:00:00+01:00"


def observation(day0: date, day: int, loinc: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o-{loinc}-{day}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": at(day0, day),
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def prefetch(
    days_since_infusion: int, anc: dict[int, float], platelets: dict[int, float]
) -> dict[str, Any]:
    day0 = today() - timedelta(days=days_since_infusion)
    infusion = {
        "resourceType": "Procedure",
        "id": "cart",
        "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "38228"}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "performedDateTime": at(day0, 0),
    }
    labs = [observation(day0, d, "751-8", v, "/uL") for d, v in anc.items()]
    labs += [observation(day0, d, "777-3", v, "10*9/L") for d, v in platelets.items()]
    return {
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "procedures": searchset([infusion]),
        "medications": searchset([]),
        "conditions": searchset([]),
        "labs": searchset(labs),
    }


def request(hook: str, data: dict[str, Any], orders: list[dict[str, Any]] | None = None) -> dict:
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": PATIENT}
    if hook != "patient-view":
        context["draftOrders"] = searchset(orders or []) | {"type": "collection"}
    if hook == "order-select":
        context["selections"] = [f"{o['resourceType']}/{o['id']}" for o in orders or []]
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": data}


def cards_for(app: Flask, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = app.test_client().post(f"/cds-services/icaht-{body['hook']}", json=body)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert response_errors("response.json", answer) == []
    for card in answer["cards"]:
        for suggestion in card.get("suggestions", []):
            assert uuid.UUID(suggestion["uuid"])
            for action in suggestion["actions"]:
                if "resource" in action:  # every suggested resource is valid FHIR (R4B models)
                    kind = action["resource"]["resourceType"]
                    get_fhir_model_class(kind).model_validate(action["resource"])
    return answer["cards"]


def rule_of(card: dict[str, Any]) -> str | None:
    return card["extension"].get("org.icaht.rule")


# a patient on day +20: ANC recovered, platelets 30 x10^9/L
RECOVERED = {d: 2500.0 for d in range(0, 21, 2)}
PLATELETS_30 = {d: 30.0 for d in range(0, 21, 2)}

PLATELETS_NOT_IRRADIATED = {
    "resourceType": "ServiceRequest",
    "id": "plt-nonirr",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": f"Patient/{PATIENT}"},
    "code": {"text": "Platelets, 1 adult dose"},
}
PLATELETS_IRRADIATED = PLATELETS_NOT_IRRADIATED | {
    "id": "plt-irr",
    "code": {"text": "Irradiated apheresis platelets"},
}
SARGRAMOSTIM = {
    "resourceType": "MedicationRequest",
    "id": "sargramostim",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": f"Patient/{PATIENT}"},
    "medicationCodeableConcept": {"text": "Sargramostim (Leukine) 250 mcg/m2 SC"},
}
ENOXAPARIN = {
    "resourceType": "MedicationRequest",
    "id": "enoxaparin",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": f"Patient/{PATIENT}"},
    "medicationCodeableConcept": {
        "coding": [{"system": "http://www.whocc.no/atc", "code": "B01AB05"}],
        "text": "Enoxaparin 40 mg SC daily",
    },
}
PARACETAMOL = SARGRAMOSTIM | {
    "id": "paracetamol",
    "medicationCodeableConcept": {"text": "Paracetamol 1 g PO"},
}


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_M01_non_irradiated_platelets_get_a_critical_card_with_a_replacement(
    app: Flask, hook: str
) -> None:
    """cds-hooks_2.0@92 @93 @95 @98 @100 @125 @127 @128 @131 @134: suggestion and actions."""
    cards = cards_for(
        app, request(hook, prefetch(20, RECOVERED, PLATELETS_30), [PLATELETS_NOT_IRRADIATED])
    )
    m01 = [c for c in cards if rule_of(c) == "M01"]
    assert len(m01) == 1
    card = m01[0]
    assert card["indicator"] == "critical"
    assert cards[0] is card or cards[0]["indicator"] == "critical"  # critical first
    assert card["selectionBehavior"] == "at-most-one"
    assert all(r["display"] for r in card["overrideReasons"])
    [suggestion] = card["suggestions"]
    actions = {a["type"]: a for a in suggestion["actions"]}
    assert actions["delete"]["resourceId"] == "ServiceRequest/plt-nonirr"
    created = ServiceRequest.model_validate(actions["create"]["resource"])
    assert created.code.text.startswith("Irradiated platelet")
    assert created.subject.reference == f"Patient/{PATIENT}"


def test_M01_quiet_for_irradiated_platelets(app: Flask) -> None:
    cards = cards_for(
        app, request("order-sign", prefetch(20, RECOVERED, PLATELETS_30), [PLATELETS_IRRADIATED])
    )
    assert "M01" not in {rule_of(c) for c in cards}


def test_M01_quiet_after_day_90(app: Flask) -> None:
    late = {d: 2500.0 for d in range(0, 101, 7)}
    plt = {d: 30.0 for d in range(0, 101, 7)}
    body = request("order-sign", prefetch(95, late, plt), [PLATELETS_NOT_IRRADIATED])
    assert "M01" not in {rule_of(c) for c in cards_for(app, body)}


def test_M05_gm_csf_after_car_t(app: Flask) -> None:
    cards = cards_for(
        app, request("order-sign", prefetch(20, RECOVERED, PLATELETS_30), [SARGRAMOSTIM])
    )
    [card] = [c for c in cards if rule_of(c) == "M05"]
    assert card["indicator"] == "warning"
    delete = card["suggestions"][0]["actions"][0]
    assert delete == {
        "type": "delete",
        "description": "Remove the draft order MedicationRequest/sargramostim",
        "resourceId": "MedicationRequest/sargramostim",
    }


def test_M21_anticoagulant_with_platelets_below_50(app: Flask) -> None:
    cards = cards_for(
        app, request("order-select", prefetch(20, RECOVERED, PLATELETS_30), [ENOXAPARIN])
    )
    assert "M21" in {rule_of(c) for c in cards}


def test_M21_quiet_with_platelets_at_50(app: Flask) -> None:
    platelets = {d: 50.0 for d in range(0, 21, 2)}
    cards = cards_for(
        app, request("order-select", prefetch(20, RECOVERED, platelets), [ENOXAPARIN])
    )
    assert "M21" not in {rule_of(c) for c in cards}


def test_an_unrelated_order_gets_no_card(app: Flask) -> None:
    cards = cards_for(
        app, request("order-sign", prefetch(20, RECOVERED, PLATELETS_30), [PARACETAMOL])
    )
    assert cards == []


def test_order_hooks_show_no_status_card(app: Flask) -> None:
    cards = cards_for(
        app, request("order-sign", prefetch(20, RECOVERED, PLATELETS_30), [SARGRAMOSTIM])
    )
    assert all(rule_of(c) for c in cards)


def test_patient_view_severe_neutropenia_on_day_10_status_and_g_csf_cards(app: Flask) -> None:
    anc = {0: 1800.0, 1: 900.0, **{d: 300.0 for d in range(2, 11)}}
    platelets = {d: 80.0 for d in range(0, 11)}
    cards = cards_for(app, request("patient-view", prefetch(10, anc, platelets)))
    rules = [rule_of(c) for c in cards]
    assert None in rules and "M03" in rules  # the status card and therapeutic G-CSF
    status = next(c for c in cards if rule_of(c) is None)
    assert status["extension"]["org.icaht.assessment"]["early_status"] == "provisional"
    # no Hb in the data: M13 cannot be decided, and the status card says so (issue 6)
    assert "Rules not evaluated for lack of data:" in status["detail"]
    assert "M13 (RBC transfusion threshold): a current Hb" in status["detail"]
    ranks = [{"critical": 0, "warning": 1, "info": 2}[c["indicator"]] for c in cards]
    assert ranks == sorted(ranks)
    assert all(len(c["summary"]) < 140 for c in cards)
    m03 = next(c for c in cards if rule_of(c) == "M03")
    assert "300" in m03["detail"]  # the rationale names the values
    [order] = [a["resource"] for a in m03["suggestions"][0]["actions"]]
    assert order["medicationCodeableConcept"]["coding"][0]["code"] == "68442"  # filgrastim


def test_patient_view_grade_0_without_alerts_is_quiet(app: Flask) -> None:
    """Grade 0 gives no ICAHT alert. Issue 14: with no antiviral prophylaxis on record the one
    alert left is the HSV/VZV prophylaxis reminder (M10), shown with the status card."""
    anc = {d: 2500.0 for d in range(0, 21)}
    platelets = {d: 180.0 for d in range(0, 21)}
    cards = cards_for(app, request("patient-view", prefetch(20, anc, platelets)))
    assert [rule_of(c) for c in cards if rule_of(c)] == ["M10"]


def test_same_data_same_cards(app: Flask) -> None:
    data = prefetch(20, RECOVERED, PLATELETS_30)
    first = cards_for(app, request("order-sign", data, [PLATELETS_NOT_IRRADIATED]))
    again = cards_for(app, request("order-sign", data, [PLATELETS_NOT_IRRADIATED]))
    assert first == again
    assert len({c["uuid"] for c in first}) == len(first)


def status_of(cards: list[dict[str, Any]]) -> dict[str, Any]:
    [status] = [c for c in cards if rule_of(c) is None]
    return status


def test_status_card_says_the_grade_rests_on_carried_forward_days(app: Flask) -> None:
    """Issue 12 (C16): ANC 300/µL daily to day 23, nothing after, seen on day 35: days 24-30
    are carried forward and the grade 4 rests on them."""
    anc = {0: 2000.0, **{d: 300.0 for d in range(1, 24)}}
    platelets = {d: 80.0 for d in range(0, 24)}
    status = status_of(cards_for(app, request("patient-view", prefetch(35, anc, platelets))))
    assert "Early N-ICAHT (days 0-30): 4 (final)." in status["detail"]
    assert "The grade rests on days 24-30 carried forward from day 23" in status["detail"]
    assert "/uL" not in status["detail"] and "×10⁹" not in status["detail"]


def test_status_card_names_the_bridged_rise(app: Flask) -> None:
    """Issue 16 (A4): day 2 measured at 940/µL lies inside the episode of days 0-17; the card
    says so instead of a bare "ANC <=500/µL on days 0-17" (read as "every day <= 500")."""
    anc = {**{d: 300.0 for d in range(0, 18)}, 2: 940.0, **{d: 2000.0 for d in range(18, 36)}}
    platelets = {d: 80.0 for d in range(0, 36)}
    status = status_of(cards_for(app, request("patient-view", prefetch(35, anc, platelets))))
    assert "Early N-ICAHT (days 0-30): 3 (final)." in status["detail"]
    assert (
        "ANC <=500/µL on days 0-17 (18 days; day 2 at 940/µL bridged as a transient rise)"
        in status["detail"]
    )


def test_status_card_names_preliminary_results(app: Flask) -> None:
    anc = {0: 1800.0, **{d: 300.0 for d in range(1, 11)}}
    data = prefetch(10, anc, {d: 80.0 for d in range(0, 11)})
    for entry in data["labs"]["entry"]:
        if entry["resource"]["id"] == "o-751-8-10":
            entry["resource"]["status"] = "preliminary"
    status = status_of(cards_for(app, request("patient-view", data)))
    assert "Preliminary results are used (day 10)" in status["detail"]
