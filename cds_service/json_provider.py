"""Flask's JSON answers written by orjson (issue 20): the same JSON, written in C.

What `jsonify` gives keeps its meaning: keys sorted, compact, one trailing newline; dates,
datetimes, dataclasses, UUIDs and `__html__` objects go through Flask's own conversion (HTTP
dates, not orjson's ISO 8601). Two differences in the bytes, none in the value a JSON reader
gets: text beyond ASCII is written as UTF-8 rather than as \\u escapes (JSON's own encoding,
RFC 8259 section 8.1), and a number may be spelled shorter (1e16, not 1e+16). Whatever orjson
cannot write the way the json module does (keys that are not text, integers beyond 64 bits, a
non-finite float, which orjson would write as null) is written by the json module, as before;
so is every call that asks for options (indentation in debug mode, `app.json.dumps(...,
indent=2)`). Request bodies are read elsewhere (request_body.py); `loads` is Flask's.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson
from flask.json.provider import DefaultJSONProvider

if TYPE_CHECKING:
    from werkzeug.sansio.response import Response

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME  # Flask writes dates as HTTP dates
    | orjson.OPT_PASSTHROUGH_DATACLASS  # Flask uses dataclasses.asdict
    | orjson.OPT_PASSTHROUGH_SUBCLASS  # str/int/dict subclasses: as the json module sees them
)


class OrjsonProvider(DefaultJSONProvider):
    """`app.json = OrjsonProvider(app)`."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:
            return super().dumps(obj, **kwargs)
        written = _orjson(obj, self.default)
        if written is None:
            # the json module's own spelling, as `dumps` gave it before this provider
            return super().dumps(obj)
        return written.decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        pretty = (self.compact is None and self._app.debug) or self.compact is False
        if not pretty:
            obj = self._prepare_response_obj(args, kwargs)
            written = _orjson(obj, self.default)
            if written is not None:
                answer: Response = self._app.response_class(mimetype=self.mimetype)
                answer.set_data(written + b"\n")  # type: ignore[attr-defined]
                return answer
        return super().response(*args, **kwargs)


def _orjson(obj: Any, default: Any) -> bytes | None:
    """The compact JSON of `obj`, or None where orjson's answer would differ in value."""
    try:
        written: bytes = orjson.dumps(obj, default=default, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return None  # non-text keys, integers beyond 64 bits, a type nobody converts
    if b"null" in written and _has_non_finite(obj):
        return None  # orjson writes NaN and Infinity as null; the json module as NaN/Infinity
    return written


def _has_non_finite(obj: Any) -> bool:
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return False
