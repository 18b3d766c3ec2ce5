"""Draft orders -> OrderIntent (order-select / order-sign)."""

from __future__ import annotations

import pytest
from mapping_helpers import load

from fhir_mappings import OrderIntent, map_draft_orders
from fhir_mappings.orders import selected_orders
from icaht.rules import DraftOrder


@pytest.fixture(scope="module")
def intents() -> dict[str, OrderIntent]:
    found = map_draft_orders(load("draft_orders.json"))
    return {i.reference: i for i in found}


@pytest.mark.parametrize(
    ("ref", "kind", "product", "irradiated"),
    [
        ("ServiceRequest/rbc-irr", "blood_product", "rbc", True),
        ("ServiceRequest/rbc-plain", "blood_product", "rbc", None),
        ("ServiceRequest/plt-irr", "blood_product", "platelets", True),
        # "non-irradiated" only in a note: unknown, not False (docs/clinical §17 C14)
        ("ServiceRequest/plt-nonirr", "blood_product", "platelets", None),
        ("MedicationRequest/filgrastim", "gcsf", "filgrastim", None),
        ("MedicationRequest/sargramostim", "gmcsf", "sargramostim", None),
        ("MedicationRequest/enoxaparin", "anticoagulant", "enoxaparin", None),
        ("MedicationRequest/cotrim", "myelosuppressive_drug", "co-trimoxazole", None),
        ("MedicationRequest/eltrombopag", "tpo_ra", "eltrombopag", None),
        ("ServiceRequest/marrow", "marrow_biopsy", "bone marrow biopsy", None),
        ("ServiceRequest/plt-count", "other", None, None),  # a lab test, not a product
        ("MedicationRequest/paracetamol", "other", None, None),
    ],
)
def test_intent(intents, ref, kind, product, irradiated) -> None:  # type: ignore[no-untyped-def]
    intent = intents[ref]
    assert (intent.kind, intent.product, intent.irradiated) == (kind, product, irradiated)


def test_every_request_gives_one_intent_medication_none() -> None:
    found = map_draft_orders(load("draft_orders.json"))
    assert len(found) == 13
    assert all(i.resource_type != "Medication" for i in found)


def test_order_without_id_is_referenced_by_full_url(intents) -> None:  # type: ignore[no-untyped-def]
    intent = intents["urn:uuid:6b7c1f0e-0001-4000-8000-000000000013"]
    assert (intent.kind, intent.resource_id, intent.display) == ("other", None, "Chest X-ray")


def test_display_and_ids(intents) -> None:  # type: ignore[no-untyped-def]
    intent = intents["MedicationRequest/filgrastim"]
    assert intent.display == "Filgrastim 5 mcg/kg SC daily"
    assert intent.resource_id == "filgrastim"


def test_bare_resources_and_list_of_bundles() -> None:
    bundle = load("draft_orders.json")
    single = bundle["entry"][4]["resource"]
    assert [i.kind for i in map_draft_orders([single])] == ["gcsf"]
    assert len(map_draft_orders([bundle, bundle])) == 26
    assert map_draft_orders({"resourceType": "Bundle", "type": "collection"}) == ()


def test_an_order_intent_becomes_the_engines_draft_order() -> None:
    intent = OrderIntent(
        kind="blood_product",
        resource_type="ServiceRequest",
        resource_id="sr-1",
        reference="ServiceRequest/sr-1",
        display="Platelet concentrate",
        product="platelets",
        irradiated=False,
    )
    assert intent.as_draft_order() == DraftOrder(
        "blood_product", "ServiceRequest/sr-1", "Platelet concentrate", "platelets", False
    )


def test_german_blood_product_names_are_blood_products() -> None:
    # M01 must see a German-named order; irradiation is read by fhir_mappings/irradiation.py
    orders = map_draft_orders(
        [
            {
                "resourceType": "ServiceRequest",
                "id": "tk",
                "status": "draft",
                "intent": "order",
                "code": {"text": "Thrombozytenkonzentrat, nicht bestrahlt"},
            },
            {
                "resourceType": "ServiceRequest",
                "id": "ek",
                "status": "draft",
                "intent": "order",
                "code": {"text": "Erythrozytenkonzentrat (bestrahlt)"},
            },
        ]
    )
    assert [(o.kind, o.product, o.irradiated) for o in orders] == [
        ("blood_product", "platelets", False),
        ("blood_product", "rbc", True),
    ]


def test_selected_orders_keeps_what_the_selections_name() -> None:
    """order-select `context.selections` (issue 18, decision 0026): "Type/id", an absolute URL
    ending in it, or the fullUrl of a draft without an id; other selections are ignored."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "MedicationRequest", "id": "a", "status": "draft"}},
            {"resource": {"resourceType": "MedicationRequest", "id": "b", "status": "draft"}},
            {
                "fullUrl": "urn:uuid:0b7c4a52-0000-4000-8000-000000000001",
                "resource": {"resourceType": "ServiceRequest", "status": "draft"},
            },
        ],
    }
    intents = map_draft_orders(bundle)
    refs = [i.reference for i in intents]
    assert refs[:2] == ["MedicationRequest/a", "MedicationRequest/b"]

    def chosen(*selections: object) -> list[str]:
        return [i.reference for i in selected_orders(intents, selections)]

    assert chosen("MedicationRequest/b") == ["MedicationRequest/b"]
    assert chosen("https://ehr.example.org/fhir/MedicationRequest/a") == ["MedicationRequest/a"]
    assert chosen(refs[2]) == [refs[2]]
    assert chosen("MedicationRequest/ab", "ServiceRequest/a", 7, "") == []
