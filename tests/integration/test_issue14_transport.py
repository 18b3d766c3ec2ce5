"""Issue 14: every resource type the mapping now reads reaches the service without prefetch.

A patient is loaded into the real FHIR server (sekmet) through a transaction: a CAR-T
infusion, blood counts, a body temperature, a blood culture, a MedicationStatement, an active
MedicationRequest, a ServiceRequest and an Appointment for a planned infusion, each with a
sibling the templates must not match (a completed ServiceRequest, a cancelled Appointment). A
patient-view call carries NO prefetch, so the service runs every discovery template itself over
HTTP. What the tests read is what the transport did, seen from outside: the requests per FHIR
resource type and the prefetch sources on /metrics, and the resources per key in the hook's log
line (counts only). One stand-in (a real HTTP proxy in front of sekmet that refuses two resource
types with 403, as an EHR does for a scope it did not grant) checks the refusal path: sekmet
itself cannot be told to refuse. Decision: docs/decisions/0023.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask

from cds_service.app import create_app
from cds_service.cards import ASSESSMENT_KEY, RULE_KEY
from cds_service.discovery import PREFETCH
from cds_service.logs import JsonFormatter
from cds_service.settings import Settings
from icaht_demo.fhir_server import LocalFhirServer

pytestmark = pytest.mark.fhir_server
TZ = "Europe/Berlin"
METRICS_TOKEN = "metrics-token-of-the-issue-14-tests-0123456789"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INFUSED = "i14-transport-infused"
PREPARING = "i14-transport-preparing"
REFUSED = "i14-transport-refused"
LAB_DAYS = (-6, 0, 2, 4, 6, 8, 10, 12)  # ANC and platelets on each: 16 lab Observations
ANC = {-6: 3000.0, 0: 2500.0}  # then 300/µL from day 2: early ICAHT, so a status card shows
DAY = 12  # the patient is seen on day +12


def today() -> date:
    return datetime.now(ZoneInfo(TZ)).date()


def at(day: date, hour: int = 8) -> str:
    return datetime.combine(day, time(hour), ZoneInfo(TZ)).isoformat()


def subject(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def quantity_observation(
    patient_id: str, rid: str, loinc: str, when: date, *, value: float, unit: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": subject(patient_id),
        "effectiveDateTime": at(when),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def planned_infusion(patient_id: str, planned: date) -> list[dict[str, Any]]:
    """A CAR-T infusion ordered (ServiceRequest, CPT 38228) and booked (Appointment), each with
    a sibling the templates' status filters leave out."""
    car_t = {"coding": [{"system": CPT, "code": "38228"}], "text": "CAR-T cell infusion"}
    order = {
        "resourceType": "ServiceRequest",
        "id": f"{patient_id}-sr",
        "status": "active",
        "intent": "order",
        "code": car_t,
        "subject": subject(patient_id),
        "occurrenceDateTime": at(planned, 10),
    }
    done = order | {"id": f"{patient_id}-sr-done", "status": "completed"}
    booked = {
        "resourceType": "Appointment",
        "id": f"{patient_id}-appt",
        "status": "booked",
        "serviceType": [car_t],
        "start": at(planned, 10),
        "end": at(planned, 12),
        "participant": [{"actor": subject(patient_id), "status": "accepted"}],
    }
    cancelled = booked | {"id": f"{patient_id}-appt-cancelled", "status": "cancelled"}
    return [order, done, booked, cancelled]


