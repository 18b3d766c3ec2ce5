"""Hook calls against the real FHIR server: prefetch, fallback and their mixes give one answer.

The service runs as the Flask app in-process, its clock pinned to the integration cohort's
anchor date (the cohort's "today"); every FHIR query goes over real HTTP to the
sekmet server started by the session fixture. Tests are tagged with the CDS Hooks 2.0
requirement ids of the Inferno CDS Hooks test kit (cds-hooks_2.0@N).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from served import noon_of

from cds_service.app import create_app, default_services
from cds_service.discovery import PREFETCH
from cds_service.settings import Settings
from cds_service.validation import response_errors
from icaht_demo.fhir_server import LocalFhirServer
from icaht_demo.synthetic import SyntheticPatient

pytestmark = pytest.mark.fhir_server
TZ = "Europe/Berlin"
# the integration cohort's "today" (tests/conftest.py COHORT_ANCHOR): the service grades on it,
# and the patients written here are dated from it, whatever day the suite runs on
TODAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def app(database_url: str) -> Flask:
    settings = Settings(auth="none", timezone=TZ, database_url=database_url)
    return create_app(settings, replace(default_services(settings), clock=noon_of(TODAY)))


def test_the_pinned_day_is_the_cohorts_today(synthetic_cohort: list[SyntheticPatient]) -> None:
    """Ongoing courses end on the cohort's anchor: their last lab is on TODAY, none later."""
    last_days = [
        max(date.fromisoformat(r["effectiveDateTime"][:10]) for r in labs)
        for p in synthetic_cohort
        if (labs := [r for r in p.resources() if r["resourceType"] == "Observation"])
    ]
    assert max(last_days) == TODAY


def hook_request(server: LocalFhirServer | None, patient_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
    }
    if server is not None:
        body["fhirServer"] = server.base_url
        body["fhirAuthorization"] = {
            "access_token": "opaque-test-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read",
            "subject": "icaht-cds",
        }
    return body | extra


def prefetch_for(server: LocalFhirServer, patient_id: str, page_size: int | None = None) -> dict:
    """What an EHR would prefetch: each template run once (first page only)."""
    prefetch = {}
    for template in PREFETCH:
        query = template.query.replace("{{context.patientId}}", patient_id)
        if page_size and template.key == "labs":
            # unsorted: sekmet needs about a second per sorted page of this query
            query = template.fetch_query.replace("{{context.patientId}}", patient_id)
            query = query.replace("_count=500", f"_count={page_size}")
        response = requests.get(f"{server.base_url}/{query}", timeout=30)
        assert response.status_code == 200
        prefetch[template.key] = response.json()
    return prefetch


