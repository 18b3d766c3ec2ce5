"""Issue 14 findings from FHIR: infections, bleeding and disease (Conditions), fever (body
temperature Observations) and positive blood cultures (decision record 0021)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from mapping_helpers import labs_of, reasons

from fhir_mappings import MappingResult, culture_loinc_codes, loinc_codes, map_patient
from fhir_mappings.units import UnitConverter, UnitError, ucum_factor
from icaht.record import Analyte, Infection, Period

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
PATIENT = {"resourceType": "Patient", "id": "p1"}


def _status(system_tail: str, code: str) -> dict[str, Any]:
    url = f"http://terminology.hl7.org/CodeSystem/condition-{system_tail}"
    return {"coding": [{"system": url, "code": code}]}


def condition(cid: str, code: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A Condition of patient p1; `status`/`verification` set clinical/verification status."""
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "code": code,
    }
    status = fields.pop("status", None)
    if status is not None:
        res["clinicalStatus"] = _status("clinical", status)
    verification = fields.pop("verification", None)
    if verification is not None:
        res["verificationStatus"] = _status("ver-status", verification)
    res.update(fields)
    return res


def coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def mapped(*resources: dict[str, Any], tz: str = "UTC") -> MappingResult:
    return map_patient([PATIENT, *resources], patient_id="p1", tz=tz)


def infections(*resources: dict[str, Any]) -> tuple[Infection, ...]:
    found = mapped(*resources).record.timeline.infections
    assert found is not None
    return found


# -- infections ------------------------------------------------------------------------------


def test_active_sepsis_is_an_open_infection_from_its_onset() -> None:
    got = infections(
        condition("c1", coded(ICD, "A41.9"), status="active", onsetDateTime="2026-06-10")
    )
    assert got == (Infection(date(2026, 6, 10), None, "Condition/c1", kind="sepsis"),)


def test_no_status_and_no_abatement_is_open_but_resolved_without_date_ends_on_onset() -> None:
    open_, resolved, inactive = infections(
        condition("c1", coded(ICD, "J18.9"), onsetDateTime="2026-06-10"),
        condition("c2", coded(ICD, "J18.9"), status="resolved", onsetDateTime="2026-06-11"),
        condition("c3", coded(ICD, "J18.9"), status="inactive", onsetDateTime="2026-06-12"),
    )
    assert (open_.kind, open_.end) == ("pneumonia", None)
    assert resolved.end == date(2026, 6, 11)
    assert inactive.end == date(2026, 6, 12)


@pytest.mark.parametrize("status", ["recurrence", "relapse"])
def test_recurrence_and_relapse_stay_open(status: str) -> None:
    (got,) = infections(
        condition("c1", coded(ICD, "A41.9"), status=status, onsetDateTime="2026-06-10")
    )
    assert got.end is None


def test_abatement_date_or_period_ends_the_record() -> None:
    by_date, by_period = infections(
        condition(
            "c1",
            coded(ICD, "A41.9"),
            status="resolved",
            onsetDateTime="2026-06-10",
            abatementDateTime="2026-06-14T08:00:00Z",
        ),
        condition(
            "c2",
            coded(ICD, "A41.9"),
            onsetPeriod={"start": "2026-06-11"},
            abatementPeriod={"start": "2026-06-15", "end": "2026-06-16"},
        ),
    )
    assert (by_date.start, by_date.end) == (date(2026, 6, 10), date(2026, 6, 14))
    assert (by_period.start, by_period.end) == (date(2026, 6, 11), date(2026, 6, 16))


def test_recorded_date_when_there_is_no_onset() -> None:
    (got,) = infections(
        condition("c1", coded(SCT, "91302008"), status="active", recordedDate="2026-06-09")
    )
    assert (got.start, got.kind) == (date(2026, 6, 9), "sepsis")


def test_no_date_at_all_is_left_out() -> None:
    result = mapped(condition("c1", coded(ICD, "A41.9"), status="active"))
    assert result.record.timeline.infections == ()
    assert reasons(result)["Condition/c1"] == "no-time"


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_or_entered_in_error_is_left_out(verification: str) -> None:
    result = mapped(
        condition(
            "c1",
            coded(ICD, "A41.9"),
            status="active",
            verification=verification,
            onsetDateTime="2026-06-10",
        )
    )
    assert result.record.timeline.infections == ()
    assert reasons(result)["Condition/c1"] == "entered-in-error"


