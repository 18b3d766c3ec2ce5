"""Supportive drugs (antivirals, PJP agents, antifungals, antibacterial prophylaxis,
corticosteroids, IVIG, TPO-RA) from MedicationAdministration, MedicationRequest and
MedicationStatement, and blood products given as a MedicationAdministration or named by a used
BiologicallyDerivedProduct (issue 14, docs/decisions/0020)."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import pytest
from mapping_helpers import reasons

from fhir_mappings import MappingResult, MappingSettings, map_patient
from icaht.record import DrugCourse, SupportiveGroup, TherapyTimeline, Transfusion

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SUBJECT = {"reference": "Patient/p"}
JUNE = "2026-06-{:02d}T09:00:00+02:00"


def coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def given(rid: str, day: int, concept: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": concept,
        "subject": SUBJECT,
        "effectiveDateTime": JUNE.format(day),
    }
    return base | fields


def ordered(rid: str, concept: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": SUBJECT,
        "authoredOn": JUNE.format(3),
    }
    return base | fields


def taken(rid: str, status: str, concept: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": concept,
        "subject": SUBJECT,
    }
    return base | fields


def mapped(*resources: Any) -> MappingResult:
    return map_patient(list(resources), patient_id="p", tz="Europe/Berlin")


def timeline(*resources: Any) -> TherapyTimeline:
    return mapped(*resources).record.timeline


def june(day: int) -> date:
    return date(2026, 6, day)


def bounds(start: int, end: int | None = None) -> list[dict[str, Any]]:
    period = {"start": JUNE.format(start)} | ({"end": JUNE.format(end)} if end else {})
    return [{"timing": {"repeat": {"boundsPeriod": period}}}]


# -- the drugs, by code and by name -----------------------------------------------------------


@pytest.mark.parametrize(
    ("concept", "group", "name"),
    [
        (coded(RXNORM, "281"), "antiviral", "aciclovir"),
        (coded(ATC, "J05AB11"), "antiviral", "valaciclovir"),
        (coded(ATC, "J05AB09"), "antiviral", "famciclovir"),
        ({"text": "Valtrex 500 mg tablet"}, "antiviral", "valaciclovir"),  # names only
        (coded(RXNORM, "10831"), "pjp", "co-trimoxazole"),
        (coded(ATC, "P01CX01"), "pjp", "pentamidine"),
        (coded(ATC, "P01AX06"), "pjp", "atovaquone"),
        (coded(RXNORM, "3108"), "pjp", "dapsone"),
        (coded(RXNORM, "282446"), "antifungal", "posaconazole"),
        (coded(ATC, "J02AX05"), "antifungal", "micafungin"),
        (coded(ATC, "J02AA01"), "antifungal", "amphotericin b"),
        (coded(RXNORM, "82122"), "antibacterial_prophylaxis", "levofloxacin"),
        (coded(ATC, "J01MA02"), "antibacterial_prophylaxis", "ciprofloxacin"),
        (coded(RXNORM, "3264"), "corticosteroid", "dexamethasone"),
        (coded(ATC, "H02AB04"), "corticosteroid", "methylprednisolone"),
        (coded(ATC, "J06BA02"), "ivig", "immune globulin intravenous"),
        ({"text": "Privigen 10% infusion"}, "ivig", "immune globulin intravenous"),
        (coded(RXNORM, "711942"), "tpo_ra", "eltrombopag"),
        (coded(ATC, "B02BX04"), "tpo_ra", "romiplostim"),
    ],
)
def test_a_dose_given_is_a_one_day_course(concept: dict[str, Any], group: str, name: str) -> None:
    drugs = [d for d in timeline(given("a", 5, concept)).supportive_drugs if d.group == group]
    expected = DrugCourse(
        june(5), june(5), "MedicationAdministration/a", cast(SupportiveGroup, group), name
    )
    assert drugs == [expected]


def test_cmv_only_antiviral_and_unknown_drug_are_no_supportive_drug() -> None:
    tl = timeline(given("l", 5, {"text": "letermovir 480 mg"}), given("x", 5, {"text": "vitamin"}))
    assert tl.supportive_drugs == ()


def test_a_dose_not_given_is_left_out() -> None:
    res = mapped(given("a", 5, coded(RXNORM, "281"), status="not-done"))
    assert res.record.timeline.supportive_drugs == ()
    assert reasons(res) == {"MedicationAdministration/a": "status-not-usable"}


# -- orders ------------------------------------------------------------------------------------


def test_an_active_order_covers_its_bounds() -> None:
    tl = timeline(ordered("r", coded(RXNORM, "281"), dosageInstruction=bounds(2, 20)))
    [course] = tl.supportive_drugs
    assert (course.start, course.end, course.recorded) == (june(2), june(20), "ordered")


def test_an_active_order_without_bounds_is_open_from_authored_on() -> None:
    [course] = timeline(ordered("r", coded(RXNORM, "281"))).supportive_drugs
    assert (course.start, course.end) == (june(3), None)


@pytest.mark.parametrize(
    ("intent", "counts"),
    [
        ("order", True),
        ("original-order", True),
        ("instance-order", True),
        ("filler-order", True),
        ("proposal", False),  # a suggestion is no order
        ("plan", False),
        ("reflex-order", False),
        ("option", False),
        (None, False),
    ],
)
def test_only_orders_count(intent: str | None, counts: bool) -> None:
    tl = timeline(ordered("r", coded(RXNORM, "281"), intent=intent))
    assert bool(tl.supportive_drugs) is counts


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("active", True),
        ("completed", False),  # as G-CSF (C15): only an active order is on record as ordered
        ("stopped", False),
        ("cancelled", False),
        ("draft", False),
        ("on-hold", False),
        ("entered-in-error", False),
    ],
)
def test_only_active_orders_count(status: str, counts: bool) -> None:
    tl = timeline(ordered("r", coded(RXNORM, "3264"), status=status))
    assert bool(tl.supportive_drugs) is counts


def test_a_completed_co_trimoxazole_order_is_still_a_myelosuppressive_period() -> None:
    tl = timeline(ordered("r", coded(RXNORM, "10831"), status="completed"))
    assert tl.supportive_drugs == ()
    assert [p.start for p in tl.myelosuppressive_drug_periods] == [june(3)]


def test_an_order_without_any_date_is_left_out() -> None:
    res = mapped(ordered("r", coded(RXNORM, "281"), authoredOn=None))
    assert res.record.timeline.supportive_drugs == ()
    assert reasons(res) == {"MedicationRequest/r": "no-time"}


# -- statements --------------------------------------------------------------------------------


def test_statements_taken_open_or_on_their_day() -> None:
    tl = timeline(
        taken("s1", "active", coded(RXNORM, "282446"), effectivePeriod={"start": JUNE.format(1)}),
        taken("s2", "completed", coded(ATC, "B02BX04"), effectiveDateTime=JUNE.format(4)),
    )
    assert [(d.group, d.start, d.end, d.recorded) for d in tl.supportive_drugs] == [
        ("antifungal", june(1), None, "taken"),
        ("tpo_ra", june(4), june(4), "taken"),
    ]


@pytest.mark.parametrize("status", ["stopped", "not-taken", "intended", "on-hold", "unknown"])
def test_statements_not_taken_are_left_out(status: str) -> None:
    res = mapped(taken("s", status, coded(RXNORM, "282446"), effectiveDateTime=JUNE.format(1)))
    assert res.record.timeline.supportive_drugs == ()
    assert reasons(res) == {"MedicationStatement/s": "status-not-usable"}


def test_tpo_ra_from_all_three_resources_oldest_first() -> None:
    tl = timeline(
        ordered("r", coded(ATC, "B02BX05"), dosageInstruction=bounds(10)),
        given("a", 8, {"text": "Nplate 250 mcg"}),
        taken("s", "completed", coded(ATC, "B02BX08"), effectiveDateTime=JUNE.format(2)),
    )
    assert [(d.name, d.start, d.recorded) for d in tl.supportive_drugs] == [
        ("avatrombopag", june(2), "taken"),
        ("romiplostim", june(8), "given"),
        ("eltrombopag", june(10), "ordered"),
    ]


# -- blood products ----------------------------------------------------------------------------


def _platelets(dose: dict[str, Any] | None = None, text: str = "Platelets, apheresis") -> Any:
    fields = {"dosage": {"dose": dose}} if dose is not None else {}
    return given("t", 7, {"text": text}, **fields)


@pytest.mark.parametrize(
    ("dose", "units"),
    [
        (None, 1),  # no quantity stated: one unit per record
        ({"value": 2, "unit": "{unit}"}, 2),
        ({"value": 2, "unit": "units"}, 2),
        ({"value": 1, "code": "U"}, 1),
        ({"value": 3, "unit": "bags"}, 3),
        ({"value": 300, "unit": "mL"}, 1),  # a volume is not a count of units
        ({"value": 1.5, "unit": "{unit}"}, 1),
        ({"value": 0, "unit": "{unit}"}, 1),
        ({"value": 10, "unit": "{unit}"}, 10),
    ],
)
def test_blood_product_administration_units(dose: dict[str, Any] | None, units: int) -> None:
    [t] = timeline(_platelets(dose)).transfusions
    assert (t.day, t.product, t.units, t.source_id) == (
        june(7),
        "platelets",
        units,
        "MedicationAdministration/t",
    )


def test_implausible_unit_count_is_one_with_a_warning() -> None:
    res = mapped(_platelets({"value": 11, "unit": "{unit}"}))
    assert [t.units for t in res.record.timeline.transfusions] == [1]
    assert [w.code for w in res.warnings] == ["implausible-units"]


def test_blood_product_administration_irradiated_by_its_name() -> None:
    [t] = timeline(_platelets(text="Irradiated platelets, apheresis")).transfusions
    assert t.irradiated is True


def test_platelet_count_is_no_transfusion() -> None:
    assert timeline(_platelets(text="Platelet count")).transfusions == ()


def _product(rid: str, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "BiologicallyDerivedProduct",
        "id": rid,
        "productCode": {"text": text},
    } | fields


def _generic_transfusion(**fields: Any) -> dict[str, Any]:
    # SNOMED CT 116859006 "Transfusion of blood product": not in the value set, no product
    base = {
        "resourceType": "Procedure",
        "id": "tx",
        "status": "completed",
        "subject": SUBJECT,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "116859006"}]},
        "performedDateTime": JUNE.format(9),
    }
    return base | fields


def test_procedure_using_a_blood_product_is_a_transfusion_of_that_product() -> None:
    r4 = _generic_transfusion(usedReference=[{"reference": "BiologicallyDerivedProduct/u1"}])
    tl = timeline(r4, _product("u1", "Red blood cells, leukocyte reduced"))
    assert tl.transfusions == (Transfusion(june(9), "rbc", source_id="Procedure/tx"),)
    r5 = _generic_transfusion(used=[{"reference": {"reference": "BiologicallyDerivedProduct/u1"}}])
    tl5 = timeline(r5, _product("u1", "Irradiated apheresis platelets"))
    assert [(t.product, t.irradiated) for t in tl5.transfusions] == [("platelets", True)]


def test_blood_product_alone_or_unresolved_is_no_transfusion() -> None:
    # R4 has no dispense of a product: without a Procedure the product is stock, not a dose
    assert timeline(_product("u1", "Red blood cells")).transfusions == ()
    missing = _generic_transfusion(usedReference=[{"reference": "BiologicallyDerivedProduct/u9"}])
    assert timeline(missing).transfusions == ()


@pytest.mark.parametrize("code", ["797990", "5657", "73645"])
def test_unverified_issue_codes_stay_off_by_default(code: str) -> None:
    # romiplostim, immune globulin and valacyclovir RxNorm codes from the issue text could not
    # be verified (decision record 0015): names and ATC codes recognise these drugs instead
    assert timeline(given("a", 5, coded(RXNORM, code))).supportive_drugs == ()
    loose = MappingSettings(use_unverified_codes=True)
    res = map_patient([given("a", 5, coded(RXNORM, code))], patient_id="p", mapping_settings=loose)
    assert len(res.record.timeline.supportive_drugs) == 1
