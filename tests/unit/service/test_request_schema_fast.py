"""The fast path of hook-request validation (cds_service/validation.py `_conforms_quickly`)
against jsonschema with the same schemas: it may only ever say "conforms" for a body that
jsonschema finds no error in (any other body goes to jsonschema, which names the field), and it
must say so for the valid requests of the fixtures, or it saves nothing."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service import validation
from cds_service.validation import REQUEST_SCHEMAS, validator

FIXTURES = sorted((Path(__file__).parents[2] / "data" / "requests").glob("request-*.json"))

# values put in place of each member the schemas constrain: types, empty and odd strings,
# trailing newlines ($ in a pattern matches before one), long ids, formats just off
ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "x\n",
    ".",
    "..",
    "a.b",
    "1" * 64,
    "1" * 65,
    "Patient/1",
    "Patient/1\n",
    "Practitioner/",
    "/1",
    0,
    -1,
    1.0,
    2.5,
    True,
    False,
    10**20,
    [],
    ["x"],
    [""],
    [1],
    {},
    {"resourceType": "Bundle"},
    {"resourceType": 1},
    {"resourceType": None},
    {"resource": {"resourceType": "MedicationRequest"}},
    {"resource": {}},
    "ftp://ehr.example/fhir",
    "https://ehr.example/fhir",
    "http://",
    "https://ehr example/fhir",
    str(uuid.UUID(int=1)),
    str(uuid.UUID(int=1)).upper(),
    uuid.UUID(int=1).hex,
    "{" + str(uuid.UUID(int=1)) + "}",
    "Bearer",
    "bearer",
    "Bearer ",
    "\x00",
    "\u00e9",
]

AUTHORIZATION = {
    "access_token": "token",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "cds-service",
    "patient": "p-1",
}


def _fixtures() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in FIXTURES]


def _paths(body: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Paths (keys and indexes) to every member the request schemas say something about."""
    yield from [("hook",), ("hookInstance",), ("fhirServer",), ("context",), ("prefetch",)]
    yield ("fhirAuthorization",)
    yield from (("fhirAuthorization", key) for key in AUTHORIZATION)
    context = body.get("context", {})
    yield from (("context", key) for key in ("userId", "patientId", "encounterId"))
    if "selections" in context:
        yield from [("context", "selections"), ("context", "selections", 0)]
    if "draftOrders" in context:
        orders = ("context", "draftOrders")
        yield from [orders, (*orders, "resourceType"), (*orders, "entry")]
        if context["draftOrders"].get("entry"):
            entry = (*orders, "entry", 0)
            yield from [entry, (*entry, "resource"), (*entry, "resource", "resourceType")]
    for key in body.get("prefetch", {}):
        yield from [("prefetch", key), ("prefetch", key, "resourceType")]


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any, *, delete: bool) -> bool:
    parent: Any = body
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if not isinstance(parent, dict | list):
        return False
    if delete:
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif path[-1] < len(parent):
            del parent[path[-1]]
        return True
    if isinstance(parent, list) and path[-1] >= len(parent):
        return False
    parent[path[-1]] = value
    return True


def _variants(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield body
    with_server = copy.deepcopy(body) | {"fhirServer": "https://ehr.example/fhir"}
    for base in (body, with_server | {"fhirAuthorization": dict(AUTHORIZATION)}):
        yield base
        for path in _paths(base):
            for value in ODD_VALUES:
                changed = copy.deepcopy(base)
                if _set(changed, path, value, delete=False):
                    yield changed
            removed = copy.deepcopy(base)
            if _set(removed, path, None, delete=True):
                yield removed


def _schema(body: dict[str, Any]) -> str:
    return REQUEST_SCHEMAS.get(str(body.get("hook")), "request-patient-view.json")


def test_the_fast_path_is_on_for_the_schemas_it_was_written_from() -> None:
    # Failing here means a request schema changed: review `_conforms_quickly` against the new
    # text (it must not accept what the schema now refuses), then update FAST_SCHEMAS_DIGEST.
    assert validation.schemas_digest() == validation.FAST_SCHEMAS_DIGEST
    assert validation.fast_path_enabled()


def test_every_valid_fixture_takes_the_fast_path() -> None:
    for body in _fixtures():
        name = REQUEST_SCHEMAS[body["hook"]]
        assert validator(name).is_valid(body)
        assert validation._conforms_quickly(name, body), body["hookInstance"]


@pytest.mark.parametrize("hook", sorted(REQUEST_SCHEMAS))
def test_the_fast_path_never_accepts_what_jsonschema_refuses(hook: str) -> None:
    body = next(b for b in _fixtures() if b["hook"] == hook)
    name = REQUEST_SCHEMAS[hook]
    checked = accepted = 0
    for variant in _variants(body):
        fast = validation._conforms_quickly(name, variant)
        slow = validator(name).is_valid(variant)
        assert slow or not fast, (variant.get("context"), variant.get("fhirServer"))
        checked += 1
        accepted += fast
    assert checked > 500
    assert accepted > 50  # the variants that stay valid do take the fast path


@pytest.mark.parametrize("body", [None, [], "x", 1, {}, {"hook": "patient-view"}])
def test_not_an_object_or_an_empty_envelope_goes_to_jsonschema(body: Any) -> None:
    for name in REQUEST_SCHEMAS.values():
        assert not validation._conforms_quickly(name, body)


def test_other_schemas_have_no_fast_path() -> None:
    assert not validation._conforms_quickly("feedback.json", {"feedback": []})


def test_with_the_fast_path_off_the_answers_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    first = next(b for b in _fixtures() if b["hook"] == "patient-view")
    bodies = list(_variants(first))[::3]

    def answers() -> list[str | None]:
        found: list[str | None] = []
        for body in bodies:
            try:
                validation.validate_hook_request("patient-view", body)
            except validation.RequestValidationError as error:
                found.append(str(error))
            else:
                found.append(None)
        return found

    fast = answers()
    monkeypatch.setattr(validation, "_conforms_quickly", lambda name, body: False)
    assert answers() == fast
    assert None in fast and any(fast)