@pytest.mark.parametrize(
    ("system", "code", "kind"),
    [
        (ICD, "A40.0", "sepsis"),
        (ICD, "R78.81", "bacteraemia"),
        (SCT, "5758002", "bacteraemia"),
        (SCT, "233604007", "pneumonia"),
        (SCT, "409089005", "febrile_neutropenia"),
        (ICD, "B37.7", "invasive_fungal"),
        (ICD, "B25.9", "viral"),
        (ICD, "B00.7", "viral"),
        (ICD, "B02.9", "viral"),
        (SCT, "4740000", "viral"),
    ],
)
def test_infection_kinds_by_icd10cm_and_snomed(system: str, code: str, kind: str) -> None:
    (got,) = infections(condition("c1", coded(system, code), onsetDateTime="2026-06-10"))
    assert got.kind == kind


def test_invasive_mould_is_an_infection_and_a_prior_mould_infection() -> None:
    result = mapped(condition("c1", coded(ICD, "B44.1"), onsetDateTime="2026-06-10"))
    timeline = result.record.timeline
    assert [i.kind for i in timeline.infections or ()] == ["invasive_fungal"]
    assert timeline.prior_invasive_mould_infection is True
    # an invasive yeast infection is no mould
    yeast = mapped(condition("c2", coded(ICD, "B37.7"), onsetDateTime="2026-06-10"))
    assert yeast.record.timeline.prior_invasive_mould_infection is None


def test_name_only_when_no_code_matches() -> None:
    local = {"coding": [{"system": "urn:local", "code": "FN"}], "text": "Febrile neutropenia"}
    (got,) = infections(condition("c1", local, onsetDateTime="2026-06-10"))
    assert got.kind == "febrile_neutropenia"
    # a text that names no finding adds nothing
    assert infections(condition("c2", {"text": "Fatigue"}, onsetDateTime="2026-06-10")) == ()


def test_no_findings_on_record_are_empty_tuples_not_unknown() -> None:
    timeline = mapped().record.timeline
    assert timeline.infections == ()
    assert timeline.bleeding == ()
    assert timeline.disease is None


def test_another_patients_condition_is_left_out() -> None:
    other = condition("c9", coded(ICD, "A41.9"), onsetDateTime="2026-06-10")
    other["subject"] = {"reference": "Patient/someone-else"}
    result = mapped(other)
    assert result.record.timeline.infections == ()
    assert reasons(result)["Condition/c9"] == "other-patient"


# -- bleeding --------------------------------------------------------------------------------


def test_bleeding_conditions_are_periods() -> None:
    result = mapped(
        condition("b1", coded(ICD, "R58"), status="active", onsetDateTime="2026-06-10"),
        condition(
            "b2",
            coded(ICD, "K92.2"),
            status="resolved",
            onsetDateTime="2026-06-01",
            abatementDateTime="2026-06-03",
        ),
        condition("b3", coded(ICD, "I61.9"), status="resolved", onsetDateTime="2026-05-01"),
        condition("b4", coded(SCT, "131148009"), onsetDateTime="2026-06-12"),
        condition("b5", {"text": "Epistaxis"}, recordedDate="2026-06-13"),
    )
    assert result.record.timeline.bleeding == (
        Period(date(2026, 5, 1), date(2026, 5, 1), "Condition/b3"),
        Period(date(2026, 6, 1), date(2026, 6, 3), "Condition/b2"),
        Period(date(2026, 6, 10), None, "Condition/b1"),
        Period(date(2026, 6, 12), None, "Condition/b4"),
        Period(date(2026, 6, 13), None, "Condition/b5"),
    )
    assert result.record.timeline.infections == ()


def test_bleeding_risk_is_no_bleeding() -> None:
    result = mapped(condition("b1", {"text": "High bleeding risk"}, onsetDateTime="2026-06-10"))
    assert result.record.timeline.bleeding == ()


# -- disease ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "code", "disease"),
    [
        (ICD, "C83.30", "LBCL"),
        (ICD, "C83.3A", "LBCL"),  # in remission (FY2025)
        (ICD, "C85.20", "LBCL"),  # primary mediastinal
        (SCT, "109969005", "LBCL"),
        (ICD, "C82.40", "FL"),  # grade IIIb stays follicular
        (ICD, "C83.10", "MCL"),
        (SCT, "443487006", "MCL"),
        (ICD, "C91.00", "B-ALL"),
        (SCT, "91857003", "B-ALL"),
        (ICD, "C90.00", "MM"),
        (SCT, "109989006", "MM"),
        (ICD, "C91.10", "CLL"),
        (SCT, "92814006", "CLL"),
    ],
)
def test_disease_by_code(system: str, code: str, disease: str) -> None:
    result = mapped(condition("d1", coded(system, code), recordedDate="2025-03-01"))
    assert result.record.timeline.disease == disease


