"""Issue 19: the status card names the neutrophil grade N-ICAHT and adds one T-ICAHT line with
its evidence (docs/clinical §18), and the card extension `org.icaht.assessment` carries
t_early_grade, t_early_status, t_late_grade and t_late_confirmed.

The N-ICAHT part is the real `assess()` of a real PatientRecord; the T-ICAHT result is built by
hand (TEarlyResult / TLateResult as the engine fills them), so these tests pin the card's
wording independently of the engine's grading.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.cards import CardInputs, status_card
from icaht import Assessment, assess
from icaht.record import Analyte, CarTInfusion, LabValue, PatientRecord, TherapyTimeline
from icaht.thrombocytopenia import TEarlyResult, ThrombocytopeniaResult, TLateResult

DAY0 = date(2026, 9, 1)
KEY = "org.icaht.assessment"


def lab(day: int, value: float) -> LabValue:
    return LabValue(Analyte.ANC, value, DAY0 + timedelta(days=day), source_id=f"O/{day}")


def early(grade: int | None, below_50: int, below_20: int, **kw: Any) -> TEarlyResult:
    fields: dict[str, Any] = {
        "grade": grade,
        "status": "final",
        "lower_bound": False,
        "days_below_50": below_50,
        "days_below_20": below_20,
        "window_end_day": 30,
        "below_50_days": tuple(range(2, 2 + below_50)),
        "below_20_days": tuple(range(4, 4 + below_20)),
    }
    return TEarlyResult(**(fields | kw))


def late(grade: int | None, **kw: Any) -> TLateResult:
    fields: dict[str, Any] = {
        "grade": grade,
        "confirmed": True,
        "status": "provisional",
        "window_end_day": 45,
        "nadir": 35.0 if grade is not None else None,
        "nadir_day": 40 if grade is not None else None,
        "days_below_20": 0,
    }
    return TLateResult(**(fields | kw))


def platelets(
    e: TEarlyResult, la: TLateResult, recovery: int | None = 22, transfused: bool = False
) -> ThrombocytopeniaResult:
    return ThrombocytopeniaResult(
        e, la, recovery, DAY0, DAY0 + timedelta(45), None, None, transfused
    )


def assessment(result: ThrombocytopeniaResult | None, day: int = 45) -> Assessment:
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 9)), *(lab(d, 2000) for d in (9, 20, 40))]
    record = PatientRecord("p1", tuple(labs), TherapyTimeline(infusions=(CarTInfusion(DAY0),)))
    return replace(
        assess(record, evaluation_date=DAY0 + timedelta(days=day)), thrombocytopenia=result
    )


def card(a: Assessment, day: int = 45) -> dict[str, Any]:
    inputs = CardInputs("icaht-patient-view", "p1", a, (), (), DAY0 + timedelta(day))
    return status_card(inputs).as_json()


def t_line(answer: dict[str, Any]) -> str:
    # the status card lists one fact per Markdown list item (issue 18)
    lines = [x for x in answer["detail"].splitlines() if x.startswith("- **T-ICAHT")]
    assert len(lines) == 1, answer["detail"]
    return lines[0]


def test_the_t_icaht_line_follows_the_n_icaht_lines_with_its_cumulative_days() -> None:
    answer = card(assessment(platelets(early(3, 16, 9), late(2))))
    detail = answer["detail"]
    assert detail.index("**Early N-ICAHT (days 0-30)") < detail.index("**Late N-ICAHT")
    assert detail.index("**Late N-ICAHT") < detail.index("**T-ICAHT (platelets):**")
    assert t_line(answer) == (
        "- **T-ICAHT (platelets):** early 3 (final): platelets < 50 x10^9/L on 16 days, "
        "< 20 x10^9/L on 9 days (cumulative, days 0-30); late 2 (provisional), confirmed: "
        "lowest 35 x10^9/L on day 40; platelet recovery (>= 20 x10^9/L without transfusion) "
        "on day 22."
    )
    assert "doi:10.1182/blood.2025028833" in detail  # the T-ICAHT source is named


def test_the_summary_names_both_gradings_when_it_fits() -> None:
    answer = card(assessment(platelets(early(4, 20, 15), late(3, days_below_20=5))))
    assert answer["summary"].startswith("ICAHT day +45: N-ICAHT early grade ")
    assert "; T-ICAHT early 4, late 3" in answer["summary"]
    assert len(answer["summary"]) < 140


def test_the_summary_drops_t_icaht_rather_than_pass_140_characters() -> None:
    """A long N-ICAHT summary (died, lower bound, unconfirmed late grade, phenotype so far)
    leaves no room: the T-ICAHT part goes, the detail keeps its line."""
    base = assessment(platelets(early(4, 20, 15, lower_bound=True), late(4, days_below_20=20)))
    n = base.neutropenia
    assert n is not None
    long_early = replace(n.early, status="provisional", lower_bound=True)
    long_late = replace(n.late, grade=4, confirmed=False, status="provisional")
    a = replace(base, neutropenia=replace(n, early=long_early, late=long_late))
    a = replace(a, death_date=DAY0 + timedelta(days=100))
    answer = card(a)
    assert "T-ICAHT" not in answer["summary"]
    assert len(answer["summary"]) < 140
    assert "**T-ICAHT (platelets):** early 4+ (final)" in answer["detail"]


def test_a_lower_bound_and_an_unconfirmed_late_grade_are_said() -> None:
    e = early(2, 8, 0, lower_bound=True, status="provisional")
    la = late(2, confirmed=False)
    text = t_line(card(assessment(platelets(e, la, recovery=None))))
    assert "early 2+ (provisional): platelets < 50 x10^9/L on 8 days" in text
    assert ", a lower bound (days without a count)" in text
    assert "late 2 (provisional), unconfirmed: one count, 35 x10^9/L on day 40" in text
    assert "repeat the platelet count to confirm" in text
    assert "recovery" not in text  # never < 20 x10^9/L: nothing to recover from


def test_late_grade_3_counts_its_days_below_20_and_recovery_not_yet() -> None:
    la = late(3, nadir=12.0, nadir_day=38, days_below_20=6)
    text = t_line(card(assessment(platelets(early(4, 25, 18), la, recovery=None))))
    assert (
        "late 3 (provisional), confirmed: lowest 12 x10^9/L on day 38, < 20 x10^9/L on 6 days"
        in (text)
    )
    assert "no platelet recovery yet (3 days >= 20 x10^9/L without transfusion)" in text


def test_late_grade_0_and_one_day_are_worded() -> None:
    la = late(0, nadir=140.0, nadir_day=35)
    text = t_line(card(assessment(platelets(early(1, 1, 0), la, recovery=None))))
    assert "< 50 x10^9/L on 1 day," in text
    assert "late 0 (provisional): lowest platelets after day 30 140 x10^9/L on day 35" in text


def test_not_graded_t_icaht_says_why() -> None:
    e = early(None, 0, 0, reason="no platelet count in days 0-30")
    la = late(None, reason="no platelet count after day 30 yet")
    text = t_line(card(assessment(platelets(e, la, recovery=None))))
    assert text == (
        "- **T-ICAHT (platelets):** early not graded (no platelet count in days 0-30); late not "
        "graded (no platelet count after day 30 yet)."
    )


def test_counts_after_a_platelet_transfusion_are_said_only_when_used() -> None:
    """§18 [PROPOSED]: a count within 24 h after a transfusion counts as measured; say so."""
    phrase = "rests on counts measured within 24 h after a platelet transfusion"
    used = card(assessment(platelets(early(3, 10, 4), late(2), transfused=True)))
    assert phrase in t_line(used)
    assert phrase not in card(assessment(platelets(early(3, 10, 4), late(2))))["detail"]


def test_without_a_t_icaht_result_there_is_no_line_and_no_t_keys() -> None:
    answer = card(assessment(None))
    assert "T-ICAHT" not in answer["summary"] + answer["detail"]
    assert not {k for k in answer["extension"][KEY] if k.startswith("t_")}
    assert "**Early N-ICAHT (days 0-30)" in answer["detail"]


@pytest.mark.parametrize(
    ("e", "la", "expected"),
    [
        (
            early(3, 16, 9),
            late(2),
            {
                "t_early_grade": 3,
                "t_early_status": "final",
                "t_late_grade": 2,
                "t_late_confirmed": True,
            },
        ),
        (
            early(1, 2, 0, status="provisional"),
            late(2, confirmed=False),
            {
                "t_early_grade": 1,
                "t_early_status": "provisional",
                "t_late_grade": 2,
                "t_late_confirmed": False,
            },
        ),
        # late grade 0: no confirmation to speak of (as late_confirmed of N-ICAHT)
        (
            early(0, 0, 0),
            late(0),
            {"t_early_grade": 0, "t_early_status": "final", "t_late_grade": 0},
        ),
        # not graded: the keys are absent, never null (issue 5)
        (early(None, 0, 0, status="censored"), late(None), {"t_early_status": "censored"}),
    ],
)
def test_the_extension_carries_the_t_icaht_keys_beside_the_n_icaht_ones(
    e: TEarlyResult, la: TLateResult, expected: dict[str, Any]
) -> None:
    facts = card(assessment(platelets(e, la)))["extension"][KEY]
    assert {k: v for k, v in facts.items() if k.startswith("t_")} == expected
    assert {"early_grade", "early_status", "late_grade"} <= set(facts)  # existing keys kept
    assert None not in facts.values()


def test_an_early_window_of_one_day_is_said_day_0() -> None:
    """Issue 16: assessed on day 0 the early window is one day, "day 0", not "days 0-0"."""
    result = platelets(early(0, 0, 0, status="provisional", window_end_day=0), late(None))
    line = t_line(card(assessment(result, day=0), day=0))
    assert "(cumulative, day 0)" in line and "days 0-0" not in line
