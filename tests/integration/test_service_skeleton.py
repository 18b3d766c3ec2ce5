"""Discovery, health, CORS and request validation (no FHIR server needed).

Tagged with CDS Hooks 2.0 requirement ids (cds-hooks_2.0@N, Inferno CDS Hooks test kit).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.discovery import PREFETCH, lab_codes, vital_sign_codes
from cds_service.settings import Settings
from cds_service.validation import response_errors


@pytest.fixture
def client(database_url: str) -> FlaskClient:
    return create_app(Settings(auth="none", database_url=database_url)).test_client()


def valid_request(hook: str = "patient-view") -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": "p-1"}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/m-1"]
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}


def test_discovery_lists_one_service_per_hook(client: FlaskClient) -> None:
    """cds-hooks_2.0@4 @5 @6 @7 @9 @10 @13."""
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"  # @1
    body = response.get_json()
    assert response_errors("discovery.json", body) == []
    hooks = {service["hook"]: service["id"] for service in body["services"]}
    assert hooks == {
        "patient-view": "icaht-patient-view",
        "order-select": "icaht-order-select",
        "order-sign": "icaht-order-sign",
    }


def test_prefetch_templates_use_context_tokens_and_the_loinc_table(client: FlaskClient) -> None:
    """cds-hooks_2.0@29 @35 @36 @55 @59: keys per template; tokens {{context.patientId}}."""
    service = client.get("/cds-services").get_json()["services"][0]
    prefetch = service["prefetch"]
    assert set(prefetch) == {t.key for t in PREFETCH}
    for query in prefetch.values():
        assert "{{context.patientId}}" in query
    labs = prefetch["labs"]
    for code in lab_codes():  # the table's codes but the vital signs (decision 0023)
        assert f"http://loinc.org|{code}" in labs
    assert "_sort=-date" in labs and "_count=" in labs
    lab_list = labs.split("code=")[1].split("&")[0].split(",")
    for code in vital_sign_codes():  # body temperature has a key of its own
        assert f"http://loinc.org|{code}" in prefetch["vitals"]
        assert f"http://loinc.org|{code}" not in lab_list


def test_health(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_service_is_404_with_an_operation_outcome(client: FlaskClient) -> None:
    response = client.post("/cds-services/nope", json=valid_request())
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_cors_only_on_cds_services_and_preflight_needs_no_jwt(client: FlaskClient) -> None:
    """cds-hooks_2.0@208."""
    preflight = client.options(
        "/cds-services/icaht-patient-view",
        headers={"Origin": "https://ehr.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    # the default allows the service's own origin only (issue 13 finding 13)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    own = client.options(
        "/cds-services/icaht-patient-view",
        headers={"Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "POST"},
    )
    assert own.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8080"
    assert "Authorization" in own.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in client.get("/healthz").headers


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
        (lambda b: b.update(hook="order-sign"), "hook"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].update(patientId=""), "context.patientId"),
        (lambda b: b["context"].update(userId="dr-1"), "context.userId"),
        (lambda b: b.pop("context"), "context"),
        (lambda b: b.update(fhirServer="ftp://ehr.example/fhir"), "fhirServer"),
        (lambda b: b.update(prefetch={"labs": "not-a-resource"}), "prefetch.labs"),
        (
            lambda b: b.update(
                fhirServer="https://ehr.example/fhir",
                fhirAuthorization={"access_token": "t", "token_type": "Bearer"},
            ),
            "fhirAuthorization.expires_in",
        ),
        (
            lambda b: b.update(
                fhirAuthorization={
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "s",
                    "subject": "c",
                }
            ),
            "fhirServer",
        ),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_field(
    client: FlaskClient, mutate: Any, field: str
) -> None:
    body = valid_request()
    mutate(body)
    response = client.post("/cds-services/icaht-patient-view", json=body)
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["expression"] == [field]
    assert issue["diagnostics"].startswith(field)


@pytest.mark.parametrize(
    ("hook", "drop", "field"),
    [
        ("order-select", "selections", "context.selections"),
        ("order-select", "draftOrders", "context.draftOrders"),
        ("order-sign", "draftOrders", "context.draftOrders"),
    ],
)
def test_order_hooks_need_their_context(
    client: FlaskClient, hook: str, drop: str, field: str
) -> None:
    body = valid_request(hook)
    body["context"].pop(drop)
    response = client.post(f"/cds-services/icaht-{hook}", json=body)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [field]


def test_a_body_that_is_not_json_is_a_400(client: FlaskClient) -> None:
    response = client.post(
        "/cds-services/icaht-patient-view", data="{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["(body)"]
