"""The check of one per-rule request fixture's answer (tests/data/requests), shared by both tiers.

tests/integration/test_rule_fixtures.py posts each file over real HTTP (werkzeug), and
tests/unit/test_request_fixtures.py through Flask's test client; both pin the service's clock to
the fixtures' evaluation date (`pinned_clock`) and judge the answer with `check_answer`:
`in` files must give a card of their rule with its expected severity, `out` files none,
`unrelated` files no card at all; every answer validates against the project's response schema,
keeps summaries under 140 characters, orders cards critical > warning > info, and carries
suggestions whose resources are valid FHIR (fhir.resources R4B models).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import uuid
from datetime import datetime, time
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B import get_fhir_model_class

from cds_service.cards import RULE_KEY
from cds_service.discovery import SERVICES
from cds_service.validation import response_errors
from icaht.rules.catalogue import CITATIONS, RULES_BY_ID

FIXTURES = Path(__file__).resolve().parent / "data" / "requests"
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


@cache
def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return body


def service_path(body: dict[str, Any]) -> str:
    return f"/cds-services/{SERVICE_OF_HOOK[body['hook']]}"


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


def check_answer(name: str, status: int, answer: Any) -> None:
    """The service's answer (HTTP status and JSON body) to fixture `name`, judged as the module
    docstring says."""
    rule_id, side = parts(name)
    hook = fixture(name)["hook"]
    assert status == 200, answer
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
