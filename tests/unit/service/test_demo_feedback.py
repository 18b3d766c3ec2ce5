"""`icaht-cds demo-feedback`: the feedback body of the demo's printed call, from a saved answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds_service.store.feedback import validate_feedback
from icaht_cli.main import main
from icaht_demo.runner import DemoFeedbackError, feedback_body

NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
CARD_UUID = "46ac6caf-43b9-51f3-9275-3124930893b5"
SUGGESTION_UUID = "3f86184a-4480-57b3-980b-39d0b66301d3"
REASON = {"system": "urn:icaht-cds:CodeSystem:override-reason", "code": "not-applicable"}


def _answer(*, suggestions: bool) -> dict[str, object]:
    card: dict[str, object] = {"uuid": CARD_UUID, "overrideReasons": [REASON]}
    if suggestions:
        card["suggestions"] = [{"uuid": SUGGESTION_UUID, "label": "Order irradiated platelets"}]
    return {"cards": [card, {"uuid": "00000000-0000-4000-8000-000000000000"}]}


def test_a_card_with_a_suggestion_is_accepted_with_it() -> None:
    body = feedback_body(_answer(suggestions=True), NOW)
    assert body == {
        "feedback": [
            {
                "card": CARD_UUID,
                "outcome": "accepted",
                "outcomeTimestamp": "2026-06-01T09:30:00+00:00",
                "acceptedSuggestions": [{"id": SUGGESTION_UUID}],
            }
        ]
    }
    [record] = validate_feedback(body, service_id="icaht-order-sign", client="demo")
    assert record.accepted_suggestion_ids == (SUGGESTION_UUID,)


def test_a_card_without_a_suggestion_is_overridden_with_its_first_reason() -> None:
    [entry] = feedback_body(_answer(suggestions=False), NOW)["feedback"]
    assert entry["outcome"] == "overridden"
    assert entry["overrideReason"]["reason"] == REASON
    [record] = validate_feedback({"feedback": [entry]}, service_id="icaht-order-sign", client="x")
    assert record.outcome == "overridden"


def test_overridden_on_request_and_no_card_is_an_error() -> None:
    [entry] = feedback_body(_answer(suggestions=True), NOW, "overridden")["feedback"]
    assert entry["outcome"] == "overridden" and "acceptedSuggestions" not in entry
    with pytest.raises(DemoFeedbackError):
        feedback_body({"cards": []}, NOW)
    with pytest.raises(DemoFeedbackError):
        feedback_body(_answer(suggestions=False), NOW, "accepted")


def test_the_cli_prints_the_body_of_a_saved_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(_answer(suggestions=True)))
    assert main(["demo-feedback", str(saved)]) == 0
    [entry] = json.loads(capsys.readouterr().out)["feedback"]
    assert (entry["card"], entry["outcome"]) == (CARD_UUID, "accepted")
    saved.write_text(json.dumps({"cards": []}))
    assert main(["demo-feedback", str(saved)]) == 1
    assert "no card" in capsys.readouterr().err
