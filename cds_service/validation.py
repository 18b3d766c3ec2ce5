"""JSON Schema validation of CDS Hooks bodies with the project's own schemas (draft 2020-12).

There is no official JSON Schema for CDS Hooks 2.0 (cds-hooks.org publishes none), so the
schemas in `cds_service/schemas/` are written from the specification text and HL7's logical
models. A failure names the offending field (`context.patientId`, `prefetch.labs`), which is
what the 400 answer shows to the EHR integrator.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
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
    if _conforms_quickly(schema_name, body):
        return
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


# A fast path for the hook requests (issue 20): jsonschema spends about 0.3 ms on a valid
# patient-view body (its per-keyword machinery, not the body's size: the schemas look only at
# the envelope, the context and each prefetch value's resourceType). `_conforms_quickly` checks
# exactly what request-common.json and the three request schemas say, and answers True only for
# a body jsonschema finds no error in; for any other body it answers False and jsonschema runs
# as before and names the field. The schemas' text is pinned by its digest: when one of them is
# edited the fast path switches itself off (jsonschema alone decides) until it is reviewed
# against the new text and the digest updated (tests/unit/service/test_request_schema_fast.py
# fails to say so, and compares the two paths on valid and broken bodies).
_FAST_SCHEMA_FILES = (
    "request-common.json",
    "request-patient-view.json",
    "request-order-select.json",
    "request-order-sign.json",
)
FAST_SCHEMAS_DIGEST = "495ec7693839e3474ab6f1a42de050aa80c6f479cf852752e96d1f1b4cfb0e5b"


def schemas_digest() -> str:
    """sha256 of the request schemas the fast path was written from (their bytes, in order)."""
    digest = hashlib.sha256()
    for name in _FAST_SCHEMA_FILES:
        digest.update(resources.files("cds_service.schemas").joinpath(name).read_bytes())
    return digest.hexdigest()


@cache
def fast_path_enabled() -> bool:
    return schemas_digest() == FAST_SCHEMAS_DIGEST


def _conforms_quickly(schema_name: str, body: Any) -> bool:
    """True only when `body` conforms to the request schema `schema_name` (see above)."""
    context_check = _CONTEXT_CHECKS.get(schema_name)
    if context_check is None or not fast_path_enabled() or type(body) is not dict:
        return False
    hook = _HOOK_OF_SCHEMA[schema_name]
    return (
        body.get("hook") == hook
        and _envelope_conforms(body, validator(schema_name).format_checker)
        and context_check(body["context"])
    )


def _envelope_conforms(body: dict[str, Any], formats: FormatChecker | None) -> bool:
    """request-common.json#/$defs/envelope: required members, their types and formats, a
    resource or null per prefetch key, fhirAuthorization only with fhirServer."""
    if formats is None or not ("hookInstance" in body and "context" in body):
        return False
    instance = body["hookInstance"]
    if type(instance) is not str or not formats.conforms(instance, "uuid"):
        return False
    if "fhirServer" in body:
        server = body["fhirServer"]
        if type(server) is not str or not formats.conforms(server, "uri"):
            return False
        if _HTTP_URL.search(server) is None:
            return False
    if "fhirAuthorization" in body and not (
        "fhirServer" in body and _authorization_conforms(body["fhirAuthorization"])
    ):
        return False
    if type(body["context"]) is not dict:
        return False
    prefetch = body.get("prefetch", {})
    return "prefetch" not in body or (
        type(prefetch) is dict and all(_resource_or_null(value) for value in prefetch.values())
    )


def _authorization_conforms(authorization: Any) -> bool:
    if type(authorization) is not dict:
        return False
    expires_in = authorization.get("expires_in")
    return (
        all(_non_empty(authorization.get(k)) for k in ("access_token", "scope", "subject"))
        and authorization.get("token_type") == "Bearer"
        and type(authorization["token_type"]) is str
        and type(expires_in) is int
        and expires_in >= 0
        and ("patient" not in authorization or _matches(_FHIR_ID, authorization["patient"]))
    )


def _resource_or_null(value: Any) -> bool:
    return value is None or (type(value) is dict and type(value.get("resourceType")) is str)


def _patient_context_conforms(context: dict[str, Any]) -> bool:
    """request-common.json#/$defs/patientContext (the whole context of patient-view)."""
    return (
        _matches(_REFERENCE, context.get("userId"))
        and _matches(_FHIR_ID, context.get("patientId"))
        and ("encounterId" not in context or _matches(_FHIR_ID, context["encounterId"]))
    )


def _order_sign_context_conforms(context: dict[str, Any]) -> bool:
    return _patient_context_conforms(context) and _draft_orders_conform(context.get("draftOrders"))


def _order_select_context_conforms(context: dict[str, Any]) -> bool:
    selections = context.get("selections")
    return (
        _order_sign_context_conforms(context)
        and type(selections) is list
        and len(selections) >= 1
        and all(_non_empty(selection) for selection in selections)
    )


def _draft_orders_conform(orders: Any) -> bool:
    """request-common.json#/$defs/draftOrders: a Bundle whose entries hold resources."""
    if type(orders) is not dict or orders.get("resourceType") != "Bundle":
        return False
    if type(orders["resourceType"]) is not str:
        return False
    entries = orders.get("entry", [])
    return "entry" not in orders or (type(entries) is list and all(map(_entry_conforms, entries)))


def _entry_conforms(entry: Any) -> bool:
    return (
        type(entry) is dict
        and type(entry.get("resource")) is dict
        and type(entry["resource"].get("resourceType")) is str
    )


def _non_empty(value: Any) -> bool:
    return type(value) is str and len(value) >= 1


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    # jsonschema applies a pattern with re.search, as here
    return type(value) is str and pattern.search(value) is not None


def _common_pattern(*path: str) -> re.Pattern[str]:
    """The pattern of request-common.json#/$defs/<path>, read from the schema itself."""
    schema = _registry().contents(SCHEMA_BASE + "request-common.json")["$defs"]
    for part in path:
        schema = schema[part]
    return re.compile(schema["pattern"])


_FHIR_ID = _common_pattern("fhirId")
_REFERENCE = _common_pattern("reference")
_HTTP_URL = _common_pattern("envelope", "properties", "fhirServer")
_CONTEXT_CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "request-patient-view.json": _patient_context_conforms,
    "request-order-select.json": _order_select_context_conforms,
    "request-order-sign.json": _order_sign_context_conforms,
}
_HOOK_OF_SCHEMA = {schema: hook for hook, schema in REQUEST_SCHEMAS.items()}