def call(app: Flask, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = app.test_client().post(f"/cds-services/icaht-{body['hook']}", json=body)
    return response.status_code, response.get_json()


def cards_of(app: Flask, body: dict[str, Any]) -> list[dict[str, Any]]:
    status, answer = call(app, body)
    assert status == 200, answer
    assert response_errors("response.json", answer) == []  # @74 and the card requirements
    for card in answer["cards"]:  # the SMART link names this call's hookInstance (0026)
        for link in card.get("links", []):
            context = json.loads(link.pop("appContext"))
            assert context.pop("hookInstance") == body["hookInstance"]
            link["appContext"] = context  # what stays equal across calls on the same data
    return answer["cards"]


@pytest.fixture(scope="module")
def patient(synthetic_cohort: list[SyntheticPatient]) -> SyntheticPatient:
    return next(p for p in synthetic_cohort if p.plan.course == "aplastic" and not p.plan.ongoing)


def test_fetching_everything_grades_the_designed_course(
    app: Flask, seeded_fhir_server: LocalFhirServer, patient: SyntheticPatient
) -> None:
    """cds-hooks_2.0@34 @60 @61: data from the client's FHIR server with the access token."""
    cards = cards_of(app, hook_request(seeded_fhir_server, patient.patient_id))
    assert len(cards) == 1
    facts = cards[0]["extension"]["org.icaht.assessment"]
    assert facts["early_grade"] == patient.plan.expected_early_grade
    assert facts["early_status"] == "final"
    assert facts["phenotype"] == "aplastic"
    assert cards[0]["indicator"] == "warning"


def test_full_prefetch_gives_the_same_answer_as_fetching(
    app: Flask, seeded_fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """cds-hooks_2.0@28 @29: prefetched data is used; the result does not depend on it."""
    for patient in synthetic_cohort[:8]:
        prefetch = prefetch_for(seeded_fhir_server, patient.patient_id)
        fetched = cards_of(app, hook_request(seeded_fhir_server, patient.patient_id))
        prefetched = cards_of(
            app, hook_request(None, patient.patient_id, prefetch=prefetch)
        )  # no fhirServer: prefetch alone must suffice
        assert prefetched == fetched, patient.patient_id


def test_partial_prefetch_fetches_only_what_is_missing(
    app: Flask, seeded_fhir_server: LocalFhirServer, patient: SyntheticPatient
) -> None:
    full = prefetch_for(seeded_fhir_server, patient.patient_id)
    expected = cards_of(app, hook_request(seeded_fhir_server, patient.patient_id))
    partial = {key: full[key] for key in ("patient", "procedures")}
    body = hook_request(seeded_fhir_server, patient.patient_id, prefetch=partial)
    client = app.extensions["icaht"].fhir
    before = len(client.timings)
    assert cards_of(app, body) == expected
    fetched = {t.query for t in client.timings[before:]}
    assert fetched == {
        "MedicationAdministration",
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "ServiceRequest",  # planned infusions (issue 14)
        "Appointment",
    }


def test_operation_outcome_in_prefetch_is_fetched_instead(
    app: Flask, seeded_fhir_server: LocalFhirServer, patient: SyntheticPatient
) -> None:
    """cds-hooks_2.0@52: prefetched data is checked for OperationOutcomes."""
    prefetch = prefetch_for(seeded_fhir_server, patient.patient_id)
    prefetch["labs"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    expected = cards_of(app, hook_request(seeded_fhir_server, patient.patient_id))
    body = hook_request(seeded_fhir_server, patient.patient_id, prefetch=prefetch)
    assert cards_of(app, body) == expected


def test_null_prefetch_means_no_data_and_nothing_is_fetched(
    app: Flask, seeded_fhir_server: LocalFhirServer, patient: SyntheticPatient
) -> None:
    prefetch = prefetch_for(seeded_fhir_server, patient.patient_id)
    prefetch["labs"] = None
    body = hook_request(seeded_fhir_server, patient.patient_id, prefetch=prefetch)
    client = app.extensions["icaht"].fhir
    before = len(client.timings)
    cards = cards_of(app, body)
    assert client.timings[before:] == []
    # no ANC, long after day +100: nothing to grade and nothing to say (quiet by design)
    assert cards == []


def test_prefetched_pages_are_followed_on_the_fhir_server(
    app: Flask, seeded_fhir_server: LocalFhirServer, patient: SyntheticPatient
) -> None:
    paged = prefetch_for(seeded_fhir_server, patient.patient_id, page_size=40)
    assert any(link["relation"] == "next" for link in paged["labs"]["link"])
    expected = cards_of(app, hook_request(seeded_fhir_server, patient.patient_id))
    body = hook_request(seeded_fhir_server, patient.patient_id, prefetch=paged)
    assert cards_of(app, body) == expected


def test_patient_without_car_t_gets_no_cards_and_no_lab_query(
    app: Flask, seeded_fhir_server: LocalFhirServer
) -> None:
    """cds-hooks_2.0@77: no decision support -> 200 with an empty cards array."""
    requests.put(
        f"{seeded_fhir_server.base_url}/Patient/no-cart-1",
        json={"resourceType": "Patient", "id": "no-cart-1"},
        timeout=10,
    ).raise_for_status()
    client = app.extensions["icaht"].fhir
    before = len(client.timings)
    status, answer = call(app, hook_request(seeded_fhir_server, "no-cart-1"))
    assert (status, answer) == (200, {"cards": []})
    assert "Observation" not in {t.query for t in client.timings[before:]}


def test_required_data_missing_without_fhir_server_is_412(
    app: Flask, seeded_fhir_server: LocalFhirServer, patient: SyntheticPatient
) -> None:
    """cds-hooks_2.0@54: required data unobtainable -> 412 with an OperationOutcome."""
    prefetch = prefetch_for(seeded_fhir_server, patient.patient_id)
    del prefetch["labs"]
    status, answer = call(app, hook_request(None, patient.patient_id, prefetch=prefetch))
    assert status == 412
    assert answer["resourceType"] == "OperationOutcome"
    assert "labs" in answer["issue"][0]["diagnostics"]


def test_every_completed_course_is_graded_as_designed_through_the_hook(
    app: Flask, seeded_fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> None:
    for patient in synthetic_cohort:
        if patient.plan.ongoing:
            continue
        cards = cards_of(app, hook_request(seeded_fhir_server, patient.patient_id))
        status = [c for c in cards if "org.icaht.rule" not in c["extension"]]
        plan = patient.plan
        if plan.expected_early_grade == 0 and not cards:
            continue  # quiet by design: grade 0 and no alert, no card
        [card] = status
        facts = card["extension"]["org.icaht.assessment"]
        assert (facts["early_grade"], facts["early_status"]) == (
            plan.expected_early_grade,
            plan.expected_early_status,
        ), patient.patient_id
        assert len(card["summary"]) < 140
        if {"entered-in-error", "duplicate", "no-unit"} & set(plan.messy):
            assert "Left out of the grading" in card["detail"], patient.patient_id


def test_the_request_is_not_changed_by_the_service(
    app: Flask, seeded_fhir_server: LocalFhirServer, patient: SyntheticPatient
) -> None:
    body = hook_request(
        seeded_fhir_server,
        patient.patient_id,
        prefetch=prefetch_for(seeded_fhir_server, patient.patient_id),
    )
    snapshot = copy.deepcopy(body)
    cards_of(app, body)
    assert body == snapshot


def test_an_active_anticoagulant_order_is_fetched_for_patient_view(
    app: Flask, seeded_fhir_server: LocalFhirServer
) -> None:
    """M21 on patient-view from an active MedicationRequest on the real server (no dose given
    yet); a stopped order of the same drug is not asked for (status=active)."""
    patient_id = "hooks-enoxaparin-ordered"
    today = TODAY
    day0 = today - timedelta(days=20)
    subject = {"reference": f"Patient/{patient_id}"}

    def order(rid: str, status: str, code: str = "B01AB05") -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.whocc.no/atc", "code": code}]
            },
            "subject": subject,
            "authoredOn": f"{today}T08:00:00+01:00",
        }

    resources = [
        *_course_with_one_count(patient_id, day0, today, ("777-3", 40, "10*9/L")),
        order(f"{patient_id}-enox", "active"),
        # aciclovir (ATC J05AB01) ordered: HSV/VZV prophylaxis on record, M10 stays quiet
        order(f"{patient_id}-aciclovir", "active", "J05AB01"),
    ]
    _put_all(seeded_fhir_server, resources)
    alert = [c for c in cards_of(app, hook_request(seeded_fhir_server, patient_id)) if _rule(c)]
    assert [_rule(c) for c in alert] == ["M21"]

    _put_all(seeded_fhir_server, [order(f"{patient_id}-enox", "stopped")])
    quiet = cards_of(app, hook_request(seeded_fhir_server, patient_id))
    assert "M21" not in [_rule(c) for c in quiet]


def test_a_gcsf_statement_is_fetched_and_silences_m03(
    app: Flask, seeded_fhir_server: LocalFhirServer
) -> None:
    """C15 on the real server: a MedicationStatement (taking pegfilgrastim-jmdb, by name) is
    fetched by the fallback and covers today, so M03 stays quiet; once stopped it is not asked
    for (status=active,completed) and M03 fires; a `null` prefetch means no statements."""
    patient_id = "hooks-gcsf-statement"
    today = TODAY
    day0 = today - timedelta(days=10)
    subject = {"reference": f"Patient/{patient_id}"}

    def statement(status: str) -> dict[str, Any]:
        return {
            "resourceType": "MedicationStatement",
            "id": f"{patient_id}-peg",
            "status": status,
            "medicationCodeableConcept": {"text": "Fulphila (pegfilgrastim-jmdb) 6 mg SC"},
            "subject": subject,
            "effectiveDateTime": f"{day0 + timedelta(days=5)}T09:00:00+01:00",
        }

    resources = [
        *_course_with_one_count(patient_id, day0, today, ("751-8", 300, "/uL")),
        statement("active"),
    ]
    _put_all(seeded_fhir_server, resources)
    client = app.extensions["icaht"].fhir
    client.timings.clear()  # the list keeps the last 200 calls: start counting from here
    covered = cards_of(app, hook_request(seeded_fhir_server, patient_id))
    assert "MedicationStatement" in {t.query for t in client.timings}
    assert "M03" not in [_rule(c) for c in covered]

    no_statements = hook_request(seeded_fhir_server, patient_id)
    no_statements["prefetch"] = {"medicationStatements": None}
    client.timings.clear()
    assert "M03" in [_rule(c) for c in cards_of(app, no_statements)]
    assert "MedicationStatement" not in {t.query for t in client.timings}

    _put_all(seeded_fhir_server, [statement("stopped")])
    stopped = cards_of(app, hook_request(seeded_fhir_server, patient_id))
    assert "M03" in [_rule(c) for c in stopped]


def _rule(card: dict[str, Any]) -> str | None:
    rule: str | None = card["extension"].get("org.icaht.rule")
    return rule


def _put_all(server: LocalFhirServer, resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        url = f"{server.base_url}/{resource['resourceType']}/{resource['id']}"
        answer = requests.put(
            url, json=resource, headers={"Content-Type": "application/fhir+json"}, timeout=10
        )
        assert answer.status_code in (200, 201), answer.text


def _course_with_one_count(
    patient_id: str, day0: date, today: date, count: tuple[str, float, str]
) -> list[dict[str, Any]]:
    """A patient with a CAR-T infusion (CPT 38228) on day0 and one lab value today."""
    loinc, value, unit = count
    subject = {"reference": f"Patient/{patient_id}"}
    return [
        {"resourceType": "Patient", "id": patient_id},
        {
            "resourceType": "Procedure",
            "id": f"{patient_id}-cart",
            "status": "completed",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "38228"}]},
            "subject": subject,
            "performedDateTime": f"{day0}T10:00:00+01:00",
        },
        {
            "resourceType": "Observation",
            "id": f"{patient_id}-{loinc}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": subject,
            "effectiveDateTime": f"{today}T07:00:00+01:00",
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
        },
    ]
