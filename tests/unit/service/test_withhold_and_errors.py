"""Overrides are a pure step over typed cards and the overridden concern keys (0007), and every
service error carries its status and its OperationOutcome (issue 15's error model)."""

from __future__ import annotations

from cds_service.cards import Card
from cds_service.errors import (
    AuthFailedError,
    CardsNotIssuedError,
    DataUnavailableError,
    RequestValidationError,
    ThrottledError,
)
from cds_service.overrides import withhold

SOURCE = {"label": "a source"}


def card(rule_id: str | None, concern: str | None, indicator: str = "warning") -> Card:
    return Card(
        summary=f"card {rule_id}",
        detail="",
        indicator=indicator,  # type: ignore[arg-type]
        source=SOURCE,
        assessment={},
        rule_id=rule_id,
        concern_key=concern,
        uuid=f"uuid-{rule_id}",
    )


def test_overridden_alert_cards_are_withheld_and_the_status_card_never() -> None:
    status = card(None, None, "info")
    m02, m03, m14 = card("M02", "k2"), card("M03", "k3"), card("M14", "k14", "critical")
    shown, withheld = withhold((m14, status, m02, m03), frozenset({"k2", "k14", "other"}))
    assert shown == (status, m03)  # in the order given
    assert withheld == (m14, m02)


def test_nothing_overridden_withholds_nothing() -> None:
    cards = (card(None, None, "info"), card("M02", "k2"))
    assert withhold(cards, frozenset()) == (cards, ())


def test_a_card_keeps_its_rule_and_concern_in_its_json_extension() -> None:
    answer = card("M02", "k2").as_json()
    assert answer["extension"]["org.icaht.rule"] == "M02"
    assert answer["extension"]["org.icaht.concern"] == "k2"
    assert list(answer) == ["summary", "detail", "indicator", "source", "extension", "uuid"]
    assert "org.icaht.rule" not in card(None, None).as_json()["extension"]


def test_errors_carry_their_status_and_operation_outcome() -> None:
    invalid = RequestValidationError("context.patientId", "is required")
    assert (invalid.status, str(invalid)) == (400, "context.patientId: is required")
    assert invalid.operation_outcome()["issue"] == [
        {
            "severity": "error",
            "code": "invalid",
            "diagnostics": "context.patientId is required",
            "expression": ["context.patientId"],
        }
    ]
    refused = AuthFailedError("expired")
    assert (refused.status, refused.reason, dict(refused.headers)) == (
        401,
        "expired",
        {"WWW-Authenticate": "Bearer"},
    )
    assert refused.operation_outcome()["issue"][0]["diagnostics"] == "authentication required"
    missing = DataUnavailableError(("labs",), ("labs: timed out",))
    assert (missing.status, missing.keys, str(missing)) == (412, ("labs",), "labs: timed out")
    assert missing.operation_outcome()["issue"][0]["diagnostics"] == (
        "required data unavailable: labs: timed out"
    )
    throttled = ThrottledError("rate limit", "3", {"Cache-Control": "no-store"})
    assert list(throttled.headers.items()) == [("Retry-After", "3"), ("Cache-Control", "no-store")]
    not_issued = CardsNotIssuedError((0, 2))
    assert [issue["expression"] for issue in not_issued.operation_outcome()["issue"]] == [
        ["feedback[0].card"],
        ["feedback[2].card"],
    ]
