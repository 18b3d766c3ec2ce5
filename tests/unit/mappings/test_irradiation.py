"""Irradiation of a blood product, read per field (docs/clinical §17 C14, decision 0012).

Each row: field kind, text, expected reading (True irradiated, False explicitly not, None
unknown). Then the combination of fields, and whole FHIR orders through map_draft_orders.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings import map_draft_orders
from fhir_mappings.irradiation import Field, FieldKind, combine, read_field

PHRASINGS: list[tuple[FieldKind, str, bool | None]] = [
    # -- order detail, English
    ("detail", "Irradiated", True),
    ("detail", "Irradiated: Yes", True),
    ("detail", "Irradiated: Y", True),
    ("detail", "Irradiated = true", True),
    ("detail", "Irradiated? yes", True),
    ("detail", "Irradiated (Y/N): Y", True),
    ("detail", "Irradiation required", True),
    ("detail", "Irradiation: required", True),
    ("detail", "Irradiated: 25 Gy", True),
    ("detail", "Special requirements: irradiated, leukoreduced", True),
    ("detail", "needs irradiated products", True),  # the order detail is the product (C14)
    ("detail", "Irradiation: No", False),
    ("detail", "No irradiation", False),
    ("detail", "irradiation not required", False),
    ("detail", "Irradiated: N", False),
    ("detail", "Irradiated? false", False),
    ("detail", "Irradiated (Y/N): N", False),
    ("detail", "Not irradiated", False),
    ("detail", "non-irradiated", False),
    ("detail", "Nonirradiated", False),
    ("detail", "un-irradiated", False),
    ("detail", "unirradiated", False),
    ("detail", "without irradiation", False),
    ("detail", "Leukoreduced; irradiated: no", False),
    ("detail", "Irradiated?", None),  # a question
    ("detail", "Irradiated (Y/N)", None),  # the form's question, unanswered
    ("detail", "Irradiated: ", None),
    ("detail", "Irradiation status: unknown", None),
    ("detail", "Irradiated if available", None),
    ("detail", "Irradiated, if available", None),
    ("detail", "irradiated preferred", None),
    ("detail", "Irradiated or non-irradiated", None),
    ("detail", "Irradiated? see note", None),
    ("detail", "Irradiated, not leukoreduced", None),  # C14: a negation in the same field
    ("detail", "not non-irradiated", None),  # double negation: ask
    ("detail", "Irradiated: yes; irradiation: no", None),  # contradiction inside the field
    ("detail", "Leukoreduced", None),  # silent
    ("detail", "CMV negative", None),  # "negative" is about CMV, and silent on irradiation
    # -- order detail, German
    ("detail", "bestrahlt", True),
    ("detail", "Bestrahlt: ja", True),
    ("detail", "Bestrahlung erforderlich", True),
    ("detail", "Bestrahlung? ja", True),
    ("detail", "nicht bestrahlt", False),
    ("detail", "bestrahlt: nein", False),
    ("detail", "Bestrahlung: nein", False),
    ("detail", "unbestrahlt", False),
    ("detail", "keine Bestrahlung", False),
    ("detail", "Bestrahlung nicht erforderlich", False),
    ("detail", "ohne Bestrahlung", False),
    ("detail", "bestrahlt?", None),
    ("detail", "Bestrahlung unbekannt", None),
    ("detail", "bestrahlt, falls verfügbar", None),
    ("detail", "kein unbestrahltes Produkt", None),  # double negation
    # -- code text / product name
    ("product", "Irradiated apheresis platelets", True),
    ("product", "Red blood cells, irradiated, 1 unit", True),
    ("product", "Platelets (irradiated)", True),
    ("product", "RED BLOOD CELLS|CPD>AS5/450mL/refg|Irr|ResLeu", True),  # ISBT 128 "Irr"
    ("product", "PLT APH LR IRR", True),
    ("product", "Erythrozytenkonzentrat, bestrahlt", True),
    ("product", "Bestrahltes Thrombozytenkonzentrat", True),
    ("product", "Red blood cells, non-irradiated, 1 unit", False),
    ("product", "Platelets, not irradiated", False),
    ("product", "Thrombozytenkonzentrat, unbestrahlt", False),
    ("product", "Platelets, 1 adult dose", None),
    ("product", "Irradiated platelets?", None),
    # -- display of a coding (same kind as the product's name)
    ("product", "Platelets - irradiated", True),
    ("product", "Red cells - filtered - irradiated", True),
    (
        "product",
        "Transfusion of Nonautologous Platelets into Peripheral Vein, Percutaneous Approach",
        None,  # "Nonautologous" is no negation of irradiation, and the display is silent
    ),
    # -- notes and patient instructions never give True
    ("note", "needs irradiated products", None),
    ("note", "Irradiated", None),
    ("note", "Patient requires irradiated blood products until day +90", None),
    ("note", "bestrahlte Produkte erforderlich", None),
    ("note", "Irradiation: No", False),  # kept, to contradict a positive product field
    ("note", "non-irradiated product acceptable", False),
    ("note", "Irradiated?", None),
    ("note", "Please transfuse over 2 hours", None),
]


def test_at_least_40_phrasings_in_english_and_german() -> None:
    assert len(PHRASINGS) >= 40
    assert {kind for kind, _, _ in PHRASINGS} == {"detail", "product", "note"}


@pytest.mark.parametrize(("kind", "text", "expected"), PHRASINGS)
def test_reading_of_one_field(kind: FieldKind, text: str, expected: bool | None) -> None:
    assert read_field(Field(kind, text)) is expected


# -- how fields combine (decision 0012) ----------------------------------------------------------

COMBINATIONS: list[tuple[str, list[Field], bool | None]] = [
    ("nothing said", [Field("product", "Platelets")], None),
    ("name says irradiated", [Field("product", "Irradiated platelets")], True),
    ("coded attribute", [Field("coded", "irradiated"), Field("product", "Platelets")], True),
    (
        "name and detail agree",
        [Field("product", "Irradiated RBC"), Field("detail", "Irradiated: Y")],
        True,
    ),
    (
        "name says yes, detail says no",
        [Field("product", "Irradiated platelets"), Field("detail", "Irradiation: No")],
        None,
    ),
    (
        "code says yes, detail says no",
        [Field("coded", "irradiated"), Field("detail", "nicht bestrahlt")],
        None,
    ),
    ("detail says no", [Field("product", "Platelets"), Field("detail", "Irradiation: No")], False),
    (
        "detail says no, note asks for irradiated",
        [Field("detail", "Irradiation: No"), Field("note", "needs irradiated products")],
        False,
    ),
    (
        "only a note says irradiated",
        [Field("product", "Platelets"), Field("note", "needs irradiated products")],
        None,
    ),
    (
        "only a note says not irradiated",
        [Field("product", "Platelets"), Field("note", "non-irradiated acceptable")],
        None,
    ),
    (
        "name says yes, note says no",
        [Field("product", "Irradiated platelets"), Field("note", "not irradiated")],
        None,
    ),
    (
        "name says yes, detail asks",
        [Field("product", "Irradiated platelets"), Field("detail", "Irradiated?")],
        None,
    ),
    (
        "name says yes, note mentions it again",
        [Field("product", "Irradiated platelets"), Field("note", "irradiated, CMV-neg")],
        True,
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in COMBINATIONS], ids=[c[0] for c in COMBINATIONS]
)
def test_fields_combine(fields: list[Field], expected: bool | None) -> None:
    assert combine(fields) is expected


# -- whole FHIR draft orders ---------------------------------------------------------------------


def _order(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": "bp-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Platelets, 1 adult dose"},
    } | fields


def _irradiated(res: dict[str, Any]) -> bool | None:
    [intent] = map_draft_orders([res])
    assert intent.kind == "blood_product"
    return intent.irradiated


V2_0508 = "http://terminology.hl7.org/CodeSystem/v2-0508"
ORDERS: list[tuple[str, dict[str, Any], bool | None]] = [
    ("plain order", _order(), None),
    ("detail Irradiation: No", _order(orderDetail=[{"text": "Irradiation: No"}]), False),
    ("detail Irradiated? false", _order(orderDetail=[{"text": "Irradiated? false"}]), False),
    ("detail nicht bestrahlt", _order(orderDetail=[{"text": "nicht bestrahlt"}]), False),
    ("detail irradiated", _order(orderDetail=[{"text": "Irradiated"}, {"text": "LR"}]), True),
    (
        "detail coded v2-0508 IR",
        _order(orderDetail=[{"coding": [{"system": V2_0508, "code": "IR"}]}]),
        True,
    ),
    (
        "detail coded v2-0508 LR only",
        _order(orderDetail=[{"coding": [{"system": V2_0508, "code": "LR"}]}]),
        None,
    ),
    (
        "code SNOMED Platelets - irradiated, no display",
        _order(
            code={
                "text": "Platelets",
                "coding": [{"system": "http://snomed.info/sct", "code": "256398006"}],
            }
        ),
        True,
    ),
    (
        "coded IR contradicted by detail text",
        _order(
            orderDetail=[
                {"coding": [{"system": V2_0508, "code": "IR"}]},
                {"text": "Irradiated: N"},
            ]
        ),
        None,
    ),
    ("code text irradiated", _order(code={"text": "Irradiated apheresis platelets"}), True),
    ("code text non-irradiated", _order(code={"text": "Platelets, non-irradiated"}), False),
    (
        "note only",
        _order(note=[{"text": "needs irradiated products"}]),
        None,
    ),
    ("patient instruction only", _order(patientInstruction="Irradiated products only"), None),
    (
        "R5 patient instruction only",
        _order(patientInstruction=[{"instructionMarkdown": "irradiated products"}]),
        None,
    ),
    (
        "irradiated name, note says not irradiated",
        _order(code={"text": "Irradiated platelets"}, note=[{"text": "product is not irradiated"}]),
        None,
    ),
    (
        "R5 orderDetail parameter valueBoolean false",
        _order(
            orderDetail=[{"parameter": [{"code": {"text": "Irradiated"}, "valueBoolean": False}]}]
        ),
        False,
    ),
    (
        "R5 orderDetail parameter valueBoolean true",
        _order(
            orderDetail=[{"parameter": [{"code": {"text": "Irradiated"}, "valueBoolean": True}]}]
        ),
        True,
    ),
    (
        "R5 orderDetail parameter coded value",
        _order(
            orderDetail=[
                {
                    "parameter": [
                        {
                            "code": {"text": "Processing"},
                            "valueCodeableConcept": {
                                "coding": [
                                    {"system": V2_0508, "code": "IR", "display": "Irradiated"}
                                ]
                            },
                        }
                    ]
                }
            ]
        ),
        True,
    ),
]


@pytest.mark.parametrize(("res", "expected"), [o[1:] for o in ORDERS], ids=[o[0] for o in ORDERS])
def test_draft_order_reading(res: dict[str, Any], expected: bool | None) -> None:
    assert _irradiated(res) is expected


def test_drug_orders_have_no_irradiation_reading() -> None:
    gcsf = {
        "resourceType": "MedicationRequest",
        "id": "g",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "Filgrastim 5 mcg/kg"},
        "note": [{"text": "irradiated"}],
    }
    [intent] = map_draft_orders([gcsf])
    assert (intent.kind, intent.irradiated) == ("gcsf", None)
