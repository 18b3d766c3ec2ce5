"""Drugs as EHRs code them (issue 12, decision record 0015): RxNorm ingredients, clinical and
branded drugs, ATC, and RxNorm-style names when no code is known."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fhir_mappings import map_draft_orders
from fhir_mappings.orders import ORDER_GROUPS
from fhir_mappings.tables import read_package_yaml
from fhir_mappings.timeline import COND_GROUPS, MED_GROUPS, PROC_GROUPS
from fhir_mappings.valuesets import default_value_sets, ingredient_names

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
VS = read_package_yaml("valuesets.yaml")
PRODUCTS = read_package_yaml("rxnorm_products.yaml")
VALUE_SET_ONLY = {"car_t_preparation", "cmv_antiviral"}
# read by the timeline since issue 14 (decision record 0020)
SUPPORTIVE = {
    "antiviral",
    "antifungal",
    "antibacterial_prophylaxis",
    "pjp",
    "corticosteroid",
    "ivig",
    "tpo_ra",
}
LYMPHODEPLETION = {"cyclophosphamide", "fludarabine", "bendamustine"}


def _order(concept: dict[str, Any], rid: str = "o1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/p"},
    }


def _intent(concept: dict[str, Any]) -> tuple[str, str | None]:
    (intent,) = map_draft_orders([_order(concept)])
    return intent.kind, intent.product


# -- the failures named in the issue ------------------------------------------------------------


def test_rxnorm_scd_of_co_trimoxazole_is_a_myelosuppressive_order() -> None:
    concept = {
        "coding": [
            {
                "system": RXNORM,
                "code": "198335",
                "display": "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet",
            }
        ]
    }
    assert _intent(concept) == ("myelosuppressive_drug", "co-trimoxazole")


def test_atc_j01ee01_is_co_trimoxazole_by_code_and_by_its_display() -> None:
    coded = {"coding": [{"system": ATC, "code": "J01EE01"}]}
    assert _intent(coded) == ("myelosuppressive_drug", "co-trimoxazole")
    local = {
        "coding": [
            {"system": "urn:local", "code": "X1", "display": "sulfamethoxazole and trimethoprim"}
        ]
    }
    assert _intent(local) == ("myelosuppressive_drug", "co-trimoxazole")


def test_co_trimoxazole_from_a_referenced_medication_with_an_rxnorm_code() -> None:
    med = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": RXNORM, "code": "198334"}]},  # 400/80 MG tablet
    }
    order = _order({}, "o2")
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/m1"}
    (intent,) = map_draft_orders([med, order])
    assert (intent.kind, intent.product) == ("myelosuppressive_drug", "co-trimoxazole")


def test_the_combination_keeps_the_name_that_m11_and_m19_read() -> None:
    names = {
        c.name
        for c in default_value_sets().match({"coding": [{"system": RXNORM, "code": "198335"}]})
    }
    assert names == {"co-trimoxazole"}  # icaht/rules/supportive.py TMP_SMX_NAMES


# -- branded drugs, salts, unknown drugs --------------------------------------------------------


def test_branded_drug_with_brand_in_brackets_by_code() -> None:
    lovenox = {"coding": [{"system": RXNORM, "code": "854236"}]}  # 0.4 ML ... [Lovenox]
    assert _intent(lovenox) == ("anticoagulant", "enoxaparin")


@pytest.mark.parametrize(
    ("text", "kind", "product"),
    [
        (
            "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet [Bactrim]",
            "myelosuppressive_drug",
            "co-trimoxazole",
        ),
        ("valganciclovir 450 MG Oral Tablet [Valcyte]", "myelosuppressive_drug", "valganciclovir"),
        (
            "valganciclovir hydrochloride 496.3 MG Oral Tablet",
            "myelosuppressive_drug",
            "valganciclovir",
        ),
        ("dabigatran etexilate mesylate 150 MG Oral Capsule", "anticoagulant", "dabigatran"),
        (
            "0.6 ML pegfilgrastim-jmdb 10 MG/ML Prefilled Syringe [Fulphila]",
            "gcsf",
            "pegfilgrastim",
        ),
        ("300 MCG/0.5 ML filgrastim-aafi Prefilled Syringe", "gcsf", "filgrastim"),
        (
            "trimethoprim 100 MG Oral Tablet",
            "other",
            None,
        ),  # trimethoprim alone is not co-trimoxazole
        ("paracetamol 500 MG Oral Tablet", "other", None),
        ("posaconazole 100 MG Delayed Release Oral Tablet", "other", None),  # value-set data only
    ],
)
def test_uncoded_rxnorm_names(text: str, kind: str, product: str | None) -> None:
    unknown_code = {"coding": [{"system": RXNORM, "code": "999999999", "display": text}]}
    assert _intent(unknown_code) == (kind, product)


def test_unknown_rxnorm_product_code_stays_other() -> None:
    trimethoprim_alone = {"coding": [{"system": RXNORM, "code": "198332"}]}
    assert _intent(trimethoprim_alone) == ("other", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet",
            ("sulfamethoxazole", "trimethoprim"),
        ),
        ("sulfamethoxazole and trimethoprim", ("sulfamethoxazole", "trimethoprim")),
        ("valganciclovir hydrochloride 450 MG Oral Tablet", ("valganciclovir",)),
        ("0.5 MG/ML dexamethasone Oral Solution", ("dexamethasone",)),
        ("300 MCG/0.5 ML filgrastim Prefilled Syringe", ("filgrastim",)),
        ("{21 (prednisone 5 MG Oral Tablet) } Pack", ("prednisone",)),
        ("heparin sodium, porcine 5000 UNT/ML Injectable Solution", ("heparin",)),
        ("24 HR ciprofloxacin 500 MG Extended Release Oral Tablet", ("ciprofloxacin",)),
        ("enoxaparin sodium 100 MG/ML Injectable Solution [Lovenox]", ("enoxaparin",)),
    ],
)
def test_ingredient_names_read_rxnorm_naming(text: str, expected: tuple[str, ...]) -> None:
    assert ingredient_names(text) == expected


def test_codes_come_before_names() -> None:
    # a coding that matches wins over a text that names another drug
    mixed = {"coding": [{"system": RXNORM, "code": "854236"}], "text": "co-trimoxazole"}
    assert _intent(mixed) == ("anticoagulant", "enoxaparin")


# -- the new groups do not change the timeline or the orders ------------------------------------


def test_value_set_only_groups_are_read_by_nobody_yet() -> None:
    assert VALUE_SET_ONLY.isdisjoint(MED_GROUPS | PROC_GROUPS | COND_GROUPS | ORDER_GROUPS)
    groups = {r["group"] for r in VS["concepts"]} | {
        g for r in VS["concepts"] for g in r.get("also") or ()
    }
    assert groups >= VALUE_SET_ONLY


@pytest.mark.parametrize("code", ["282446", "121243", "281", "6902", "10831", "3264", "82122"])
def test_supportive_drugs_are_known_with_their_group_and_read(code: str) -> None:
    found = default_value_sets().match({"coding": [{"system": RXNORM, "code": code}]})
    assert found and {c.group for c in found} & SUPPORTIVE
    assert SUPPORTIVE <= MED_GROUPS


def test_cmv_only_antivirals_are_not_hsv_vzv_prophylaxis() -> None:
    # letermovir and maribavir do not protect against HSV/VZV: M10 must not read them
    vs = default_value_sets()
    for name in ("letermovir", "maribavir"):
        assert {c.group for c in vs.match({"text": name})} == {"cmv_antiviral"}


def test_co_trimoxazole_is_a_pjp_agent_and_valganciclovir_an_antiviral() -> None:
    vs = default_value_sets()
    cotrim = vs.match({"coding": [{"system": RXNORM, "code": "198335"}]})
    assert {c.group for c in cotrim} == {"myelosuppressive_drug", "pjp"}
    valgan = vs.match({"coding": [{"system": ATC, "code": "J05AB14"}]})
    assert {c.group for c in valgan} == {"myelosuppressive_drug", "antiviral"}


# -- next therapy: never a lymphodepletion agent or a steroid ----------------------------------


def test_lymphodepletion_agents_and_steroids_are_not_next_therapy() -> None:
    vs = default_value_sets()
    for row in VS["concepts"]:
        if row["group"] not in {"lymphodepletion", "corticosteroid"}:
            continue
        for word in [row["name"], *(row.get("names") or ())]:
            assert all(c.group != "next_therapy" for c in vs.match({"text": word})), word
        for c in row.get("codes") or ():
            coded = {
                "coding": [
                    {"system": {"rxnorm": RXNORM, "atc": ATC}[c["system"]], "code": c["code"]}
                ]
            }
            assert all(x.group != "next_therapy" for x in vs.match(coded)), c
    for p in PRODUCTS["products"]:
        if set(p["ingredients"]) & (
            LYMPHODEPLETION | {"dexamethasone", "prednisone", "methylprednisolone"}
        ):
            found = vs.match({"coding": [{"system": RXNORM, "code": p["code"]}]})
            assert found and all(c.group != "next_therapy" for c in found), p


def test_next_therapy_lists_no_lymphodepletion_agent_or_steroid() -> None:
    names = {r["name"] for r in VS["concepts"] if r["group"] == "next_therapy"}
    assert names.isdisjoint(LYMPHODEPLETION | {"dexamethasone", "prednisone", "methylprednisolone"})


# -- the product table ------------------------------------------------------------------------


def test_every_product_row_has_a_source_and_resolves_to_a_concept() -> None:
    vs = default_value_sets()
    seen: set[str] = set()
    vs_codes = {
        str(c["code"])
        for r in VS["concepts"]
        for c in r.get("codes") or ()
        if c["system"] == "rxnorm"
    }
    assert PRODUCTS["system"] == "rxnorm"
    for p in PRODUCTS["products"]:
        code = str(p["code"])
        assert re.fullmatch(r"\d+", code), p
        assert p["source"] in PRODUCTS["sources"], p
        assert p["tty"] in {
            "SCD",
            "SBD",
            "SCDF",
            "SBDF",
            "SCDC",
            "SBDC",
            "SCDG",
            "SBDG",
            "GPCK",
            "BPCK",
            "BN",
        }, p
        assert code not in seen and code not in vs_codes, p  # one row per code, one file per code
        seen.add(code)
        assert vs.match({"coding": [{"system": RXNORM, "code": code}]}), p


def test_a_product_maps_to_the_combination_concept_not_to_its_parts() -> None:
    rows = [
        p
        for p in PRODUCTS["products"]
        if set(p["ingredients"]) == {"sulfamethoxazole", "trimethoprim"}
    ]
    assert {p["code"] for p in rows} >= {"198334", "198335"}
