"""Every per-rule request fixture (tests/data/requests) through the service over real HTTP.

The app runs on a werkzeug server on 127.0.0.1 with its clock pinned to the fixtures'
evaluation date; each file is posted with `requests` to the service of its hook, prefetch only,
and its answer judged by tests/request_fixture_checks.py (`check_answer`: the same check the
unit tier runs through Flask's test client, tests/unit/test_request_fixtures.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class
from request_fixture_checks import (
    FILES,
    FIXTURES,
    GENERATOR,
    SERVICE_OF_HOOK,
    check_answer,
    fixture,
    parts,
    pinned_clock,
    rule_of,
    service_path,
)
from served import serve_pinned

from cds_service.app import create_app, default_services
from cds_service.discovery import PREFETCH
from cds_service.settings import Settings
from icaht.rules import RULES


@pytest.fixture(scope="module")
def service_url(database_url: str) -> Iterator[str]:
    settings = Settings(auth="none", timezone=GENERATOR.TIMEZONE, database_url=database_url)
    with serve_pinned(settings, pinned_clock) as url:
        yield url


def post(service_url: str, name: str) -> requests.Response:
    body = fixture(name)
    return requests.post(f"{service_url}{service_path(body)}", json=body, timeout=30)


@pytest.mark.parametrize("name", [f.name for f in FILES], ids=[f.name for f in FILES])
def test_fixture_answer(service_url: str, name: str) -> None:
    """cds-hooks_2.0 cards: 200, schema-valid, summaries < 140 characters, critical first,
    suggestions with uuids and valid FHIR resources; the rule fires (in) or not (out)."""
    response = post(service_url, name)
    assert response.status_code == 200, response.text
    check_answer(name, response.status_code, response.json())


# M01 over HTTP, docs/clinical §17 C14: an explicit negation is stated, an unknown status (not
# stated, or only in a note) asks to check (decision 0012)
M01_SAYS = {
    "request-M01-in-day-20-platelets-detail-irradiation-no.json": "order marked non-irradiated",
    "request-M01-in-day-20-rbc-nicht-bestrahlt.json": "order marked non-irradiated",
    "request-M01-in-day-20-platelets-irradiated-only-in-note.json": "not marked irradiated: check",
    "request-M01-in-day-20-platelets-unmarked.json": "not marked irradiated: check",
}


@pytest.mark.parametrize(("name", "ending"), M01_SAYS.items(), ids=list(M01_SAYS))
def test_M01_card_says_whether_the_order_is_unknown_or_non_irradiated(
    service_url: str, name: str, ending: str
) -> None:
    [card] = [c for c in post(service_url, name).json()["cards"] if rule_of(c) == "M01"]
    assert card["summary"].startswith("Consider irradiated blood products (at least until day +90")
    assert card["summary"].endswith(ending)


def test_every_fixture_is_a_complete_request_with_the_discovery_prefetch_keys() -> None:
    """cds-hooks_2.0 request: hook, context, prefetch under the discovery document's keys."""
    keys = {template.key for template in PREFETCH}
    assert FILES, f"no fixtures in {FIXTURES}"
    for path in FILES:
        parts(path.name)
        body = fixture(path.name)
        assert set(body["prefetch"]) == keys, path.name
        assert all(b["type"] == "searchset" for k, b in body["prefetch"].items() if k != "patient")
        context = body["context"]
        assert context["userId"] and context["patientId"]
        if body["hook"] != "patient-view":
            assert context["draftOrders"]["entry"], path.name
            get_fhir_model_class("Bundle").model_validate(context["draftOrders"])
        for resource in body["prefetch"].values():  # valid FHIR (R4B models), not just JSON
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def cannot_fire_list() -> set[str]:
    """Rule ids listed under the README's "Rules that cannot fire without configuration"
    heading."""
    text = (FIXTURES / "README.md").read_text(encoding="utf-8")
    section = text.split("## Rules that cannot fire without configuration", 1)[1].split("\n## ", 1)[
        0
    ]
    return set(re.findall(r"^- \*\*(M\d\d)\*\*", section, flags=re.MULTILINE))


def test_every_rule_has_an_in_fixture_or_is_listed_as_unable_to_fire() -> None:
    with_in = {parts(f.name)[0] for f in FILES if parts(f.name)[1] == "in"}
    unable = cannot_fire_list()
    assert unable, "the README's list of rules that cannot fire was not found"
    missing = [rule.id for rule in RULES if rule.id not in with_in | unable]
    assert missing == [], f"rules with neither an in fixture nor a README entry: {missing}"
    assert with_in & unable == set(), "a rule listed as unable to fire has an in fixture"
    assert unable <= {rule.id for rule in RULES}


def test_every_rule_has_a_near_miss() -> None:
    with_out = {parts(f.name)[0] for f in FILES if parts(f.name)[1] == "out"}
    assert [rule.id for rule in RULES if rule.id not in with_out] == []


def _post_body(service_url: str, body: dict[str, Any]) -> requests.Response:
    url = f"{service_url}/cds-services/{SERVICE_OF_HOOK[body['hook']]}"
    return requests.post(url, json=body, timeout=30)


def test_another_patients_prefetch_is_not_graded_for_this_patient(service_url: str) -> None:
    """Issue 13 finding 10: p003's prefetch under p004's id gave p003's grade on p004's chart.
    Resources naming another patient are left out; without them there is no course to grade."""
    name = "request-M14-in-platelets-10.json"
    own = fixture(name)
    assert "M14" in [rule_of(c) for c in post(service_url, name).json()["cards"]]
    body = json.loads(json.dumps(own))
    body["context"]["patientId"] = "someone-else"
    response = _post_body(service_url, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}


@pytest.mark.parametrize("patient_id", [".", "..", "...", "a/b", "a b", ""])
def test_a_patient_id_that_is_not_a_fhir_id_is_refused(service_url: str, patient_id: str) -> None:
    """Issue 13 finding 10: patientId "." made the fallback search every patient."""
    body = json.loads(json.dumps(fixture("request-M14-in-platelets-10.json")))
    body["context"]["patientId"] = patient_id
    response = _post_body(service_url, body)
    assert response.status_code == 400
    assert "context.patientId" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("threshold", "fires"), [(13, True), (14, False), (None, False)])
def test_m22_fires_once_a_centre_configures_its_threshold(
    database_url: str, threshold: int | None, fires: bool
) -> None:
    """M22 is the one rule off until configured (ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS): its `out`
    fixture (13 RBC units on record) fires at a threshold of 13, not 14, not unset."""
    settings = Settings(
        auth="none",
        timezone=GENERATOR.TIMEZONE,
        database_url=database_url,
        iron_overload_rbc_units=threshold,
    )
    app = create_app(settings, replace(default_services(settings), clock=pinned_clock))
    body = fixture("request-M22-out-13-rbc-units-no-threshold.json")
    answer = app.test_client().post("/cds-services/icaht-patient-view", json=body).get_json()
    m22 = [card for card in answer["cards"] if rule_of(card) == "M22"]
    assert len(m22) == (1 if fires else 0), [rule_of(c) for c in answer["cards"]]
    if fires:
        assert m22[0]["indicator"] == "info"
        assert "13 RBC units" in m22[0]["summary"]