def infused_patient(patient_id: str) -> list[dict[str, Any]]:
    day0 = today() - timedelta(days=DAY)
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": patient_id, "gender": "female"},
        {
            "resourceType": "Procedure",
            "id": f"{patient_id}-cart",
            "status": "completed",
            "code": {"coding": [{"system": CPT, "code": "38228"}]},
            "subject": subject(patient_id),
            "performedDateTime": at(day0, 10),
        },
    ]
    for d in LAB_DAYS:
        when = day0 + timedelta(days=d)
        resources.append(
            quantity_observation(
                patient_id,
                f"{patient_id}-anc-{d + 10}",
                "751-8",
                when,
                value=ANC.get(d, 300.0),
                unit="/uL",
            )
        )
        resources.append(
            quantity_observation(
                patient_id, f"{patient_id}-plt-{d + 10}", "777-3", when, value=60, unit="10*9/L"
            )
        )
    yesterday = today() - timedelta(days=1)
    resources.append(  # fever (LOINC 8310-5 body temperature, UCUM Cel)
        quantity_observation(
            patient_id, f"{patient_id}-temp", "8310-5", yesterday, value=38.6, unit="Cel"
        )
    )
    resources.append(  # a positive blood culture (LOINC 600-7, interpretation POS)
        {
            "resourceType": "Observation",
            "id": f"{patient_id}-culture",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "600-7"}]},
            "subject": subject(patient_id),
            "effectiveDateTime": at(yesterday),
            "interpretation": [
                {
                    "coding": [
                        {
                            "system": V3_INTERPRETATION,
                            "code": "POS",
                        }
                    ]
                }
            ],
            "valueString": "Escherichia coli",
        }
    )
    resources.append(  # aciclovir prophylaxis taken (RxNorm ingredient 281)
        {
            "resourceType": "MedicationStatement",
            "id": f"{patient_id}-ms",
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [{"system": RXNORM, "code": "281"}],
                "text": "acyclovir",
            },
            "subject": subject(patient_id),
            "effectivePeriod": {"start": at(day0 - timedelta(days=5))},
        }
    )
    resources.append(  # an active order (MedicationRequest) and a stopped one
        {
            "resourceType": "MedicationRequest",
            "id": f"{patient_id}-mr",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": RXNORM, "code": "73645"}],
                "text": "valacyclovir",
            },
            "subject": subject(patient_id),
            "authoredOn": at(day0 - timedelta(days=5)),
        }
    )
    resources.append(resources[-1] | {"id": f"{patient_id}-mr-stopped", "status": "stopped"})
    # a re-infusion planned in 20 days (what the transport carries; the mapping decides)
    return resources + planned_infusion(patient_id, today() + timedelta(days=20))


def preparing_patient(patient_id: str) -> list[dict[str, Any]]:
    """No infusion on record, only the planned one (a course in preparation)."""
    patient = {"resourceType": "Patient", "id": patient_id, "gender": "male"}
    return [patient, *planned_infusion(patient_id, today() + timedelta(days=9))]


def load(server: LocalFhirServer, resources: list[dict[str, Any]]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }
    response = requests.post(server.base_url, json=bundle, timeout=60)
    assert response.status_code == 200, response.text[:500]


@pytest.fixture(scope="module")
def loaded(fhir_server: LocalFhirServer) -> LocalFhirServer:
    load(fhir_server, infused_patient(INFUSED))
    load(fhir_server, preparing_patient(PREPARING))
    load(fhir_server, infused_patient(REFUSED))
    return fhir_server


@pytest.fixture(scope="module")
def app(database_url: str) -> Flask:
    settings = Settings(
        auth="none", timezone=TZ, database_url=database_url, metrics_token=METRICS_TOKEN
    )
    return create_app(settings)


def hook_body(base_url: str, patient_id: str) -> dict[str, Any]:
    return {  # no "prefetch": the service fetches every template itself
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": base_url,
        "fhirAuthorization": {
            "access_token": "opaque-test-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "icaht-cds",
        },
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
    }


def metric_values(app: Flask) -> dict[str, float]:
    response = app.test_client().get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert response.status_code == 200
    values: dict[str, float] = {}
    for line in response.get_data(as_text=True).splitlines():
        if line.startswith("icaht_") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def requests_for(values: dict[str, float], resource: str) -> float:
    return values.get(f'icaht_fhir_request_duration_seconds_count{{resource="{resource}"}}', 0.0)


def prefetch_count(values: dict[str, float], key: str, source: str) -> float:
    return values.get(f'icaht_prefetch_total{{key="{key}",source="{source}"}}', 0.0)


