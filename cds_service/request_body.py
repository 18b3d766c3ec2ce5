"""Reading a request body as JSON: size-capped, and refused with a 400 naming the field when
it holds what no later layer can store or compute with.

Python's json module accepts what FHIR JSON never holds and what later breaks a layer that
trusts it (issue 13, finding 5): NaN and Infinity, integers too large for a float, nesting deep
enough to exhaust the recursion limit, lone surrogates (not encodable as UTF-8: they break the
log line and the database write) and NUL characters (PostgreSQL text refuses them). A request
carrying any of them is refused here, once, for every endpoint.

Size limits (finding 9), from the largest request a real patient gives: a patient-view prefetch
of 500 newest lab Observations per key is about 1-2 MB of JSON; ten times the largest page the
service asks for is still far below 16 MiB. Feedback bodies carry a few card ids and reasons.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Request

from cds_service.errors import RequestValidationError, TooLargeError

MAX_HOOK_BODY_BYTES = 16 * 1024 * 1024
MAX_FEEDBACK_BODY_BYTES = 256 * 1024
# FHIR resources nest about a dozen levels (Bundle > entry > resource > component > code >
# coding); 64 leaves room for extensions and is far from Python's recursion limit
MAX_JSON_DEPTH = 64
MAX_INTEGER_DIGITS = 30  # larger integers are no count, value or id; a float would overflow


class BodyTooLargeError(TooLargeError):
    """The body exceeds its endpoint's limit (-> 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


def read_json(http: Request, max_bytes: int) -> Any:
    """The request's JSON body, or BodyTooLargeError / RequestValidationError."""
    return parse_json(read_body(http, max_bytes))


