"""Bulk NDJSON input with the local engine: parallel workers change nothing, resources without
a patient are counted, patients without day 0 are listed."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from cohort_helpers import by_patient, read_rows, run_cli

from cohort.grading import SERVICE_RESOURCE_TYPES
from cohort.ndjson import write_ndjson
from icaht_demo.synthetic import generate_cohort

ANCHOR = date(2026, 6, 1)
TZ = "Europe/Berlin"
LOINC = "http://loinc.org"
PATIENTS = generate_cohort(8, seed=11, anchor=ANCHOR)
LONG_BEFORE = (PATIENTS[1].plan.day0 - timedelta(days=30)).isoformat()


def _observation(oid: str, patient: str, code: str, when: str, value: float) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "/uL",
            "system": "http://unitsofmeasure.org",
            "code": "/uL",
        },
    }


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    patients = PATIENTS
    write_ndjson((r for p in patients for r in p.resources()), directory)
    extra = [
        # a patient with labs but no CAR-T infusion on record
        {"resourceType": "Patient", "id": "no-cart"},
        _observation("nc-1", "no-cart", "751-8", "2026-05-01T08:00:00+02:00", 2100.0),
        # a result withdrawn by the laboratory
        _observation("err-1", patients[0].patient_id, "751-8", "2026-05-01T08:00:00+02:00", 90.0)
        | {"status": "entered-in-error"},
        # a count from long before the course: the hook's FHIR query starts at day -14
        _observation(
            "old-1", PATIENTS[1].patient_id, "751-8", f"{LONG_BEFORE}T08:00:00+02:00", 50.0
        ),
        # resources no patient owns
        {"resourceType": "Practitioner", "id": "dr-1"},
        {"resourceType": "Organization", "id": "centre"},
    ]
    write_ndjson(extra, directory)
    return directory


@pytest.fixture(scope="module")
def graded_twice(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    one, two = tmp_path_factory.mktemp("w1"), tmp_path_factory.mktemp("w2")
    common = ("--as-of", ANCHOR.isoformat(), "--timezone", TZ)
    assert run_cli(export_dir, "--out", one, "--workers", "1", *common) == 0
    assert run_cli(export_dir, "--out", two, "--workers", "2", *common) == 0
    return one, two


def test_two_workers_write_the_same_tables(graded_twice: tuple[Path, Path]) -> None:
    one, two = graded_twice
    for name in ("patients.csv", "episodes.csv", "summary.md"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_every_patient_has_one_row(graded_twice: tuple[Path, Path]) -> None:
    rows = by_patient(graded_twice[0] / "patients.csv")
    expected = {p.patient_id for p in PATIENTS} | {"no-cart"}
    assert set(rows) == expected
    for pid, row in rows.items():
        if pid != "no-cart":
            assert row["early_grade"] in {"0", "1", "2", "3", "4"}, pid
            assert row["evaluation_date"] == ANCHOR.isoformat()
            assert row["hematotox_risk"] in {"low", "high"}, pid


def test_every_course_is_graded_as_designed(graded_twice: tuple[Path, Path]) -> None:
    """Each synthetic course carries its design (icaht_demo/synthetic/courses.py): a completed
    one its early grade, status and phenotype, an ongoing one a provisional status. The
    withdrawn ANC of 90/uL (patient 0) and the count from before day -14 (patient 1) must not
    change them."""
    rows = by_patient(graded_twice[0] / "patients.csv")
    ongoing = [p for p in PATIENTS if p.plan.ongoing]
    for patient in PATIENTS:
        plan, row = patient.plan, rows[patient.patient_id]
        assert row["early_status"] == plan.expected_early_status, patient.patient_id
        if plan.ongoing:
            continue
        graded = (row["early_grade"], row["phenotype"])
        assert graded == (str(plan.expected_early_grade), plan.expected_phenotype), (
            patient.patient_id
        )
        if plan.expected_t_early_grade is not None:
            assert row["t_early_grade"] == str(plan.expected_t_early_grade), patient.patient_id
    # the cohort spans the grades it is meant to test: not all alike, some course ongoing
    assert len({p.plan.expected_early_grade for p in PATIENTS if not p.plan.ongoing}) >= 3
    assert ongoing


def test_patient_without_day0_is_listed(graded_twice: tuple[Path, Path]) -> None:
    row = by_patient(graded_twice[0] / "patients.csv")["no-cart"]
    assert (row["day0"], row["early_grade"]) == ("", "")
    summary = (graded_twice[0] / "summary.md").read_text()
    assert "Patients without day 0 (no CAR-T infusion on record): 1: `no-cart`." in summary


def test_resources_without_patient_are_counted(graded_twice: tuple[Path, Path]) -> None:
    summary = (graded_twice[0] / "summary.md").read_text()
    assert "- Organization: 1\n- Practitioner: 1" in summary


def test_messy_records_are_counted_by_reason(graded_twice: tuple[Path, Path]) -> None:
    rows = read_rows(graded_twice[0] / "patients.csv")
    reasons = [c for c in rows[0] if c.startswith("left_out_") and c != "left_out_total"]
    first = by_patient(graded_twice[0] / "patients.csv")[PATIENTS[0].patient_id]
    assert int(first["left_out_entered_in_error"]) >= 1
    for row in rows:
        assert int(row["left_out_total"]) == sum(int(row[c]) for c in reasons)


def test_episodes_belong_to_graded_patients(graded_twice: tuple[Path, Path]) -> None:
    patients = by_patient(graded_twice[0] / "patients.csv")
    for episode in read_rows(graded_twice[0] / "episodes.csv"):
        row = patients[episode["patient_id"]]
        assert episode["threshold"] in {"500", "100"}
        if episode["threshold"] == "500":
            assert int(episode["duration_days"]) <= int(row["days_anc_le_500"]) or (
                row["never_above_500"] == "true"
            )


def test_only_the_resource_types_the_hook_reads() -> None:
    hook_reads = {"Patient", "Procedure", "MedicationAdministration", "Condition", "Observation"}
    # active orders and medication statements (the hook's `medicationRequests` and
    # `medicationStatements` prefetch) feed rules, not grades; so do planned infusions
    # (`serviceRequests`, `appointments`, issue 14)
    rules_only = {"MedicationRequest", "MedicationStatement", "ServiceRequest", "Appointment"}
    assert hook_reads | rules_only == SERVICE_RESOURCE_TYPES


def test_labs_before_day_minus_14_are_not_read(graded_twice: tuple[Path, Path]) -> None:
    """As the patient-view hook, which asks its FHIR server for labs from day -14 on."""
    rows = by_patient(graded_twice[0] / "patients.csv")
    assert rows[PATIENTS[1].patient_id]["left_out_before_day_minus_14"] == "1"
    assert rows[PATIENTS[2].patient_id]["left_out_before_day_minus_14"] == "0"
