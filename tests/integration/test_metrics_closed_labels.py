"""No patient id and no label of a caller's choosing reaches /metrics; /metrics needs its token
(issue 13, finding 6; docs/decisions/0019).

A real FHIR listener on loopback answers every GET with an empty Bundle and records the paths it
was asked for. A patient-view call names a patient whose id looks like a resource type
(capitalised) and carries prefetch Bundles whose `next` links put that id, and a would-be label,
into the URL path. The links are followed (the listener sees them), and the metrics page shows
resource types only.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fhir_listener import FhirListener
from flask.testing import FlaskClient

from cds_service import metrics
from cds_service.app import create_app
from cds_service.discovery import RESOURCE_TYPES
from cds_service.settings import Settings

PATIENT_ID = "Zed-Patient-4711"  # a valid FHIR id, capitalised like a resource type
# a would-be label breaking out of its quotes (no space, newline or backslash: those are refused)
INJECTED = 'Injected"},icaht_fake_total{x="1'
METRICS_TOKEN = "metrics-token-of-the-label-tests-0123456789"
HOOK = "/cds-services/icaht-patient-view"


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    settings = Settings(
        auth="none",
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        metrics_token=METRICS_TOKEN,
    )
    return create_app(settings).test_client()


def _paged(next_url: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [],
        "link": [{"relation": "next", "url": next_url}],
    }


def _metrics_text(client: FlaskClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_finding_6_patient_ids_and_injected_labels_never_reach_metrics(
    client: FlaskClient, listener: FhirListener
) -> None:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": listener.base,
        "context": {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID},
        "prefetch": {
            "procedures": _paged(f"{listener.base}/{PATIENT_ID}/_history?page=2"),
            "medications": _paged(f"{listener.base}/{INJECTED}"),
        },
    }
    response = client.post(HOOK, json=body)
    assert response.status_code == 200
    # the FHIR server was asked for the patient and for both paging links: each was observed
    asked = " ".join(listener.paths)
    assert f"/fhir/Patient/{PATIENT_ID}" in asked
    assert f"/fhir/{PATIENT_ID}/_history" in asked
    assert "/fhir/Injected" in asked
    text = _metrics_text(client)
    assert 'icaht_fhir_request_duration_seconds_count{resource="Patient"}' in text
    assert 'icaht_fhir_request_duration_seconds_count{resource="other"}' in text
    assert PATIENT_ID not in text
    assert "Injected" not in text and "icaht_fake" not in text


def test_finding_6_every_fhir_label_comes_from_a_closed_set(client: FlaskClient) -> None:
    metrics.observe_fhir_call("Observation", 0.01, "FhirTimeoutError")
    metrics.observe_fhir_call("P-0815", 0.01, "p-0815 was here")
    metrics.count_hook("icaht-p-0815", 200, 0.01)
    metrics.count_prefetch("p-0815", "p-0815")
    text = _metrics_text(client)
    assert "p-0815" not in text
    resources = set()
    for line in text.splitlines():
        if line.startswith("icaht_fhir_") and 'resource="' in line:
            resources.add(line.split('resource="')[1].split('"')[0])
    assert resources <= RESOURCE_TYPES | {"other"}
    assert 'icaht_fhir_errors_total{kind="FhirTimeoutError",resource="Observation"}' in text
    assert 'icaht_fhir_errors_total{kind="other",resource="other"}' in text


def test_finding_6_metrics_need_their_bearer_token(client: FlaskClient, tmp_path: Path) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        {"Authorization": METRICS_TOKEN},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert b"icaht_" not in refused.data
    assert "icaht_hook_requests_total" in _metrics_text(client)
    off = create_app(Settings(auth="none", database_url=f"sqlite:///{tmp_path / 'off.sqlite3'}"))
    assert off.test_client().get("/metrics").status_code == 404  # no token set: no metrics


def test_finding_6_the_metrics_token_is_long(monkeypatch: pytest.MonkeyPatch) -> None:
    from cds_service.settings import SettingsError  # noqa: PLC0415

    monkeypatch.setenv("ICAHT_CDS_METRICS_TOKEN", "short")
    with pytest.raises(SettingsError, match="ICAHT_CDS_METRICS_TOKEN"):
        Settings.from_env()
    monkeypatch.setenv("ICAHT_CDS_METRICS_TOKEN", "x" * 32)
    assert Settings.from_env().metrics_token == "x" * 32


def test_issue_18_refusal_labels_come_from_closed_sets(client: FlaskClient) -> None:
    """A refused call is counted by route and reason class; a value outside the sets (a service
    id or reason of a caller's choosing) becomes "other"."""
    metrics.count_refused("icaht-p-0815", 401, "p-0815 was here")
    metrics.count_refused("discovery", 401, "expired")
    text = _metrics_text(client)
    assert "p-0815" not in text
    assert 'icaht_auth_refused_total{reason="other",service="other"}' in text
    assert 'icaht_auth_refused_total{reason="expired",service="discovery"}' in text
    assert 'icaht_hook_requests_total{service="discovery",status="401"}' in text
    for line in text.splitlines():
        if line.startswith("icaht_auth_refused_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            service = line.split('service="')[1].split('"')[0]
            assert reason in metrics.REFUSAL_REASONS | {"other"}
            assert service in metrics.REFUSAL_ROUTES | metrics.SERVICES_BY_ID.keys() | {"other"}
