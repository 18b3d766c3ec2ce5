"""Validation of a CDS Hooks 2.0 feedback body into `FeedbackRecord`s.

The schema is `cds_service/schemas/feedback.json` (draft 2020-12, written from the
specification). A failure raises `RequestValidationError` naming the first offending field
(`feedback[0].outcome`), for the route's 400 answer; messages never echo the values sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from cds_service.errors import RequestValidationError
from cds_service.store.records import FeedbackRecord


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(
        resources.files("cds_service.schemas").joinpath("feedback.json").read_text()
    )
    return Draft202012Validator(schema, format_checker=FormatChecker(["uuid"]))


def validate_feedback(
    body: Any, *, service_id: str, client: str, rules_version: str | None = None
) -> list[FeedbackRecord]:
    """The feedback entries of a request body, or RequestValidationError naming the field.

    `client` is the authenticated caller: the store accepts an entry only for a card issued to
    it (docs/decisions/0017).

    `rules_version` is left None when unknown: the store then takes it from the card's audit
    row, which knows the version that produced the card.
    """
    error = best_match(_validator().iter_errors(body))
    if error is not None:
        raise RequestValidationError(_field(error), _message(error))
    return [
        _record(entry, index, service_id, client, rules_version)
        for index, entry in enumerate(body["feedback"])
    ]


def _record(
    entry: Mapping[str, Any],
    index: int,
    service_id: str,
    client: str,
    rules_version: str | None,
) -> FeedbackRecord:
    reason = entry.get("overrideReason") or {}
    coding = reason.get("reason") or {}
    return FeedbackRecord(
        client=client,
        service_id=service_id,
        card_uuid=entry["card"].lower(),
        outcome=entry["outcome"],
        outcome_timestamp=_timestamp(entry["outcomeTimestamp"], index),
        accepted_suggestion_ids=tuple(s["id"] for s in entry.get("acceptedSuggestions", ())),
        override_reason_code=coding.get("code"),
        override_reason_system=coding.get("system"),
        override_reason_display=coding.get("display"),
        user_comment=reason.get("userComment"),
        rules_version=rules_version,
    )


def _timestamp(text: str, index: int) -> datetime:
    try:
        # the pattern guarantees an offset; 0001-01-01T00:00+01:00 has no UTC twin
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise RequestValidationError(
            f"feedback[{index}].outcomeTimestamp", "is not a valid date-time"
        ) from None


def _field(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = next((name for name in error.validator_value if name not in error.instance), None)
        if missing is not None:
            path += f".{missing}"
    return path.lstrip(".") or "(body)"


def _message(error: ValidationError) -> str:
    validator = error.validator
    if validator == "required":
        if list(error.schema_path)[-2:-1] == ["then"]:
            return "is required when outcome is 'accepted'"
        return "is required"
    if validator == "format":
        return f"is not a valid {error.validator_value}"
    if validator in ("enum", "const"):
        return f"must be one of {error.validator_value!r}"
    if validator == "type":
        return f"must be of type {error.validator_value}"
    if validator == "pattern":
        return "must be an RFC 3339 date-time with a time zone"
    if validator in ("minItems", "maxItems", "minLength", "maxLength"):
        return f"breaks the {validator} limit of {error.validator_value}"
    return f"fails the {validator} constraint"
