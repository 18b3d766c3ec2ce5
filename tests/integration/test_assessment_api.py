"""POST /api/v1/assessment and the SMART app's routes (/smart/config.json, /smart/<file>).

The service runs as the Flask app in-process. The agreement test reads a synthetic patient's
resources from the real FHIR server over HTTP, as the SMART app does with its access token,
posts them, and compares the answer with the patient-view hook's status card for the same
evaluation date (the hook itself fetching from the same server).
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from smart_reads import read_like_the_app

from cds_service.app import Services, create_app, default_services
from cds_service.assessment_api import MAX_BODY_BYTES
from cds_service.discovery import lab_query, vital_sign_codes
from cds_service.settings import Settings, SettingsError
from cds_service.validation import response_errors
from fhir_mappings import loinc_codes_by_analyte
from icaht_demo.fhir_server import LocalFhirServer
from icaht_demo.synthetic import SyntheticPatient

TZ = "Europe/Berlin"
API = "/api/v1/assessment"
PUBLIC_URL = "https://cds.test.invalid"
EVALUATION_DATE = date(2026, 5, 20)  # the cohort's anchor is 2026-06-01: courses in all phases


def pinned_clock(tz: ZoneInfo) -> datetime:
    return datetime(2026, 5, 20, 14, 0, tzinfo=tz)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """Authentication off (the hook is called without a JWT here); clock pinned."""
    store = tmp_path_factory.mktemp("assessment") / "store.sqlite3"
    settings = Settings(
        public_url=PUBLIC_URL,
        auth="none",
        timezone=TZ,
        database_url=f"sqlite:///{store}",
        assessment_rate=None,  # hundreds of calls from one address (finding 8's limit: its tests)
    )
    services: Services = default_services(settings)
    services.clock = pinned_clock
    return create_app(settings, services)


@pytest.fixture(scope="module")
def ehr_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def secured_app(
    tmp_path_factory: pytest.TempPathFactory, ehr_key: ec.EllipticCurvePrivateKey
) -> Flask:
    """EHR authentication on, as in production (hooks: the EHR's JWT; assessment API: the
    SMART launch's id_token, signed by the same EHR here)."""
    workdir = tmp_path_factory.mktemp("assessment-jwt")
    key = ehr_key
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    clients = {
        "clients": [
            {
                "iss": "https://ehr.test.invalid",
                "jwks": {"keys": [jwk | {"kid": "k1", "alg": "ES384"}]},
                "fhir_servers": ["https://ehr.test.invalid/fhir"],
            }
        ]
    }
    (workdir / "clients.json").write_text(json.dumps(clients))
    issuers = {
        "issuers": [{"iss": "https://ehr.test.invalid", "jwks": clients["clients"][0]["jwks"]}]
    }
    (workdir / "smart-issuers.json").write_text(json.dumps(issuers))
    settings = Settings(
        public_url=PUBLIC_URL,
        auth="jwt",
        clients_path=str(workdir / "clients.json"),
        smart_issuers_path=str(workdir / "smart-issuers.json"),
        database_url=f"sqlite:///{workdir / 'store.sqlite3'}",
        cors_origins=("https://ehr.test.invalid",),
    )
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def status_card(
    client: FlaskClient, server: LocalFhirServer, patient_id: str
) -> dict[str, Any] | None:
    """The hook's ICAHT status card (None when the hook is quiet, e.g. grade 0)."""
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": server.base_url,
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
    }
    response = client.post("/cds-services/icaht-patient-view", json=body)
    assert response.status_code == 200
    answer = response.get_json()
    assert response_errors("response.json", answer) == []  # the SMART link is a valid link
    cards = [c for c in answer["cards"] if "org.icaht.rule" not in c["extension"]]
    return cards[0] if cards else None


