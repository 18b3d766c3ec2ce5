"""No request body gives a 5xx (issue 13, finding 5).

Thousands of hostile bodies go through the service in process (Flask's test client: the
service's own routes, validation, mapping, engine, rules and cards; prefetch only, so no FHIR
server is needed): mutations of the per-rule request fixtures (a value at a random place
replaced by a number, a huge integer, a list, an object, null, a lone surrogate, a NUL, a long
string; a key removed), mutations of assessment-API and feedback bodies, and the bodies the
attack campaign found. The mutation stream is seeded, so a failure names a reproducible case.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app, default_services
from cds_service.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "requests"
SERVICE_OF_HOOK = {
    "patient-view": "icaht-patient-view",
    "order-select": "icaht-order-select",
    "order-sign": "icaht-order-sign",
}
HOOK_BODIES = 2000
ASSESSMENT_BODIES = 600
FEEDBACK_BODIES = 400
SEED = 20261205

HUGE_INTEGER = int("9" * 400)
REPLACEMENTS: tuple[Any, ...] = (
    0,
    -1,
    1.5e308,
    HUGE_INTEGER,
    [],
    [1, "a", None],
    {},
    {"reference": 5},
    None,
    True,
    "",
    "\ud800",
    "a\x00b",
    "x" * 5000,
    "Patient/other",
    "2026-02-30",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "http://attacker\\@127.0.0.1/fhir",
)


def _evaluation_date() -> Any:
    """The one evaluation date of the fixtures, from their generator (tests/data/requests)."""
    spec = importlib.util.spec_from_file_location("fuzz_fixtures", FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module.EVALUATION_DATE


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    store = tmp_path_factory.mktemp("fuzz") / "store.sqlite3"
    settings = Settings(
        auth="none",
        timezone="Europe/Berlin",
        database_url=f"sqlite:///{store}",
        assessment_rate=None,  # thousands of bodies from one address
    )
    evaluation_date = _evaluation_date()

    def pinned(zone: ZoneInfo) -> datetime:  # the fixtures' day, so their cards really fire
        return datetime.combine(evaluation_date, time(12), zone)

    app = create_app(settings, replace(default_services(settings), clock=pinned))
    app.testing = False  # errors must go through the service's own handlers, as in production
    with app.test_client() as test_client:
        yield test_client


def _fixtures() -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(FIXTURES.glob("request-*.json"))
    ]


def _places(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _places(value, (*path, index))


def _mutate(body: Any, rng: random.Random) -> Any:
    body = json.loads(json.dumps(body))
    for _ in range(rng.randint(1, 3)):
        places = [p for p in _places(body) if p]
        if not places:
            return rng.choice(REPLACEMENTS)
        place = rng.choice(places)
        parent = body
        for step in place[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[place[-1]]
        else:
            parent[place[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return body


def _post(client: FlaskClient, url: str, body: Any) -> int:
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8", "surrogatepass")
    return client.post(url, data=data, content_type="application/json").status_code


def _assert_no_5xx(failures: list[str], total: int) -> None:
    assert failures == [], f"{len(failures)} of {total} bodies gave a 5xx, e.g. {failures[:3]}"


def test_mutated_hook_requests_never_give_a_5xx(client: FlaskClient) -> None:
    rng = random.Random(SEED)
    fixtures = _fixtures()
    failures: list[str] = []
    for index in range(HOOK_BODIES):
        original = rng.choice(fixtures)
        body = _mutate(original, rng)
        url = f"/cds-services/{SERVICE_OF_HOOK[original['hook']]}"
        status = _post(client, url, body)
        if status >= 500:
            failures.append(f"#{index} {status} {json.dumps(body)[:300]}")
    _assert_no_5xx(failures, HOOK_BODIES)


def _assessment_body(fixture: dict[str, Any]) -> dict[str, Any]:
    resources = [b for b in fixture["prefetch"].values() if isinstance(b, dict)]
    return {"patientId": fixture["context"]["patientId"], "resources": resources}


def test_mutated_assessment_requests_never_give_a_5xx(client: FlaskClient) -> None:
    rng = random.Random(SEED + 1)
    bodies = [_assessment_body(f) for f in _fixtures()]
    failures: list[str] = []
    for index in range(ASSESSMENT_BODIES):
        body = _mutate(rng.choice(bodies), rng)
        status = _post(client, "/api/v1/assessment", body)
        if status >= 500:
            failures.append(f"#{index} {status} {json.dumps(body)[:300]}")
    _assert_no_5xx(failures, ASSESSMENT_BODIES)


FEEDBACK = {
    "feedback": [
        {
            "card": "5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {"system": "urn:x", "code": "not-applicable", "display": "n/a"},
                "userComment": "fine",
            },
            "outcomeTimestamp": "2026-06-01T10:00:00Z",
        }
    ]
}


def _issued_feedback(client: FlaskClient) -> dict[str, Any]:
    """FEEDBACK about a card this service really issued (to the anonymous client), so that the
    mutations reach the store's write path, not only the 'card not issued' refusal."""
    fixture = _one_fixture(BASE)
    answer = client.post("/cds-services/icaht-patient-view", json=fixture).get_json()
    # the status card: never withheld, so an override posted by an earlier test cannot hide it
    return _with(FEEDBACK, ("feedback", 0, "card"), answer["cards"][0]["uuid"])