def call(
    app: Flask, base_url: str, patient_id: str, caplog: pytest.LogCaptureFixture
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(status, answer, the hook's log line) of one call without prefetch."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = app.test_client().post(
            "/cds-services/icaht-patient-view", json=hook_body(base_url, patient_id)
        )
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    hook_line = next(line for line in lines if line.get("event") == "hook")
    return response.status_code, response.get_json(), hook_line


def test_every_template_is_fetched_by_resource_type_without_prefetch(
    app: Flask, loaded: LocalFhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    before = metric_values(app)
    status, _answer, line = call(app, loaded.base_url, INFUSED, caplog)
    after = metric_values(app)

    assert status == 200
    # every discovery key was run on the FHIR server (no prefetch), none failed
    assert line["sources"] == {t.key: "fetched" for t in PREFETCH}
    for template in PREFETCH:
        assert prefetch_count(after, template.key, "fetched") == (
            prefetch_count(before, template.key, "fetched") + 1
        )
    # one search per template and resource type (issue 14 adds ServiceRequest, Appointment)
    for resource in ("ServiceRequest", "Appointment", "MedicationStatement", "MedicationRequest"):
        assert requests_for(after, resource) == requests_for(before, resource) + 1, resource
    observation_templates = sum(t.query.startswith("Observation?") for t in PREFETCH)
    assert requests_for(after, "Observation") == (
        requests_for(before, "Observation") + observation_templates
    )
    # what came back: the status filters left out the completed order, the cancelled
    # appointment and the stopped MedicationRequest
    counts = line["resources"]
    assert counts["serviceRequests"] == 1
    assert counts["appointments"] == 1
    assert counts["medicationStatements"] == 1
    assert counts["medicationRequests"] == 1
    assert counts["procedures"] == 1
    assert counts["patient"] == 1


# false once the findings branch is merged: the test then runs, and fails until
# the lab query carries fhir_mappings.culture_loinc_codes()
def test_fever_and_blood_culture_come_with_the_observation_reads(
    app: Flask, loaded: LocalFhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    status, _answer, line = call(app, loaded.base_url, INFUSED, caplog)

    assert status == 200
    counts = line["resources"]
    assert counts["vitals"] == 1  # the temperature, in its own key
    assert counts["labs"] == 2 * len(LAB_DAYS) + 1  # the counts and the blood culture


def test_a_planned_infusion_is_read_in_stage_1(
    app: Flask, loaded: LocalFhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A patient with only a planned infusion: stage 1 reads the ServiceRequest and the
    Appointment (they decide whether a course is in preparation), whatever stage 2 does."""
    status, _answer, line = call(app, loaded.base_url, PREPARING, caplog)

    assert status == 200
    stage1 = {t.key for t in PREFETCH if t.stage == 1}
    assert {"serviceRequests", "appointments", "medicationRequests"} <= stage1
    assert {k: v for k, v in line["sources"].items() if k in stage1} == dict.fromkeys(
        stage1, "fetched"
    )
    assert line["resources"]["serviceRequests"] == 1
    assert line["resources"]["appointments"] == 1


class RefusingProxy:
    """Forwards GETs to the FHIR server; answers 403 for the refused resource types."""

    def __init__(self, upstream: str, refused: frozenset[str]) -> None:
        self.asked: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.removeprefix("/fhir/")
                proxy.asked.append(path.split("?")[0])
                if path.split("?")[0].split("/")[0] in refused:
                    body = {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "forbidden"}],
                    }
                    self._send(403, json.dumps(body).encode())
                    return
                answer = requests.get(f"{upstream}/{path}", timeout=30)
                self._send(answer.status_code, answer.content)

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"


@pytest.fixture
def refusing(loaded: LocalFhirServer) -> Iterator[RefusingProxy]:
    proxy = RefusingProxy(loaded.base_url, frozenset({"ServiceRequest", "Appointment"}))
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


def test_refused_new_reads_are_left_out_with_their_reason(
    app: Flask, refusing: RefusingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """An EHR that did not grant ServiceRequest and Appointment: the hook still answers and
    grades, and the status card names both reads and why they are missing."""
    before = metric_values(app)
    status, answer, line = call(app, refusing.base, REFUSED, caplog)
    after = metric_values(app)

    assert status == 200
    assert {"ServiceRequest", "Appointment"} <= set(refusing.asked)
    assert line["sources"]["serviceRequests"] == "failed"
    assert line["sources"]["appointments"] == "failed"
    assert line["sources"]["labs"] == "fetched"
    for key in ("serviceRequests", "appointments"):
        assert prefetch_count(after, key, "failed") == prefetch_count(before, key, "failed") + 1
    status_card = next(c for c in answer["cards"] if RULE_KEY not in c["extension"])
    assert status_card["extension"][ASSESSMENT_KEY]["early_grade"] is not None  # still graded
    missing = status_card["detail"].split("**Not available for this assessment:**")[1]
    assert "serviceRequests (" in missing and "appointments (" in missing
    assert missing.count("403") == 2  # each with its reason
