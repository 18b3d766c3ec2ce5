"""cds_service.json_provider: orjson writes the answers (issue 20); a JSON reader gets what
Flask's own provider gave, on every kind of value the service answers with."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from cds_service.discovery import discovery_document
from cds_service.json_provider import OrjsonProvider

REQUESTS = Path(__file__).resolve().parents[2] / "data" / "requests"


@dataclass(frozen=True)
class Point:
    x: int
    label: str


def apps() -> tuple[Flask, Flask]:
    fast, plain = Flask("fast"), Flask("plain")
    fast.json = OrjsonProvider(fast)
    plain.json = DefaultJSONProvider(plain)
    return fast, plain


def both(value: Any) -> tuple[bytes, bytes]:
    fast, plain = apps()
    with fast.app_context():
        ours = fast.json.response(value).get_data()
    with plain.app_context():
        flasks = plain.json.response(value).get_data()
    return ours, flasks


VALUES: list[Any] = [
    discovery_document(),
    {"cards": []},
    {"b": 1, "a": [1.5, -0.0, 1e16, 2**63, None, True], "c": {"z": "x", "y": "µL ≤ 10⁹/L"}},
    {"when": datetime(2026, 6, 1, 8, 30, tzinfo=UTC), "day": date(2026, 6, 1)},
    {"id": uuid.UUID(int=7), "point": Point(3, "p"), "html": Markup("<b>x</b>")},
    {"amount": Decimal("1.10")},
    {"big": 2**70, "negative": -(2**64)},  # beyond 64 bits: the json module writes them
    {2: "int keys", 1: "the json module writes them as text"},
    {"nan": float("nan"), "inf": float("inf"), "none": None},
    [],
    "text",
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_answers_read_the_same(value: Any) -> None:
    ours, flasks = both(value)
    assert json.loads(ours) == json.loads(flasks) or (
        json.dumps(json.loads(ours)) == json.dumps(json.loads(flasks))  # NaN != NaN
    )
    assert ours.endswith(b"\n") and flasks.endswith(b"\n")


def test_ascii_answers_are_byte_for_byte_flasks() -> None:
    for value in (discovery_document(), {"cards": []}, {"b": [1, 2.5, None], "a": "x"}):
        ours, flasks = both(value)
        assert ours == flasks


def test_keys_the_json_module_cannot_sort_fail_alike() -> None:
    with pytest.raises(TypeError):
        both({1: "int key", "a": "text key"})
    fast, plain = apps()
    for app in (fast, plain):
        with app.app_context(), pytest.raises(TypeError):
            app.json.response({1: "x", "a": "y"})


def test_non_finite_floats_are_written_as_the_json_module_does() -> None:
    ours, flasks = both({"v": float("nan"), "w": [float("-inf")]})
    assert ours == flasks
    assert b"NaN" in ours


def test_request_fixtures_round_trip_unchanged() -> None:
    # the largest JSON the service handles: every fixture's body, written and read back
    for path in sorted(REQUESTS.glob("*.json")):
        body = json.loads(path.read_text())
        ours, flasks = both(body)
        assert json.loads(ours) == json.loads(flasks) == body, path.name


def test_debug_mode_and_options_keep_flasks_layout() -> None:
    fast, plain = apps()
    fast.debug = plain.debug = True
    with fast.app_context():
        ours = fast.json.response({"b": 1, "a": "ü"}).get_data()
        dumped = fast.json.dumps({"b": 1}, indent=2)
    with plain.app_context():
        flasks = plain.json.response({"b": 1, "a": "ü"}).get_data()
    assert ours == flasks
    assert dumped == '{\n  "b": 1\n}'


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON)
@settings(max_examples=300, deadline=None)
def test_any_value_reads_the_same(value: Any) -> None:
    ours, flasks = both(value)
    # compared as text of the parsed values: NaN == NaN there, and 1 and 1.0 differ
    assert json.dumps(json.loads(ours)) == json.dumps(json.loads(flasks))
