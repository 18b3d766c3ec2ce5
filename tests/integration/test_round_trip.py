"""Generator -> real FHIR server -> search -> mapping -> engine: the series and grades intended.

This is the walking skeleton's end-to-end check of the three parts that exist: what the
synthetic generator designed is what the mapping layer reads back from a real FHIR server
(units converted, messy records left out with their reason), and what the engine grades.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
import requests

from fhir_mappings import MappingResult, map_patient
from icaht import assess
from icaht.record import Analyte
from icaht_demo.fhir_server import LocalFhirServer
from icaht_demo.synthetic import SyntheticPatient
from icaht_demo.synthetic.generator import HB_G_PER_DL_TO_MMOL_PER_L

pytestmark = pytest.mark.fhir_server
CENTRE_TZ = "Europe/Berlin"  # the generator's centre


def _search_all(base_url: str, resource_type: str, patient_id: str) -> list[dict[str, Any]]:
    """Every page of a patient-scoped search (the service's own client comes with issue 5)."""
    pages: list[dict[str, Any]] = []
    url: str | None = f"{base_url}/{resource_type}"
    params: dict[str, str] | None = {"patient": patient_id, "_count": "200"}
    while url:
        response = requests.get(url, params=params, timeout=30)
        assert response.status_code == 200, response.text[:300]
        bundle = response.json()
        pages.append(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        params = None
    return pages


def _read_back(server: LocalFhirServer, patient: SyntheticPatient) -> MappingResult:
    base = server.base_url
    pid = patient.patient_id
    resources: list[Any] = [requests.get(f"{base}/Patient/{pid}", timeout=30).json()]
    for resource_type in ("Observation", "Procedure", "MedicationAdministration", "Condition"):
        resources.extend(_search_all(base, resource_type, pid))
    return map_patient(resources, patient_id=pid, tz=CENTRE_TZ)


@pytest.fixture(scope="module")
def read_back(
    seeded_fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> dict[str, MappingResult]:
    return {p.patient_id: _read_back(seeded_fhir_server, p) for p in synthetic_cohort}


def test_the_anc_series_read_back_is_the_one_designed(
    synthetic_cohort: list[SyntheticPatient], read_back: dict[str, MappingResult]
) -> None:
    for patient in synthetic_cohort:
        plan = patient.plan
        record = read_back[patient.patient_id].record
        by_day: dict[int, list[Any]] = {}
        for value in record.series(Analyte.ANC):
            by_day.setdefault((value.day - plan.day0).days, []).append(value)
        assert sorted(by_day) == sorted(plan.anc), patient.patient_id
        for day, values in by_day.items():
            assert len(values) == 1, (patient.patient_id, day, values)
            value = values[0]
            if value.comparator == "<":
                assert value.value == pytest.approx(100.0)
                assert plan.anc[day] <= 500
            else:
                assert value.value == pytest.approx(plan.anc[day]), (patient.patient_id, day)


def test_messy_records_are_left_out_with_their_reason(
    synthetic_cohort: list[SyntheticPatient], read_back: dict[str, MappingResult]
) -> None:
    expected_reason = {
        "entered-in-error": "entered-in-error",
        "duplicate": "duplicate",
        "no-unit": "unit-missing",
    }
    for patient in synthetic_cohort:
        reasons = {item.reason for item in read_back[patient.patient_id].left_out}
        for kind in patient.plan.messy:
            if kind in expected_reason:
                assert expected_reason[kind] in reasons, (patient.patient_id, kind, reasons)
        if not set(patient.plan.messy) & set(expected_reason):
            assert not reasons & set(expected_reason.values()), (patient.patient_id, reasons)


def test_units_are_converted_back_to_canonical(
    synthetic_cohort: list[SyntheticPatient], read_back: dict[str, MappingResult]
) -> None:
    for patient in synthetic_cohort:
        record = read_back[patient.patient_id].record
        hemoglobin = [v.value for v in record.series(Analyte.HEMOGLOBIN)]
        crp = [v.value for v in record.series(Analyte.CRP)]
        assert hemoglobin and crp
        # canonical g/dL and mg/L whatever unit the generator reported in (mmol/L, mg/dL)
        tolerance = 0.1 / HB_G_PER_DL_TO_MMOL_PER_L if "hb-mmol-per-l" in patient.plan.messy else 0
        assert all(6.2 - tolerance <= hb <= 13.9 for hb in hemoglobin), patient.patient_id
        assert max(crp) >= 20, patient.patient_id  # the CRS peak of 40-200 mg/L


def test_the_therapy_timeline_read_back_is_the_one_designed(
    synthetic_cohort: list[SyntheticPatient], read_back: dict[str, MappingResult]
) -> None:
    for patient in synthetic_cohort:
        plan = patient.plan
        timeline = read_back[patient.patient_id].record.timeline
        assert timeline.day0 == plan.day0, patient.patient_id
        assert timeline.lymphodepletion_start == plan.day0 - timedelta(days=5)
        assert sorted(timeline.gcsf_days) == [plan.date_of(d) for d in plan.gcsf_days]
        death = None if plan.death_day is None else plan.date_of(plan.death_day)
        assert timeline.death_day == death, patient.patient_id
        relapse = None if plan.relapse_day is None else plan.date_of(plan.relapse_day)
        assert timeline.relapse_day == relapse, patient.patient_id
        assert sorted((t.day, t.product) for t in timeline.transfusions) == _transfusions(patient)


def _transfusions(patient: SyntheticPatient) -> list[tuple[date, str]]:
    products = {"30233N1": "rbc", "30233R1": "platelets"}
    return sorted(
        (datetime.fromisoformat(r["performedDateTime"]).date(), products[code])
        for r in patient.resources()
        if r["resourceType"] == "Procedure" and (code := r["code"]["coding"][0]["code"]) in products
    )


def test_the_engine_grades_every_completed_course_as_designed(
    synthetic_cohort: list[SyntheticPatient], read_back: dict[str, MappingResult]
) -> None:
    completed = [p for p in synthetic_cohort if not p.plan.ongoing]
    assert len(completed) >= 15
    for patient in completed:
        plan = patient.plan
        assessment = assess(read_back[patient.patient_id].record)
        assert assessment.neutropenia is not None, (patient.patient_id, assessment.missing)
        early = assessment.neutropenia.early
        assert (early.grade, early.status) == (
            plan.expected_early_grade,
            plan.expected_early_status,
        ), patient.patient_id
        assert assessment.neutropenia.phenotype == plan.expected_phenotype, patient.patient_id
