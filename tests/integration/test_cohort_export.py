"""The registry and the bedside never disagree: the synthetic cohort is exported through the real
FHIR server's Bulk Data `$export`, graded by `icaht-cds cohort`, and every patient's row equals
the assessment the patient-view hook returns for that patient on the same `--as-of` date (the
service's clock pinned to that day, its FHIR fallback over real HTTP)."""

from __future__ import annotations

import csv
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import pytest
import requests
from cohort_support import FACTS, cohort_facts

from cds_service.app import create_app, default_services
from cds_service.cards import ASSESSMENT_KEY
from cds_service.settings import Settings
from icaht_cli.main import main
from icaht_demo.fhir_server import LocalFhirServer
from icaht_demo.synthetic import SyntheticPatient

pytestmark = pytest.mark.fhir_server
TZ = "Europe/Berlin"
COHORT_TODAY = date(2026, 6, 1)  # the integration cohort's anchor (tests/conftest.py)
AS_OF_DATES = (COHORT_TODAY, COHORT_TODAY - timedelta(days=120))


def bulk_export(server: LocalFhirServer, directory: Path) -> list[str]:
    """Kick off Patient/$export, poll the status URL, download every NDJSON file."""
    kickoff = requests.get(
        f"{server.base_url}/Patient/$export",
        headers={"Prefer": "respond-async", "Accept": "application/fhir+json"},
        timeout=30,
    )
    assert kickoff.status_code == 202, kickoff.text
    status_url = kickoff.headers["Content-Location"]
    deadline = time.monotonic() + 120
    while True:
        status = requests.get(status_url, timeout=30)
        if status.status_code == 200:
            break
        assert status.status_code == 202, status.text
        assert time.monotonic() < deadline, "the export did not complete in 120 s"
        time.sleep(0.2)
    directory.mkdir(parents=True, exist_ok=True)
    types = []
    for item in status.json()["output"]:
        data = requests.get(item["url"], timeout=60)
        assert data.status_code == 200
        (directory / f"{item['type']}.ndjson").write_bytes(data.content)
        types.append(item["type"])
    return types


@pytest.fixture(scope="module")
def exported(
    seeded_fhir_server: LocalFhirServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[LocalFhirServer, Path]:
    """The server and the directory of its Bulk export."""
    directory = tmp_path_factory.mktemp("bulk")
    types = bulk_export(seeded_fhir_server, directory)
    assert {"Patient", "Observation", "Procedure", "MedicationAdministration"} <= set(types)
    return seeded_fhir_server, directory


def hook_facts(app: Any, server: LocalFhirServer, patient_id: str) -> dict[str, Any] | None:
    """The assessment carried by the patient-view cards (None when the hook stays quiet)."""
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": server.base_url,
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
    }
    response = app.test_client().post("/cds-services/icaht-patient-view", json=body)
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    if not cards:
        return None
    facts = [card["extension"][ASSESSMENT_KEY] for card in cards]
    assert all(f == facts[0] for f in facts)  # every card carries the same assessment
    return dict(facts[0])


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=lambda d: d.isoformat())
def test_every_patient_as_the_patient_view_hook_grades_it(
    as_of: date,
    exported: tuple[LocalFhirServer, Path],
    synthetic_cohort: list[SyntheticPatient],
    database_url: str,
    tmp_path: Path,
) -> None:
    server, export_dir = exported
    out = tmp_path / "cohort"
    args = ["cohort", str(export_dir), "--out", str(out), "--as-of", as_of.isoformat()]
    assert main([*args, "--timezone", TZ, "--workers", "2", "--no-progress"]) == 0
    with (out / "patients.csv").open(newline="") as handle:
        rows = {row["patient_id"]: row for row in csv.DictReader(handle)}

    settings = Settings(auth="none", timezone=TZ, database_url=database_url)
    services = default_services(settings)
    noon = datetime.combine(as_of, clock_time(12, 0))
    services.clock = lambda zone: noon.replace(tzinfo=zone)  # the hook's "today" = as_of
    app = create_app(settings, services)

    compared = quiet = 0
    for patient in synthetic_cohort:
        row = rows[patient.patient_id]  # every exported patient has a row
        expected = cohort_facts(row)
        facts = hook_facts(app, server, patient.patient_id)
        if facts is None:  # quiet hook: grade 0 (or none) and no alert
            assert all(expected.get(k) in (0, None) for k in ("early_grade", "late_grade"))
            quiet += 1
            continue
        assert {k: v for k, v in facts.items() if k in FACTS} == expected, patient.patient_id
        assert {"early_grade", "early_status", "day"} <= set(expected)
        compared += 1
    assert compared >= len(synthetic_cohort) // 2, (compared, quiet)


def test_a_patient_before_day0_is_not_graded_by_either(
    exported: tuple[LocalFhirServer, Path], synthetic_cohort: list[SyntheticPatient], tmp_path: Path
) -> None:
    """On a date before every infusion nobody has an ICAHT grade yet."""
    export_dir = exported[1]
    first = min(p.plan.day0 for p in synthetic_cohort)
    as_of = first - timedelta(days=1)
    out = tmp_path / "early"
    args = ["cohort", str(export_dir), "--out", str(out), "--as-of", as_of.isoformat()]
    assert main([*args, "--timezone", TZ, "--workers", "1", "--no-progress"]) == 0
    with (out / "patients.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(row["early_grade"] == "" for row in rows)
    # the session's server may also hold patients other tests added (e.g. one with no infusion)
    ours = {p.patient_id for p in synthetic_cohort}
    cohort_rows = [row for row in rows if row["patient_id"] in ours]
    assert len(cohort_rows) == len(ours)
    assert all("evaluation date before day 0" in row["not_computed"] for row in cohort_rows)