def test_mutated_feedback_never_gives_a_5xx(client: FlaskClient) -> None:
    rng = random.Random(SEED + 2)
    issued = _issued_feedback(client)
    assert client.post("/cds-services/icaht-patient-view/feedback", json=issued).status_code == 200
    failures: list[str] = []
    for index in range(FEEDBACK_BODIES):
        body = _mutate(issued, rng)
        status = _post(client, "/cds-services/icaht-patient-view/feedback", body)
        if status >= 500:
            failures.append(f"#{index} {status} {json.dumps(body)[:300]}")
    _assert_no_5xx(failures, FEEDBACK_BODIES)


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _one_fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(body))
    parent: Any = copy
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return copy


BASE = "request-M14-in-platelets-10.json"


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("bundle link is a number", 200),
        ("coding.system is a list", 200),
        ("fullUrl is a list", 200),
        ("integer of 400 digits", 400),
        ("JSON nested 1,000 deep", 400),
        ("lone surrogate in a text", 400),
        ("NUL in a text", 400),
        ("NaN", 400),
    ],
)
def test_the_campaigns_hook_bodies_get_an_answer_not_a_500(
    client: FlaskClient, what: str, expected: int
) -> None:
    body = _one_fixture(BASE)
    labs = ("prefetch", "labs")
    first = (*labs, "entry", 0, "resource")
    raw: bytes | dict[str, Any]
    if what == "bundle link is a number":
        raw = _with(body, (*labs, "link"), 7)
    elif what == "coding.system is a list":
        raw = _with(body, (*first, "code", "coding", 0, "system"), ["http://loinc.org"])
    elif what == "fullUrl is a list":
        raw = _with(body, (*labs, "entry", 0, "fullUrl"), ["x"])
    elif what == "integer of 400 digits":
        raw = _with(body, (*first, "valueQuantity", "value"), HUGE_INTEGER)
    elif what == "JSON nested 1,000 deep":
        raw = json.dumps(_with(body, (*first, "note"), "DEEP")).replace('"DEEP"', "X").encode()
        raw = raw.replace(b"X", _deep(1000))
    elif what == "lone surrogate in a text":
        raw = _with(body, ("context", "userId"), "Practitioner/\ud800")
    elif what == "NUL in a text":
        raw = _with(body, (*first, "code", "text"), "ANC\x00")
    else:
        raw = json.dumps(body).replace('"value": 10', '"value": NaN', 1).encode()
    status = _post(client, "/cds-services/icaht-patient-view", raw)
    assert status == expected, what


def test_feedback_with_a_nul_is_a_400_not_a_503(client: FlaskClient) -> None:
    body = _with(
        _issued_feedback(client), ("feedback", 0, "overrideReason", "userComment"), "a\x00b"
    )
    response = client.post("/cds-services/icaht-patient-view/feedback", json=body)
    assert response.status_code == 400
    assert "userComment" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2026-02-30T00:00Z"]
)
def test_feedback_timestamps_at_the_edges_of_the_calendar_are_a_400(
    client: FlaskClient, timestamp: str
) -> None:
    body = _with(FEEDBACK, ("feedback", 0, "outcomeTimestamp"), timestamp)
    response = client.post("/cds-services/icaht-patient-view/feedback", json=body)
    assert response.status_code == 400


def test_a_nul_in_a_smart_path_is_a_404(client: FlaskClient) -> None:
    assert client.get("/smart/index.html%00.js").status_code == 404


def test_a_hook_body_over_its_limit_is_a_413(client: FlaskClient) -> None:
    from cds_service.request_body import MAX_HOOK_BODY_BYTES  # noqa: PLC0415

    data = b'{"hook": "patient-view", "pad": "' + b"x" * MAX_HOOK_BODY_BYTES + b'"}'
    response = client.post(
        "/cds-services/icaht-patient-view", data=data, content_type="application/json"
    )
    assert response.status_code == 413
