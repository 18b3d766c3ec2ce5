"""The real FHIR server fixture: the cohort loads through transactions and searches find it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from icaht_demo.fhir_server import LocalFhirServer
from icaht_demo.synthetic import SyntheticPatient
from icaht_demo.synthetic.loader import SeedError, seed_cohort

pytestmark = pytest.mark.fhir_server


def _get(server: LocalFhirServer, path: str, **params: str) -> dict:
    response = requests.get(f"{server.base_url}/{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.json()


def test_the_server_is_a_fhir_r4_server(fhir_server: LocalFhirServer) -> None:
    capability = _get(fhir_server, "metadata")
    assert capability["resourceType"] == "CapabilityStatement"
    assert capability["fhirVersion"] == "4.0.1"


def test_every_synthetic_patient_was_stored_whole(
    seeded_fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> None:
    for patient in synthetic_cohort:
        assert _get(seeded_fhir_server, f"Patient/{patient.patient_id}")["id"] == patient.patient_id
        expected = sum(1 for r in patient.resources() if r["resourceType"] == "Observation")
        counted = _get(
            seeded_fhir_server, "Observation", patient=patient.patient_id, _summary="count"
        )
        assert counted["total"] == expected


def test_search_by_patient_loinc_code_and_date_returns_the_generators_observations(
    seeded_fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> None:
    patient = next(p for p in synthetic_cohort if p.plan.course == "aplastic")
    first, last = patient.plan.day0, patient.plan.day0 + timedelta(days=14)
    expected = {
        r["id"]
        for r in patient.resources()
        if r["resourceType"] == "Observation"
        and r["code"]["coding"][0]["code"] == "751-8"
        and first <= datetime.fromisoformat(r["effectiveDateTime"]).date() <= last
    }
    found: set[str] = set()
    url: str | None = f"{seeded_fhir_server.base_url}/Observation"
    params: dict[str, str] | None = {
        "patient": patient.patient_id,
        "code": "http://loinc.org|751-8",
        "date": [f"ge{first.isoformat()}", f"le{last.isoformat()}"],  # type: ignore[dict-item]
        "_sort": "-date",
        "_count": "5",
    }
    pages = 0
    while url:  # follow the server's paging links
        bundle = requests.get(url, params=params, timeout=30).json()
        found |= {e["resource"]["id"] for e in bundle.get("entry", [])}
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        params = None
        pages += 1
    assert found == expected
    assert len(expected) >= 15 and pages >= 3


def test_reloading_the_same_cohort_changes_nothing(
    seeded_fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> None:
    before = _get(seeded_fhir_server, "Observation", _summary="count")["total"]
    seed_cohort(seeded_fhir_server.base_url, synthetic_cohort[:2])
    assert _get(seeded_fhir_server, "Observation", _summary="count")["total"] == before


def test_a_refused_transaction_is_reported_with_the_patient(
    fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> None:
    broken = synthetic_cohort[0].bundle | {
        "entry": [
            {
                "resource": {"resourceType": "Observation", "id": "bad", "foo": 1},
                "request": {"method": "PUT", "url": "Observation/bad"},
            }
        ]
    }
    patient = SyntheticPatient(plan=synthetic_cohort[0].plan, bundle=broken)
    with pytest.raises(SeedError, match=synthetic_cohort[0].patient_id):
        seed_cohort(fhir_server.base_url, [patient])