def read_body(http: Request, max_bytes: int) -> bytes:
    """The request's body as sent, or BodyTooLargeError when it exceeds `max_bytes`."""
    if (http.content_length or 0) > max_bytes:
        raise BodyTooLargeError(max_bytes)
    # a chunked body has no length: read at most one byte more than allowed to tell
    http.max_content_length = max_bytes + 1
    raw = http.get_data(cache=False)
    if len(raw) > max_bytes:
        raise BodyTooLargeError(max_bytes)
    return raw


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no huge integers, bounded depth, text that can be stored.

    The common body costs one orjson parse (C; a quarter of the json module's time with its
    per-number callbacks and a walk over every container for the depth). Every other body takes
    the json module's careful path, so that every answer stays what it was: a body whose raw
    text holds what could be a NUL, a surrogate, or an integer of 19 digits or more (orjson
    reads an integer beyond 64 bits as a float; the careful path keeps it exact or refuses it),
    and every body orjson refuses (the careful path then names the problem, or accepts what
    orjson alone refuses, such as a byte order mark)."""
    suspicious_text = _suspicious(raw)
    digits = raw.translate(_DIGITS_AS_ZERO)
    if not suspicious_text and _ORJSON_UNSAFE_DIGITS not in digits:
        body = _orjson_within_depth(raw)
        if body is not _REFUSED:
            return body
    return _parse_carefully(raw, suspicious_text, digits)


def _orjson_within_depth(raw: bytes) -> Any:
    """The body by orjson, or _REFUSED when orjson refuses it or it nests too deep.

    orjson refuses text that nests more containers than its fixed limit (1024). Inside
    `_WRAPPERS` arrays of one element each, the body reaches that limit exactly when it nests
    deeper than MAX_JSON_DEPTH, so the one C parse checks the depth too, with no walk over the
    body in Python. The arrays are taken off again, each checked to hold exactly one element:
    a text such as `1],[2`, not JSON alone, cannot pass for the body inside them."""
    if _WRAPPERS is None:  # an orjson without a depth limit: the walk checks the depth
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _REFUSED
        _check_depth(body)
        return body
    try:
        value = orjson.loads(b"[" * _WRAPPERS + raw + b"]" * _WRAPPERS)
    except orjson.JSONDecodeError:
        return _REFUSED  # not JSON, or too deep: the careful path says which
    try:
        for _ in range(_WRAPPERS):
            if type(value) is not list:
                return _REFUSED
            (value,) = value  # ValueError unless exactly one element (22 us, not 33 us)
    except ValueError:
        return _REFUSED
    return value


_REFUSED = object()


def _orjson_depth_limit() -> int | None:
    """The most containers orjson nests (1024 in orjson 3), or None without a limit."""

    def parses(containers: int) -> bool:
        try:
            orjson.loads(b"[" * containers + b"]" * containers)
        except orjson.JSONDecodeError:
            return False
        return True

    low, high = 1, 1 << 16  # parses(low); not parses(high), unless there is no limit
    if parses(high):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if parses(middle) else (low, middle)
    return low


_LIMIT = _orjson_depth_limit()
# the body may hold containers 0..MAX_JSON_DEPTH deep: MAX_JSON_DEPTH + 1 nested
_WRAPPERS = None if _LIMIT is None else _LIMIT - (MAX_JSON_DEPTH + 1)


def _parse_carefully(raw: bytes, suspicious_text: bool, digits: bytes | None = None) -> Any:
    """The json module, refusing constants, infinite floats and long integers as it parses; the
    per-value checks (NUL, surrogates) run only when a scan of the raw text found what could
    be one of them (a NUL or surrogate is written as a \\u escape)."""
    long_digits = _LONG_DIGITS in (raw.translate(_DIGITS_AS_ZERO) if digits is None else digits)
    try:
        body = json.loads(
            raw,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int if long_digits else int,
        )
    except (ValueError, RecursionError) as error:
        field, _, message = str(error).partition(": ")
        if isinstance(error, RequestValidationError):
            raise RequestValidationError(field, message) from None
        raise RequestValidationError("(body)", "is not valid JSON") from None
    _check_depth(body)
    if suspicious_text:
        for path, value, depth in _walk(body):
            _check_value(path, value, depth)
    return body


def _suspicious(raw: bytes) -> bool:
    """Whether the raw text holds what could be a NUL or a surrogate: a NUL byte, or a \\u
    escape of one. The escape needs a backslash: a body with none (JSON written without any
    escape, like the 110 kB body of benchmarks/profile_hook.py) is told by one byte search
    (about 1 us for 110 kB) instead of the pattern (about 30 us)."""
    if b"\x00" in raw:
        return True
    return b"\\" in raw and _SUSPICIOUS_ESCAPE.search(raw) is not None


# a \u escape of NUL or of a surrogate (paired ones, e.g. an emoji, are checked and pass)
_SUSPICIOUS_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
# runs of digits are looked for in a copy of the text with every digit a "0" and every other
# byte a space: a substring search, where a pattern like [0-9]{31} takes 25 times longer
_DIGITS_AS_ZERO = bytes(ord("0") if byte in b"0123456789" else ord(" ") for byte in range(256))
_LONG_DIGITS = b"0" * (MAX_INTEGER_DIGITS + 1)
# 19 digits: the shortest integer orjson may read as a float (below -2**63; above 2**64 - 1)
_ORJSON_UNSAFE_DIGITS = b"0" * 19


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise RequestValidationError("(body)", "holds a number too large to be a value")
    return value


def _check_depth(body: Any) -> None:
    """Nesting of objects and arrays, iteratively, level by level over the containers only."""
    level = [body] if isinstance(body, dict | list) else []
    depth = 0
    while level:
        if depth > MAX_JSON_DEPTH:
            raise RequestValidationError("(body)", f"nests deeper than {MAX_JSON_DEPTH}")
        below: list[Any] = []
        for value in level:
            for child in value.values() if type(value) is dict else value:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
        depth += 1


def _refuse_constant(name: str) -> Any:
    raise RequestValidationError("(body)", f"holds {name}, which is not JSON")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise RequestValidationError("(body)", "holds an integer too large to be a value")
    return int(digits)


def _check_value(path: str, value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise RequestValidationError(path or "(body)", f"nests deeper than {MAX_JSON_DEPTH}")
    if isinstance(value, str):
        if "\x00" in value:
            raise RequestValidationError(path or "(body)", "must not contain NUL characters")
        if any("\ud800" <= character <= "\udfff" for character in value):
            raise RequestValidationError(path or "(body)", "must not contain lone surrogates")
    elif isinstance(value, float) and not math.isfinite(value):
        raise RequestValidationError(path or "(body)", "must be a finite number")


def _walk(body: Any) -> Iterator[tuple[str, Any, int]]:
    """(path, value, depth) of every value and object key, iteratively (no recursion)."""
    stack: list[tuple[str, Any, int]] = [("", body, 0)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if isinstance(value, dict):
            for key, item in value.items():
                # a bad key is named by its parent: the key itself may be the bad text
                yield f"{path or '(body)'} (a key)", key, depth + 1
                child = f"{path}.{key}" if path else str(key)
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value))
