"""cds_service.request_body: strict JSON at the boundaries (issue 13 findings 5, 9, 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.errors import RequestValidationError
from cds_service.request_body import (
    _SUSPICIOUS_ESCAPE,
    MAX_INTEGER_DIGITS,
    MAX_JSON_DEPTH,
    _parse_carefully,
    _suspicious,
    parse_json,
)


def nested(containers: int) -> bytes:
    return b"[" * containers + b"]" * containers


def test_nesting_is_allowed_to_the_limit_and_refused_one_deeper() -> None:
    # containers 0..MAX_JSON_DEPTH deep: MAX_JSON_DEPTH + 1 brackets
    assert parse_json(nested(MAX_JSON_DEPTH + 1)) is not None
    with pytest.raises(RequestValidationError, match="nests deeper"):
        parse_json(nested(MAX_JSON_DEPTH + 2))


def test_nesting_deep_enough_for_a_recursion_error_is_a_400() -> None:
    with pytest.raises(RequestValidationError):
        parse_json(nested(100_000))


def test_integers_to_the_digit_limit_and_one_more() -> None:
    assert parse_json(b'{"v": %s}' % (b"9" * MAX_INTEGER_DIGITS)) == {"v": int("9" * 30)}
    with pytest.raises(RequestValidationError, match="integer too large"):
        parse_json(b'{"v": -%s}' % (b"9" * (MAX_INTEGER_DIGITS + 1)))
    # the same digits inside a string are text, not a number
    assert parse_json(b'{"id": "%s"}' % (b"9" * 40)) == {"id": "9" * 40}


@pytest.mark.parametrize("text", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
def test_non_finite_numbers_are_refused(text: bytes) -> None:
    with pytest.raises(RequestValidationError):
        parse_json(b'{"value": %s}' % text)


def test_nul_and_lone_surrogates_are_refused_naming_the_field() -> None:
    with pytest.raises(RequestValidationError) as nul:
        parse_json(b'{"a": {"text": "x\\u0000y"}}')
    assert nul.value.field == "a.text"
    for escape in (b"\\ud800", b"\\udfff", b"\\uDBFF"):
        with pytest.raises(RequestValidationError, match="surrogate"):
            parse_json(b'{"a": ["ok", "x' + escape + b'"]}')
    with pytest.raises(RequestValidationError) as key:
        parse_json(b'{"a": {"k\\u0000": 1}}')
    assert key.value.field == "a (a key)"


def test_paired_surrogates_and_ordinary_text_pass() -> None:
    body = parse_json(json.dumps({"text": "CRP \U0001f600 µL"}).encode())
    assert body == {"text": "CRP \U0001f600 µL"}
    assert parse_json(b'{"t": "a\\\\u0000 is written like this"}') == {
        "t": "a\\u0000 is written like this"
    }


# issue 20: the common body is parsed by orjson; what it gives must be what the json module's
# careful path gives (value and type: 1 and 1.0 differ), and what either refuses, both refuse
REQUESTS = Path(__file__).resolve().parents[2] / "data" / "requests"


def _typed(value: Any) -> str:
    """A text that tells ints from floats and keeps key order (== does neither)."""
    return json.dumps(value)


def _same_answer(raw: bytes) -> None:
    try:
        # the json module's path as parse_json ran it before orjson
        suspicious = _SUSPICIOUS_ESCAPE.search(raw) is not None or b"\x00" in raw
        careful: Any = _parse_carefully(raw, suspicious_text=suspicious)
    except RequestValidationError as error:
        with pytest.raises(RequestValidationError) as fast:
            parse_json(raw)
        assert (fast.value.field, fast.value.message) == (error.field, error.message)
        return
    assert _typed(parse_json(raw)) == _typed(careful)


@pytest.mark.parametrize("path", sorted(REQUESTS.glob("*.json")), ids=lambda p: p.name)
def test_every_request_fixture_parses_as_the_careful_path_does(path: Path) -> None:
    _same_answer(path.read_bytes())


@pytest.mark.parametrize(
    "raw",
    [
        b"-9223372036854775808",  # the smallest 64-bit integer: orjson keeps it an int
        b"-9223372036854775809",  # one below: orjson would give a float
        b"18446744073709551616",  # beyond 64 bits
        b"9" * MAX_INTEGER_DIGITS,
        b"[1, 1.0, -0, -0.0, 1e-400, 5e-324, 1.7976931348623157e308, 0.1]",
        b"\xef\xbb\xbf{}",  # a byte order mark: orjson refuses, the json module reads it
        b'"\xff"',  # not UTF-8
        b"[1,]",
        b"",
        b'{"a": 1, "a": 2}',
        nested(MAX_JSON_DEPTH + 1),
        nested(MAX_JSON_DEPTH + 2),
        nested(2000),  # beyond orjson's own depth limit
        b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1),
        b'{"a":' * (MAX_JSON_DEPTH + 2) + b"1" + b"}" * (MAX_JSON_DEPTH + 2),
        b'[{"a":' * 33 + b"[]" + b"}]" * 33,  # 67 containers, arrays and objects
        b'[{"a":' * 32 + b"1" + b"}]" * 32,  # 64
        # texts that are no JSON alone but could be, inside the arrays that check the depth
        b"1],[2",
        b"]",
        b"1]",
        b"[1",
        b"],[",
        b"]]][[[",
        b" ",
        b" [1] ",
        b'"a"]]]',
    ],
)
def test_edge_bodies_get_the_careful_paths_answer(raw: bytes) -> None:
    _same_answer(raw)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON)
@settings(max_examples=300, deadline=None)
def test_any_json_value_parses_as_the_careful_path_does(value: Any) -> None:
    _same_answer(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"\\", b"u", b"0", b"d", b"D", b"8", b"f", b"\x00", b"a", b'"']),
        max_size=24,
    )
)
def test_the_backslash_search_before_the_pattern_changes_no_answer(parts: list[bytes]) -> None:
    raw = b"".join(parts)
    assert _suspicious(raw) == (_SUSPICIOUS_ESCAPE.search(raw) is not None or b"\x00" in raw)
