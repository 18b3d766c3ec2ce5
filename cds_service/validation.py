"""JSON Schema validation of CDS Hooks bodies with the project's own schemas (draft 2020-12).

There is no official JSON Schema for CDS Hooks 2.0 (cds-hooks.org publishes none), so the
schemas in `cds_service/schemas/` are written from the specification text and HL7's logical
models. A failure names the offending field (`context.patientId`, `prefetch.labs`), which is
what the 400 answer shows to the EHR integrator.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from cds_service.errors import RequestValidationError

SCHEMA_BASE = "https://icaht-cds.invalid/schemas/"
REQUEST_SCHEMAS = {
    "patient-view": "request-patient-view.json",
    "order-select": "request-order-select.json",
    "order-sign": "request-order-sign.json",
}


@cache
def _registry() -> Registry[Any]:
    entries = []
    for item in resources.files("cds_service.schemas").iterdir():
        if item.name.endswith(".json"):
            schema = json.loads(item.read_text())
            entries.append((SCHEMA_BASE + item.name, Resource.from_contents(schema)))
    return Registry().with_resources(entries)


@cache
def validator(schema_name: str) -> Draft202012Validator:
    schema = _registry().contents(SCHEMA_BASE + schema_name)
    return Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())


def field_name(error: ValidationError) -> str:
    """Dotted path of the field an error is about; for a missing field, the field itself."""
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = next((k for k in error.validator_value if k not in error.instance), None)
        if missing is not None:
            parts.append(f".{missing}")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = next((k for k in error.instance if k not in allowed), None)
        if extra is not None:
            parts.append(f".{extra}")
    if error.validator == "dependentRequired" and isinstance(error.instance, dict):
        for needs in error.validator_value.values():
            parts.extend(f".{k}" for k in needs if k not in error.instance)
    return "".join(parts).lstrip(".") or "(body)"


def _raise_first(schema_name: str, body: Any) -> None:
    error = best_match(validator(schema_name).iter_errors(body))
    if error is not None:
        raise RequestValidationError(field_name(error), _message(error))


def _message(error: ValidationError) -> str:
    # jsonschema messages may quote the offending value; keep them short and value-free
    if error.validator in ("required", "dependentRequired"):
        return "is required"
    if error.validator == "format":
        return f"is not a valid {error.validator_value}"
    if error.validator in ("const", "enum"):
        return f"must be one of {error.validator_value!r}"
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    if error.validator == "pattern":
        return "has an invalid format"
    if error.validator == "additionalProperties":
        return "is not allowed here"
    return f"fails the {error.validator} constraint"


def validate_hook_request(hook: str, body: Any) -> None:
    """Raise RequestValidationError naming the first offending field of a hook request."""
    if not isinstance(body, dict):
        raise RequestValidationError("(body)", "must be a JSON object")
    if body.get("hook") != hook:
        raise RequestValidationError("hook", f"must be {hook!r} for this service")
    _raise_first(REQUEST_SCHEMAS[hook], body)


def validate_body(schema_name: str, body: Any) -> None:
    """Raise RequestValidationError naming the first offending field of a JSON object body."""
    if not isinstance(body, dict):
        raise RequestValidationError("(body)", "must be a JSON object")
    _raise_first(schema_name, body)


def response_errors(schema_name: str, body: Any) -> list[str]:
    """Every schema violation of a body we produce (for tests and self-checks)."""
    return [f"{field_name(e)}: {e.message}" for e in validator(schema_name).iter_errors(body)]
