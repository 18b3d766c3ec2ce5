"""JSON log lines: request ids, timings and counts, never patient data or tokens.

Every line, the app's and gunicorn's (gunicorn_conf.LOGCONFIG_DICT), is one JSON object with
`ts` in UTC with milliseconds (2026-12-05T06:30:00.123Z), `level` and `logger`; a line logged
while a hook call is handled also carries its `hook_instance` (HookInstanceFilter: the
request's `flask.g.hook_instance`, set once the body has passed validation, where the
hookInstance is a UUID). gunicorn's access lines carry the method, the path without its query
string, the status, the size and the duration: FHIR-style query strings may hold patient ids.

This module is loaded by the gunicorn master (the logging configuration): it imports nothing
beyond the standard library, and reads Flask only when the process has already imported it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

_LOGGER = logging.getLogger("cds_service.events")
HOOK_INSTANCE_FIELD = "hook_instance"
# the WSGI environ key the app sets during a hook call: gunicorn's access line reads it
HOOK_INSTANCE_ENVIRON = "icaht.hook_instance"


def utc_timestamp(created: float) -> str:
    """`created` (seconds since the epoch) as 2026-12-05T06:30:00.123Z."""
    # from whole milliseconds: 1796452200.123 is 1796452200.12299... as a float
    whole, millis = divmod(round(created * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def current_hook_instance() -> str | None:
    """The hookInstance of the hook call this thread (or greenlet) is handling, or None."""
    flask = sys.modules.get("flask")  # never imported from here: the gunicorn master has none
    if flask is None or not flask.has_app_context():
        return None
    value = flask.g.get("hook_instance")
    return value if isinstance(value, str) else None


class HookInstanceFilter(logging.Filter):
    """Adds `hook_instance` to a record logged while a hook call is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, HOOK_INSTANCE_FIELD, None) is None:
            instance = current_hook_instance()
            if instance is not None:
                setattr(record, HOOK_INSTANCE_FIELD, instance)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        instance = getattr(record, HOOK_INSTANCE_FIELD, None)
        if instance is not None:
            entry[HOOK_INSTANCE_FIELD] = instance
        event = getattr(record, "event", None)
        if event:
            entry["event"] = event
            entry.update(getattr(record, "fields", {}))
        elif record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(access_fields(record.args))
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    """A gunicorn access line's fields (its atoms: glogging.Logger.atoms). `U` is the path
        without the query string; the full request line (`r`), the query (`q`), the referer and
        the user agent are left out. A hook call's line carries its hook instance (set by the app in
    the WSGI environ)."""
    duration_us = atoms.get("D")
    fields = {
        "event": "access",
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "status": _number(atoms.get("s")),
        "bytes": _number(atoms.get("B")),
        "duration_ms": round(duration_us / 1000, 2) if isinstance(duration_us, int) else None,
        "remote": atoms.get("h"),
    }
    instance = atoms.get(f"{{{HOOK_INSTANCE_ENVIRON}}}e")  # gunicorn's environ atom
    if isinstance(instance, str):
        fields[HOOK_INSTANCE_FIELD] = instance
    return fields


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    """A handler writing JSON lines (with the hook instance) to `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(HookInstanceFilter())
    return handler


def configure_logging(level: int = logging.INFO) -> None:
    """Install the JSON formatter once on the service's loggers (under gunicorn the logging
    configuration of gunicorn_conf has already done it)."""
    logger = logging.getLogger("cds_service")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    logger.addHandler(json_handler())
    logger.setLevel(level)
    logger.propagate = True


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    clean = {key: value for key, value in fields.items() if value is not None}
    _LOGGER.log(level, event, extra={"event": event, "fields": clean})
