"""Every per-rule request fixture (tests/data/requests) through the service over real HTTP.

The app runs on a werkzeug server on 127.0.0.1 with its clock pinned to the fixtures'
evaluation date; each file is posted with `requests` to the service of its hook, prefetch only.
`in` files must give a card of their rule with the catalogue's severity, `out` files none,
`unrelated` files no card at all. Every answer must validate against the project's response
schema, keep summaries under 140 characters, order cards critical > warning > info, and carry
suggestions whose resources are valid FHIR (fhir.resources R4B models).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, time
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class
from served import serve_pinned

from cds_service.app import create_app, default_services
from cds_service.cards import RULE_KEY
from cds_service.config import Settings
from cds_service.discovery import PREFETCH, SERVICES
from cds_service.validation import response_errors
from icaht.rules import RULES
from icaht.rules.catalogue import CITATIONS, RULES_BY_ID

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "requests"
FILES = sorted(FIXTURES.glob("request-*.json"))
NAME = re.compile(r"request-(?P<rule>M\d\d|unrelated)-(?P<side>in|out)-[a-z0-9.-]+\.json")
SERVICE_OF_HOOK = {service.hook: service.id for service in SERVICES}
RANK = {"critical": 0, "warning": 1, "info": 2}
# The catalogue lists a rule's highest severity; M14 on the order hooks answers with its
# "threshold not reached" card, which is info (icaht/rules/transfusion.py, _m14_not_reached).
SEVERITY_ON_ORDER_HOOKS = {"M14": "info"}
# rules whose card always carries a FHIR suggestion (on the hooks named)
SUGGESTING = {
    "M01": {"order-select", "order-sign"},
    "M02": {"patient-view"},
    "M03": {"patient-view"},
    "M05": {"order-select", "order-sign"},
    "M06": {"patient-view"},
    "M07": {"patient-view"},
    "M13": {"patient-view"},
    "M14": {"patient-view"},
    "M18": {"patient-view"},
    "M20": {"patient-view"},
}


def load_generator() -> ModuleType:
    """The generator script holds the one evaluation date and time zone of the fixtures."""
    spec = importlib.util.spec_from_file_location("request_fixtures", FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()


def pinned_clock(zone: ZoneInfo) -> datetime:
    """Noon of the evaluation date in the service's time zone."""
    return datetime.combine(GENERATOR.EVALUATION_DATE, time(12), zone)


@pytest.fixture(scope="module")
def service_url(database_url: str) -> Iterator[str]:
    settings = Settings(auth="none", timezone=GENERATOR.TIMEZONE, database_url=database_url)
    with serve_pinned(settings, pinned_clock) as url:
        yield url


@cache
def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return body


def post(service_url: str, name: str) -> requests.Response:
    body = fixture(name)
    url = f"{service_url}/cds-services/{SERVICE_OF_HOOK[body['hook']]}"
    return requests.post(url, json=body, timeout=30)


def parts(name: str) -> tuple[str, str]:
    match = NAME.fullmatch(name)
    assert match, f"{name} does not follow request-Mxx-in|out-<what>.json"
    return match["rule"], match["side"]


def rule_of(card: dict[str, Any]) -> str | None:
    rule: str | None = card["extension"].get(RULE_KEY)
    return rule


def expected_severity(rule_id: str, hook: str) -> str:
    if hook != "patient-view" and rule_id in SEVERITY_ON_ORDER_HOOKS:
        return SEVERITY_ON_ORDER_HOOKS[rule_id]
    return RULES_BY_ID[rule_id].severity


def check_source(card: dict[str, Any]) -> None:
    """Issue 12: the label is the whole short label of the citation the rule names first, the
    url that citation's own DOI (none when it has none), the full citation is in the detail,
    and no summary is cut with "..."."""
    rule_id = rule_of(card)
    assert rule_id is not None
    source = card["source"]
    [citation] = [c for c in CITATIONS if c.label == source["label"]]
    assert RULES_BY_ID[rule_id].source.startswith(citation.text)
    assert citation.text in card["detail"]
    if citation.doi is None:
        assert "url" not in source
    else:
        assert source["url"] == f"https://doi.org/{citation.doi}"
        assert f"doi:{source['url'].removeprefix('https://doi.org/')}" in citation.text
    assert "..." not in card["summary"]


def check_suggestions(card: dict[str, Any]) -> None:
    if card.get("suggestions"):
        assert card["selectionBehavior"] in ("at-most-one", "any")
    for suggestion in card.get("suggestions", []):
        assert uuid.UUID(suggestion["uuid"])
        for action in suggestion["actions"]:
            if "resource" in action:
                resource = action["resource"]
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("name", [f.name for f in FILES], ids=[f.name for f in FILES])
def test_fixture_answer(service_url: str, name: str) -> None:
    """cds-hooks_2.0 cards: 200, schema-valid, summaries < 140 characters, critical first,
    suggestions with uuids and valid FHIR resources; the rule fires (in) or not (out)."""
    rule_id, side = parts(name)
    hook = fixture(name)["hook"]
    response = post(service_url, name)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert response_errors("response.json", answer) == []
    cards: list[dict[str, Any]] = answer["cards"]
    assert all(len(card["summary"]) < 140 for card in cards)
    ranks = [RANK[card["indicator"]] for card in cards]
    assert ranks == sorted(ranks), "cards must be ordered critical > warning > info"
    for card in cards:
        check_suggestions(card)
        if rule_of(card) is not None:
            check_source(card)
    if rule_id == "unrelated":
        assert cards == []
        return
    fired = [card for card in cards if rule_of(card) == rule_id]
    if side == "out":
        assert fired == [], f"{rule_id} fired on its near-miss: {fired[0]['summary']}"
        return
    assert len(fired) == 1, [rule_of(card) for card in cards]
    assert fired[0]["indicator"] == expected_severity(rule_id, hook)
    if hook in SUGGESTING.get(rule_id, ()):
        assert fired[0]["suggestions"], f"{rule_id} card without its suggestion"


# M01 over HTTP, clinical-rules §17 C14: an explicit negation is stated, an unknown status (not
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