def assess(client: FlaskClient, body: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = client.post(API, json=body, **kwargs)
    return response.status_code, response.get_json()


@pytest.mark.fhir_server
def test_the_api_agrees_with_the_status_card(
    client: FlaskClient,
    seeded_fhir_server: LocalFhirServer,
    synthetic_cohort: list[SyntheticPatient],
) -> None:
    """Same data, same day: the same early/late grade and phenotype as the hook's card."""
    config = client.get("/smart/config.json").get_json()
    compared = 0
    for patient in synthetic_cohort:
        card = status_card(client, seeded_fhir_server, patient.patient_id)
        if card is None:
            continue
        facts = card["extension"]["org.icaht.assessment"]
        resources = read_like_the_app(seeded_fhir_server.base_url, patient.patient_id, config)
        # the app evaluates at the date the card's SMART link hands it (appContext, issue 18)
        (link,) = card["links"]
        app_context = json.loads(link.pop("appContext"))
        assert app_context["evaluationDate"] == EVALUATION_DATE.isoformat()
        assert app_context["hookInstance"]
        body = {
            "patientId": patient.patient_id,
            "resources": resources,
            "evaluationDate": app_context["evaluationDate"],
        }
        status, answer = assess(client, body)
        assert status == 200, answer
        assert response_errors("assessment-response.json", answer) == []
        assert answer["early"]["grade"] == facts.get("early_grade")
        assert answer["early"]["status"] == facts.get("early_status")
        assert answer["late"]["grade"] == facts.get("late_grade")
        phenotype = facts.get("phenotype")
        assert answer["phenotype"]["code"] == (None if phenotype == "indeterminate" else phenotype)
        assert answer["day"] == facts["day"]
        assert card["links"] == [
            {
                "label": "ICAHT chart (SMART app)",
                "url": f"{PUBLIC_URL}/smart/launch.html",
                "type": "smart",
            }
        ]
        compared += 1
        if compared == 4:
            break
    assert compared == 4


def test_a_synthetic_course_has_series_episodes_and_texts(
    client: FlaskClient, synthetic_cohort: list[SyntheticPatient]
) -> None:
    patient = next(p for p in synthetic_cohort if p.plan.course == "aplastic")
    body = {"patientId": patient.patient_id, "resources": patient.resources()}
    status, answer = assess(client, body | {"evaluationDate": "2026-05-01"})
    assert status == 200
    assert response_errors("assessment-response.json", answer) == []
    assert answer["evaluationDate"] == "2026-05-01"
    assert answer["early"]["grade"] >= 3 and "early ICAHT grade" in answer["early"]["text"]
    assert any(e["threshold"] == 500 for e in answer["episodes"])
    anc = answer["series"]["anc"]
    assert anc["unit"] == "/uL" and anc["points"]
    assert all(-7 <= p["day"] <= 100 for p in anc["points"])
    assert [p["day"] for p in anc["points"]] == sorted({p["day"] for p in anc["points"]})
    last_day = (date(2026, 5, 1) - date.fromisoformat(answer["infusionDate"])).days
    assert max(p["day"] for p in anc["points"]) <= last_day


def test_every_course_at_every_phase_answers_to_the_schema(
    client: FlaskClient, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """Before day 0, early window, late window: each answer matches the response schema."""
    risks = set()
    for patient in synthetic_cohort:
        resources = patient.resources()
        for when in ("2025-06-01", "2026-01-15", EVALUATION_DATE.isoformat()):
            body = {"patientId": patient.patient_id, "resources": resources}
            status, answer = assess(client, body | {"evaluationDate": when})
            assert status == 200
            assert response_errors("assessment-response.json", answer) == [], patient.patient_id
            if answer["hematotox"]:
                risks.add(answer["hematotox"]["risk"])
    assert risks >= {"low", "high"}


def test_without_baseline_ferritin_car_hematotox_is_partial(
    client: FlaskClient, synthetic_cohort: list[SyntheticPatient]
) -> None:
    ferritin = set(loinc_codes_by_analyte()["ferritin"])
    patient = synthetic_cohort[0]
    resources = [
        r
        for r in patient.resources()
        if not ferritin & {c.get("code") for c in r.get("code", {}).get("coding", [])}
    ]
    status, answer = assess(client, {"patientId": patient.patient_id, "resources": resources})
    assert status == 200
    assert response_errors("assessment-response.json", answer) == []
    assert "missing: ferritin" in answer["hematotox"]["text"]
    assert "CAR-HEMATOTOX: no baseline ferritin" in answer["missing"]


def test_default_evaluation_date_is_today_in_the_service_time_zone(
    client: FlaskClient, synthetic_cohort: list[SyntheticPatient]
) -> None:
    patient = synthetic_cohort[0]
    status, answer = assess(client, {"patientId": patient.patient_id, "resources": []})
    assert status == 200
    assert answer["evaluationDate"] == EVALUATION_DATE.isoformat()


def test_no_infusion_on_record_gives_an_empty_assessment(client: FlaskClient) -> None:
    body = {"patientId": "p-1", "resources": [{"resourceType": "Patient", "id": "p-1"}]}
    status, answer = assess(client, body)
    assert status == 200
    assert response_errors("assessment-response.json", answer) == []
    assert answer["infusionDate"] is None and answer["day"] is None
    assert (answer["early"], answer["late"], answer["hematotox"]) == (None, None, None)
    assert answer["series"]["anc"]["points"] == [] and answer["alerts"] == []


def test_launch_token_no_cookie_and_no_cache(
    secured_app: Flask, ehr_key: ec.EllipticCurvePrivateKey
) -> None:
    """With EHR authentication on, the API takes the SMART launch's id_token (0009, finding 8
    of issue 13: tests/integration/test_assessment_api_finding8.py)."""
    client = secured_app.test_client()
    assert client.get("/cds-services").status_code == 401  # the hooks need the EHR's JWT
    body = {"patientId": "p-1", "resources": []}
    assert client.post(API, json=body).status_code == 401
    now = int(datetime.now().timestamp())
    claims = {"iss": "https://ehr.test.invalid", "sub": "dr-1", "aud": "icaht-cds-smart"}
    token = jwt.encode(claims | {"iat": now, "exp": now + 60}, ehr_key, "ES384", {"kid": "k1"})
    response = client.post(API, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_cors_on_the_api_follows_the_setting(secured_app: Flask) -> None:
    client = secured_app.test_client()
    origin = {"Origin": "https://ehr.test.invalid"}
    preflight = client.options(API, headers=origin | {"Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://ehr.test.invalid"
    response = client.post(API, json={"patientId": "p-1", "resources": []}, headers=origin)
    assert response.headers["Access-Control-Allow-Origin"] == "https://ehr.test.invalid"


def outcome_field(answer: dict[str, Any]) -> str:
    assert answer["resourceType"] == "OperationOutcome"
    return str(answer["issue"][0]["expression"][0])


OBSERVATION = {"resourceType": "Observation", "status": "final"}


def appointment(*actors: str) -> dict[str, Any]:
    """A booked Appointment (a planned CAR-T infusion, issue 14); default: another patient's."""
    return {
        "resourceType": "Appointment",
        "id": "appt-1",
        "status": "booked",
        "start": "2026-05-25T10:00:00+02:00",
        "participant": [
            {"actor": {"reference": actor}, "status": "accepted"}
            for actor in actors or ("Patient/p-2", "Practitioner/dr-1")
        ],
    }


def test_the_issue_14_resource_types_are_accepted(client: FlaskClient) -> None:
    """ServiceRequest, Appointment (the patient among its participants, also with others) and
    BiologicallyDerivedProduct (no patient reference in R4; an allogeneic donor's cells name
    the donor as their source) are taken (docs/decisions/0023)."""
    resources = [
        {"resourceType": "Patient", "id": "p-1"},
        {
            "resourceType": "ServiceRequest",
            "id": "sr-1",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p-1"},
        },
        appointment("Patient/p-1", "Practitioner/dr-1"),
        appointment("Patient/p-2", "Patient/p-1") | {"id": "appt-2"},
        appointment("Location/infusion-unit") | {"id": "appt-3"},
        {
            "resourceType": "BiologicallyDerivedProduct",
            "id": "hpc-1",
            "productCategory": "cells",
            "status": "available",
            "collection": {"source": {"reference": "Patient/donor-7"}},
        },
    ]
    status, answer = assess(client, {"patientId": "p-1", "resources": resources})
    assert status == 200, answer
    assert response_errors("assessment-response.json", answer) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "(body)"),
        ({"resources": []}, "patientId"),
        ({"patientId": "p 1", "resources": []}, "patientId"),
        ({"patientId": "p-1", "resources": {"resourceType": "Bundle"}}, "resources"),
        (
            {"patientId": "p-1", "resources": [OBSERVATION, {"id": "x"}]},
            "resources[1].resourceType",
        ),
        ({"patientId": "p-1", "resources": ["Observation"]}, "resources[0]"),
        ({"patientId": "p-1", "resources": [], "evaluationDate": "2026-02-30"}, "evaluationDate"),
        ({"patientId": "p-1", "resources": [], "evaluationDate": "20.05.2026"}, "evaluationDate"),
        ({"patientId": "p-1", "resources": [], "evaluationDate": "2026-05-21"}, "evaluationDate"),
        ({"patientId": "p-1", "resources": [], "extra": 1}, "extra"),
        (
            {
                "patientId": "p-1",
                "resources": [OBSERVATION | {"subject": {"reference": "Patient/p-2"}}],
            },
            "resources[0].subject.reference",
        ),
        (
            {"patientId": "p-1", "resources": [{"resourceType": "Patient", "id": "p-2"}]},
            "resources[0].id",
        ),
        (
            {"patientId": "p-1", "resources": [appointment("Patient/p-2")]},
            "resources[0].participant.actor.reference",
        ),
        (
            {
                "patientId": "p-1",
                "resources": [{"resourceType": "Bundle", "entry": [{"resource": appointment()}]}],
            },
            "resources[0].entry[0].resource.participant.actor.reference",
        ),
        (
            {
                "patientId": "p-1",
                "resources": [{"resourceType": "Bundle", "entry": [{"resource": {"id": "o"}}]}],
            },
            "resources[0].entry[0].resource",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field(client: FlaskClient, body: Any, field: str) -> None:
    status, answer = assess(client, body)
    assert status == 400
    assert outcome_field(answer) == field


def test_not_json_is_400_or_415(client: FlaskClient) -> None:
    broken = client.post(API, data="{not json", content_type="application/json")
    assert broken.status_code == 400 and outcome_field(broken.get_json()) == "(body)"
    text = client.post(API, data="patientId=p-1", content_type="text/plain")
    assert text.status_code == 415
    assert text.get_json()["resourceType"] == "OperationOutcome"


def test_too_large_is_413(client: FlaskClient) -> None:
    filler = "x" * (MAX_BODY_BYTES + 1)
    response = client.post(API, data=filler, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_too_large_without_a_length_is_413(client: FlaskClient) -> None:
    """A chunked body (no Content-Length; the WSGI server terminates the stream, as gunicorn
    does) is cut at the limit and refused, not parsed half."""
    resource = b'{"resourceType": "Basic"},'
    body = b'{"patientId": "p-1", "resources": [' + resource * (MAX_BODY_BYTES // 26)
    body += b'{"resourceType": "Basic"}]}'
    response = client.post(
        API,
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413


def test_smart_configuration(client: FlaskClient) -> None:
    response = client.get("/smart/config.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    config = response.get_json()
    assert config["clientId"] == "icaht-cds-smart"
    assert config["assessmentUrl"] == f"{PUBLIC_URL}/api/v1/assessment"
    assert config["scope"].split()[:3] == ["launch", "openid", "fhirUser"]
    assert "patient/Observation.rs" in config["scope"].split()
    assert "http://loinc.org|751-8" in config["observationCodes"]  # ANC
    # exactly the codes the hooks prefetch, labs and vital signs apart (decision 0023)
    assert lab_query().split("code=")[1].split("&")[0] == ",".join(config["observationCodes"])
    assert config["vitalSignCodes"] == [f"http://loinc.org|{c}" for c in vital_sign_codes()]
    assert not set(config["vitalSignCodes"]) & set(config["observationCodes"])
    # every read of the app has its scope (issue 14: planned infusions)
    for resource in ("Condition", "MedicationRequest", "MedicationStatement", "ServiceRequest"):
        assert f"patient/{resource}.rs" in config["scope"].split()
    assert "patient/Appointment.rs" in config["scope"].split()


def test_smart_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICAHT_CDS_SMART_CLIENT_ID", "other-client")
    monkeypatch.setenv("ICAHT_CDS_SMART_SCOPE", "launch/patient patient/*.rs")
    monkeypatch.setenv("ICAHT_CDS_SMART_LAUNCH_URL", "https://apps.example/icaht/launch.html")
    monkeypatch.setenv("ICAHT_CDS_PUBLIC_URL", "https://cds.example/")
    settings = Settings.from_env()
    assert (settings.smart_client_id, settings.smart_scope) == (
        "other-client",
        "launch/patient patient/*.rs",
    )
    assert settings.smart_launch == "https://apps.example/icaht/launch.html"
    assert Settings(public_url="https://cds.example").smart_launch == (
        "https://cds.example/smart/launch.html"
    )
    monkeypatch.setenv("ICAHT_CDS_SMART_LAUNCH_URL", "/smart/launch.html")
    with pytest.raises(SettingsError, match="ICAHT_CDS_SMART_LAUNCH_URL"):
        Settings.from_env()


STATIC = Path(__file__).resolve().parents[2] / "cds_service" / "smart" / "static"


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [("launch.html", "text/html"), ("index.html", "text/html"), ("app.js", "text/javascript")],
)
def test_the_app_files_are_served_uncached(client: FlaskClient, name: str, mimetype: str) -> None:
    response = client.get(f"/smart/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.data == (STATIC / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/smart/",
        "/smart/nope.html",
        "/smart/../app.py",
        "/smart/%2e%2e/__init__.py",
        "/smart/vendor",
        "/smart/.hidden.js",
        "/smart/app.py",
    ],
)
def test_anything_else_under_smart_is_404(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404
