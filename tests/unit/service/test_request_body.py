"""cds_service.request_body: strict JSON at the boundaries (issue 13 findings 5, 9, 11)."""

from __future__ import annotations

import json

import pytest

from cds_service.errors import RequestValidationError
from cds_service.request_body import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH, parse_json


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