def test_the_most_recent_disease_condition_wins() -> None:
    result = mapped(
        condition("d1", coded(ICD, "C82.90"), onsetDateTime="2023-02-01"),
        condition("d2", coded(ICD, "C83.30"), onsetDateTime="2025-05-01"),  # transformed
        condition("d3", coded(ICD, "C90.00"), onsetDateTime="2026-01-01", verification="refuted"),
    )
    assert result.record.timeline.disease == "LBCL"


def test_two_diseases_on_the_same_day_choose_by_order_and_warn() -> None:
    result = mapped(
        condition("d1", coded(ICD, "C82.90"), recordedDate="2025-05-01"),
        condition("d2", coded(ICD, "C83.30"), recordedDate="2025-05-01"),
    )
    assert result.record.timeline.disease == "LBCL"
    (warning,) = [w for w in result.warnings if w.code == "disease-ambiguous"]
    assert "FL" in warning.text and "LBCL" in warning.text


def test_relapse_code_gives_the_disease_and_the_relapse() -> None:
    result = mapped(
        {
            "resourceType": "Procedure",
            "id": "cart",
            "subject": {"reference": "Patient/p1"},
            "status": "completed",
            "code": coded("http://www.ama-assn.org/go/cpt", "38228"),
            "performedDateTime": "2026-06-01",
        },
        condition("d1", coded(ICD, "C91.02"), onsetDateTime="2026-07-20"),
    )
    timeline = result.record.timeline
    assert (timeline.disease, timeline.relapse_day) == ("B-ALL", date(2026, 7, 20))


# -- fever: body temperature -----------------------------------------------------------------


def temperature(oid: str, value: float, unit: str, code: str = "8310-5") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": coded(LOINC, code),
        "effectiveDateTime": "2026-06-10T22:30:00+02:00",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def test_temperature_in_celsius_and_fahrenheit() -> None:
    result = mapped(
        temperature("t1", 38.0, "Cel"),
        temperature("t2", 100.4, "[degF]", code="8331-1"),
        temperature("t3", 39.2, "Cel", code="8333-7"),
        tz="Europe/Berlin",
    )
    got = {lab.source_id: lab.value for lab in labs_of(result, Analyte.TEMPERATURE)}
    assert got == {"Observation/t1": 38.0, "Observation/t2": 38.0, "Observation/t3": 39.2}
    assert {lab.day for lab in labs_of(result, Analyte.TEMPERATURE)} == {date(2026, 6, 10)}


def test_temperature_unit_written_as_a_symbol() -> None:
    obs = temperature("t1", 101.3, "\u00b0F", code="8332-9")
    obs["valueQuantity"] = {"value": 101.3, "unit": "\u00b0F"}  # no UCUM code
    (lab,) = labs_of(mapped(obs), Analyte.TEMPERATURE)
    assert lab.value == pytest.approx(38.5)


@pytest.mark.parametrize(("value", "unit"), [(100.4, "Cel"), (3.8, "Cel"), (380.0, "Cel")])
def test_implausible_temperature_is_left_out(value: float, unit: str) -> None:
    result = mapped(temperature("t1", value, unit))
    assert labs_of(result, Analyte.TEMPERATURE) == []
    assert reasons(result)["Observation/t1"] == "implausible"


def test_temperature_in_a_mass_unit_is_left_out() -> None:
    result = mapped(temperature("t1", 38.0, "mg"))
    assert reasons(result)["Observation/t1"] == "incompatible-unit"


def test_temperature_codes_are_in_the_lab_query() -> None:
    assert {"8310-5", "8331-1", "8332-9", "8333-7"} <= set(loinc_codes())


def test_temperature_scales_convert_affinely_never_by_a_factor() -> None:
    assert ucum_factor("[degF]", "Cel") is None  # a factor of -17.2 would be silently wrong
    conv = UnitConverter()
    assert isinstance(conv.factor_for("temperature", UCUM, "[degF]", None), UnitError)
    fahrenheit = conv.conversion_for("temperature", UCUM, "[degF]", None)
    kelvin = conv.conversion_for("temperature", UCUM, "K", None)
    assert not isinstance(fahrenheit, UnitError) and not isinstance(kelvin, UnitError)
    assert fahrenheit.apply(100.4) == pytest.approx(38.0, abs=1e-9)
    assert fahrenheit.apply(32.0) == pytest.approx(0.0, abs=1e-9)
    assert kelvin.apply(311.15) == pytest.approx(38.0, abs=1e-9)
    # an offset unit is no alias for another analyte
    assert isinstance(conv.conversion_for("anc", UCUM, "[degF]", None), UnitError)


# -- positive blood cultures -----------------------------------------------------------------


