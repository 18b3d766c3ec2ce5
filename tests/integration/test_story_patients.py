"""The demo's story patients through patient-view: each shows the rules its story was written for.

The story patients are loaded into the real FHIR server of the session (transactions over
HTTP); the service runs on a werkzeug server on 127.0.0.1 with its clock pinned to the stories'
anchor date and fetches every resource from that FHIR server itself (no prefetch), as in the
demo. Issue 14: at least six different rules fire across the demo patients on patient-view, and the
SMART app (its reads, then the assessment API) lists the same alerts for the same patient on
the same date.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from served import serve_pinned
from smart_reads import read_like_the_app

from cds_service.cards import RULE_KEY
from cds_service.settings import Settings
from cds_service.validation import response_errors
from icaht_demo.fhir_server import LocalFhirServer
from icaht_demo.synthetic.loader import seed_cohort
from icaht_demo.synthetic.stories import StoryPatient, story_patients

pytestmark = pytest.mark.fhir_server
TZ = "Europe/Berlin"  # the demo's time zone (icaht_demo/runner.py DEMO_TIMEZONE)
ANCHOR = date(2026, 6, 1)
STORIES = story_patients(ANCHOR)


def pinned_clock(zone: ZoneInfo) -> datetime:
    """Noon of the anchor date in the service's time zone: every story is on its day."""
    return datetime.combine(ANCHOR, time(12), zone)


@pytest.fixture(scope="module")
def stories_server(fhir_server: LocalFhirServer) -> LocalFhirServer:
    seed_cohort(fhir_server.base_url, STORIES)
    return fhir_server


@pytest.fixture(scope="module")
def service_url(database_url: str) -> Iterator[str]:
    settings = Settings(auth="none", timezone=TZ, database_url=database_url)
    with serve_pinned(settings, pinned_clock) as url:
        yield url


def patient_view(service_url: str, fhir_url: str, patient_id: str) -> dict[str, Any]:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_url,
        "fhirAuthorization": {
            "access_token": "opaque-test-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "icaht-cds",
        },
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
    }
    response = requests.post(
        f"{service_url}/cds-services/icaht-patient-view", json=body, timeout=60
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert response_errors("response.json", answer) == []
    return answer


def fired_rules(answer: dict[str, Any]) -> list[str]:
    return [c["extension"][RULE_KEY] for c in answer["cards"] if RULE_KEY in c["extension"]]


@pytest.mark.parametrize("story", STORIES, ids=[s.patient_id for s in STORIES])
def test_story_patient_shows_its_rules_on_patient_view(
    service_url: str, stories_server: LocalFhirServer, story: StoryPatient
) -> None:
    answer = patient_view(service_url, stories_server.base_url, story.patient_id)
    fired = fired_rules(answer)
    missing = [rule for rule in story.expected_rules if rule not in fired]
    assert not missing, f"{story.patient_id} ({story.story}): {missing} missing; fired {fired}"


def test_at_least_six_different_rules_fire_across_the_story_patients(
    service_url: str, stories_server: LocalFhirServer
) -> None:
    fired = {
        rule
        for story in STORIES
        for rule in fired_rules(
            patient_view(service_url, stories_server.base_url, story.patient_id)
        )
    }
    assert len(fired) >= 6, sorted(fired)


@pytest.mark.parametrize("story", STORIES, ids=[s.patient_id for s in STORIES])
def test_the_smart_app_lists_the_same_alerts_as_patient_view(
    service_url: str, stories_server: LocalFhirServer, story: StoryPatient
) -> None:
    """Issue 14: the app reads what app.js reads and posts it to the assessment API for the
    same evaluation date; its alerts are the hook's alert cards, rule for rule."""
    config = requests.get(f"{service_url}/smart/config.json", timeout=30).json()
    resources = read_like_the_app(stories_server.base_url, story.patient_id, config)
    body = {
        "patientId": story.patient_id,
        "resources": resources,
        "evaluationDate": ANCHOR.isoformat(),
    }
    response = requests.post(f"{service_url}/api/v1/assessment", json=body, timeout=60)
    assert response.status_code == 200, response.text
    listed = [alert["ruleId"] for alert in response.json()["alerts"]]
    hook = fired_rules(patient_view(service_url, stories_server.base_url, story.patient_id))
    assert sorted(listed) == sorted(hook), story.patient_id
    assert set(story.expected_rules) <= set(listed)
