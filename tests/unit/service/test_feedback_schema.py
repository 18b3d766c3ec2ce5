"""CDS Hooks 2.0 feedback bodies (cds_service/schemas/feedback.json, validate_feedback).

Tagged with CDS Hooks 2.0 requirement ids (cds-hooks_2.0@N, Inferno CDS Hooks test kit).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cds_service.errors import RequestValidationError
from cds_service.store import FeedbackRecord, validate_feedback

CARD = "9b2a1c3e-4d5f-4a6b-8c7d-0e1f2a3b4c5d"
SERVICE = "icaht-patient-view"
CLIENT = "https://ehr.example.org"  # the authenticated caller (decision 0017)


def _entry(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied; a change to None removes the member."""
    entry = {**base, **changes}
    return {"feedback": [{k: v for k, v in entry.items() if v is not None}]}


def accepted(**changes: Any) -> dict[str, Any]:
    entry = {
        "card": CARD,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
        "outcomeTimestamp": "2026-11-24T10:15:00Z",
    }
    return _entry(entry, changes)


def overridden(**changes: Any) -> dict[str, Any]:
    entry = {
        "card": CARD,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "code": "not-applicable",
                "system": "https://icaht-cds.invalid/override-reasons",
                "display": "Not applicable to this patient",
            },
            "userComment": "Counts recovered since this morning",
        },
        "outcomeTimestamp": "2026-11-24T11:15:00.123+01:00",
    }
    return _entry(entry, changes)


def field_of(body: Any) -> str:
    with pytest.raises(RequestValidationError) as raised:
        validate_feedback(body, service_id=SERVICE, client=CLIENT)
    return raised.value.field


def test_the_schema_is_valid_draft_2020_12() -> None:
    text = resources.files("cds_service.schemas").joinpath("feedback.json").read_text()
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_accepted_feedback() -> None:
    """cds-hooks_2.0@154 @155 @156 @158 @161 @162."""
    (record,) = validate_feedback(
        accepted(), service_id=SERVICE, client=CLIENT, rules_version="1.4.0"
    )
    assert record == FeedbackRecord(
        client=CLIENT,
        service_id=SERVICE,
        card_uuid=CARD,
        outcome="accepted",
        outcome_timestamp=datetime(2026, 11, 24, 10, 15, tzinfo=UTC),
        accepted_suggestion_ids=("e56e1945-20b3-4393-8503-a1a20fd73152",),
        rules_version="1.4.0",
    )


def test_overridden_feedback_with_reason_and_comment() -> None:
    """cds-hooks_2.0@159 @165 @166; the timestamp is converted to UTC."""
    (record,) = validate_feedback(overridden(), service_id=SERVICE, client=CLIENT)
    assert record.outcome == "overridden"
    assert record.override_reason_code == "not-applicable"
    assert record.override_reason_system == "https://icaht-cds.invalid/override-reasons"
    assert record.override_reason_display == "Not applicable to this patient"
    assert record.user_comment == "Counts recovered since this morning"
    assert record.outcome_timestamp == datetime(2026, 11, 24, 10, 15, 0, 123000, tzinfo=UTC)
    assert record.accepted_suggestion_ids == ()


def test_overridden_without_reason_and_with_comment_only() -> None:
    """cds-hooks_2.0@160 @167: overrideReason and its members are optional."""
    body = overridden()
    del body["feedback"][0]["overrideReason"]
    (bare,) = validate_feedback(body, service_id=SERVICE, client=CLIENT)
    assert bare.override_reason_code is None and bare.user_comment is None
    (comment,) = validate_feedback(
        overridden(overrideReason={"userComment": "not now"}), service_id=SERVICE, client=CLIENT
    )
    assert comment.user_comment == "not now" and comment.override_reason_code is None


def test_several_entries_and_extensions() -> None:
    body = {"feedback": accepted()["feedback"] + overridden()["feedback"], "extension": {"x": 1}}
    body["feedback"][0]["extension"] = {"com.example.note": "ok"}
    records = validate_feedback(body, service_id=SERVICE, client=CLIENT)
    assert [r.outcome for r in records] == ["accepted", "overridden"]


def test_upper_case_uuid_is_stored_in_lower_case() -> None:
    (record,) = validate_feedback(accepted(card=CARD.upper()), service_id=SERVICE, client=CLIENT)
    assert record.card_uuid == CARD


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "(body)"),
        ([], "(body)"),
        ({}, "feedback"),
        ({"feedback": {}}, "feedback"),
        ({"feedback": []}, "feedback"),
        ({"feedback": ["x"]}, "feedback[0]"),
        (accepted(card=None), "feedback[0].card"),
        (accepted(card="not-a-uuid"), "feedback[0].card"),
        (accepted(card=42), "feedback[0].card"),
        (accepted(outcome="ignored"), "feedback[0].outcome"),
        (accepted(outcome=None), "feedback[0].outcome"),
        (accepted(outcomeTimestamp=None), "feedback[0].outcomeTimestamp"),
        (accepted(outcomeTimestamp="2026-11-24"), "feedback[0].outcomeTimestamp"),
        (accepted(outcomeTimestamp="2026-11-24T10:15:00"), "feedback[0].outcomeTimestamp"),
        (accepted(outcomeTimestamp="2026-13-24T10:15:00Z"), "feedback[0].outcomeTimestamp"),
        (accepted(outcomeTimestamp="yesterday"), "feedback[0].outcomeTimestamp"),
        (accepted(acceptedSuggestions="s-1"), "feedback[0].acceptedSuggestions"),
        (accepted(acceptedSuggestions=[{}]), "feedback[0].acceptedSuggestions[0].id"),
        (accepted(acceptedSuggestions=[{"id": 7}]), "feedback[0].acceptedSuggestions[0].id"),
        (overridden(overrideReason="no"), "feedback[0].overrideReason"),
        (
            overridden(overrideReason={"reason": {"code": "x"}}),
            "feedback[0].overrideReason.reason.system",
        ),
        (overridden(overrideReason={"userComment": 3}), "feedback[0].overrideReason.userComment"),
        (
            overridden(overrideReason={"userComment": "x" * 4001}),
            "feedback[0].overrideReason.userComment",
        ),
    ],
)
def test_malformed_bodies_name_the_field(body: Any, field: str) -> None:
    assert field_of(body) == field


def test_accepted_needs_accepted_suggestions() -> None:
    """cds-hooks_2.0@158: acceptedSuggestions is required when the outcome is accepted."""
    body = accepted()
    del body["feedback"][0]["acceptedSuggestions"]
    with pytest.raises(RequestValidationError) as raised:
        validate_feedback(body, service_id=SERVICE, client=CLIENT)
    assert raised.value.field == "feedback[0].acceptedSuggestions"
    assert "accepted" in raised.value.message


def test_the_offending_entry_is_named_by_its_index() -> None:
    body = {"feedback": accepted()["feedback"] + copy.deepcopy(overridden()["feedback"])}
    body["feedback"][1]["outcome"] = "dismissed"
    assert field_of(body) == "feedback[1].outcome"


def test_messages_do_not_echo_the_values_sent() -> None:
    secret = "Jane Doe MRN 12345"
    with pytest.raises(RequestValidationError) as raised:
        validate_feedback(accepted(outcome=secret), service_id=SERVICE, client=CLIENT)
    assert secret not in str(raised.value)


def test_too_many_entries_are_refused() -> None:
    body = {"feedback": accepted()["feedback"] * 101}
    assert field_of(body) == "feedback"