def culture(oid: str, status: str = "final", code: str = "600-7", **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "code": coded(LOINC, code),
        "effectiveDateTime": "2026-06-10T23:30:00-04:00",
        "issued": "2026-06-12T09:00:00-04:00",
        **value,
    }


def positive_days(*resources: dict[str, Any], tz: str = "UTC") -> list[tuple[str, date]]:
    timeline = mapped(*resources, tz=tz).record.timeline
    return [
        (i.source_id or "", i.start)
        for i in timeline.infections or ()
        if i.kind == "positive_blood_culture"
    ]


def test_positive_by_interpretation_organism_code_or_organism_text() -> None:
    got = positive_days(
        culture("b1", interpretation=[coded(INTERP, "POS")]),
        culture("b2", code="17928-3", valueCodeableConcept=coded(SCT, "3092008")),
        culture("b3", code="17934-1", valueString="Escherichia coli"),
        culture("b4", valueString="Gram-negative rods"),
        culture("b5", valueString="Coagulase negative staphylococci"),
        culture("b6", interpretation=[{"text": "Positive"}]),
        tz="America/New_York",
    )
    day = date(2026, 6, 10)  # the collection day (local), not the report day
    assert got == [(f"Observation/b{n}", day) for n in range(1, 7)]


def test_positive_culture_is_a_one_day_infection() -> None:
    (got,) = infections(culture("b1", valueCodeableConcept=coded(SCT, "3092008")))
    assert got == Infection(
        date(2026, 6, 11), date(2026, 6, 11), "Observation/b1", kind="positive_blood_culture"
    )


@pytest.mark.parametrize(
    "value",
    [
        {"valueCodeableConcept": coded(SCT, "264868006")},  # No growth
        {"valueCodeableConcept": {"text": "No growth after 5 days"}},
        {"valueString": "No growth to date"},
        {"valueString": "negative"},
        {"valueString": "Pending"},
        {"valueString": "kein Wachstum"},
        {"interpretation": [coded(INTERP, "NEG")], "valueString": "Staphylococcus aureus"},
        {},  # registered result without a value yet
    ],
)
def test_negative_or_pending_culture_adds_nothing(value: dict[str, Any]) -> None:
    result = mapped(culture("b1", **value))
    assert result.record.timeline.infections == ()
    assert "Observation/b1" not in reasons(result)  # read, found negative: nothing left out


@pytest.mark.parametrize(
    ("status", "reason"),
    [("entered-in-error", "entered-in-error"), ("registered", "status-not-usable")],
)
def test_culture_status_not_a_result_is_left_out(status: str, reason: str) -> None:
    result = mapped(culture("b1", status=status, valueString="Escherichia coli"))
    assert result.record.timeline.infections == ()
    assert reasons(result)["Observation/b1"] == reason


def test_preliminary_positive_counts_with_a_warning() -> None:
    result = mapped(culture("b1", status="preliminary", valueString="Gram-positive cocci"))
    assert [i.kind for i in result.record.timeline.infections or ()] == ["positive_blood_culture"]
    assert [w.code for w in result.warnings] == ["preliminary"]


def test_culture_is_not_an_unmapped_lab_value() -> None:
    result = mapped(culture("b1", valueString="No growth"))
    assert result.record.labs == ()
    assert reasons(result) == {}


def test_culture_without_collection_time_takes_the_report_day_and_warns() -> None:
    obs = culture("b1", valueString="Klebsiella pneumoniae")
    del obs["effectiveDateTime"]
    result = mapped(obs)
    assert [i.start for i in result.record.timeline.infections or ()] == [date(2026, 6, 12)]
    assert [w.code for w in result.warnings] == ["time-from-issued"]


def test_cultures_and_conditions_together_oldest_first() -> None:
    got = infections(
        culture("b1", valueString="Escherichia coli"),
        condition("c1", coded(ICD, "A41.9"), onsetDateTime="2026-06-09"),
    )
    assert [(i.kind, i.start) for i in got] == [
        ("sepsis", date(2026, 6, 9)),
        ("positive_blood_culture", date(2026, 6, 11)),
    ]


def test_another_patients_culture_is_left_out() -> None:
    obs = culture("b1", valueString="Escherichia coli")
    obs["subject"] = {"reference": "Patient/someone-else"}
    result = mapped(obs)
    assert result.record.timeline.infections == ()
    assert reasons(result)["Observation/b1"] == "other-patient"


def test_culture_codes_are_public_and_not_lab_codes() -> None:
    assert set(culture_loinc_codes()) == {"600-7", "17928-3", "17934-1"}
    assert set(culture_loinc_codes()).isdisjoint(loinc_codes())
