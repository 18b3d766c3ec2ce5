"""M23 and the IEC-HS screen share one window (docs/clinical §17 C13; issue 21).

C13: the rising ferritin and the associated finding lie "in the last 3 days" (the evaluation
day and the 3 days before it), and the screen is positive on day >= 7 only. The window is one
constant, icaht.iec_hs.SCREEN_WINDOW_DAYS (source: C13); M23 fires on the screen's result and
has no copy of it, nor has GradingSettings or RuleSettings. Issue 21 found the older 7-day window
in three places with M23 ignoring the option; these tests pin the single source through
`assess()` and the rules.
"""

from __future__ import annotations

from dataclasses import fields

import pytest
from rules_helpers import PLT, alert, ids, lab, record, run

from icaht import GradingSettings, iec_hs
from icaht.record import Analyte
from icaht.rules import RuleSettings

F = Analyte.FERRITIN


def course(finding_day: int, ferritin_day: int = 14) -> list:  # type: ignore[type-arg]
    """Ferritin 1000 on day -1, > 10,000 on `ferritin_day` (rising, C13 (1)); platelets 30 on
    day 3 (a recovery above 20) then 15 on `finding_day` (a new cytopenia, C13 (3)). No CRS on
    record: the timing criterion (2) holds and the window alone decides."""
    return [
        lab(F, -1, 1000),
        lab(F, ferritin_day, 10_001),
        lab(PLT, 3, 30),
        lab(PLT, finding_day, 15),
    ]


def m23_fires(finding_day: int, evaluation_day: int, ferritin_day: int = 14) -> bool:
    patient = record(course(finding_day, ferritin_day), crs_periods=())
    return "M23" in ids(run(patient, evaluation_day))


def test_window_is_3_days_as_c13_says() -> None:
    assert iec_hs.SCREEN_WINDOW_DAYS == 3
    assert iec_hs.SCREEN_FROM_DAY == 7


@pytest.mark.parametrize(("age_days", "fires"), [(0, True), (3, True), (4, False), (7, False)])
def test_m23_fires_while_the_finding_is_at_most_3_days_old(age_days: int, fires: bool) -> None:
    assert m23_fires(finding_day=14 - age_days, evaluation_day=14) is fires


def test_m23_opens_on_day_7_not_day_6() -> None:
    assert not m23_fires(finding_day=6, evaluation_day=6, ferritin_day=6)
    assert m23_fires(finding_day=6, evaluation_day=7, ferritin_day=6)


def test_m23_is_a_warning_with_the_finding_in_its_rationale() -> None:
    patient = record(course(finding_day=11), crs_periods=())
    m23 = alert(run(patient, 14), "M23")
    assert m23.severity == "warning"
    assert "platelets < 20 x10^9/L on day 11" in m23.rationale


@pytest.mark.parametrize(("window", "fires"), [(3, False), (4, True)])
def test_m23_follows_the_one_constant_when_it_changes(
    monkeypatch: pytest.MonkeyPatch, window: int, fires: bool
) -> None:
    # a finding 4 days old: outside the C13 window, inside a 4-day one. Changing the constant
    # (the one place a centre or a later reading would change) moves the screen and M23.
    monkeypatch.setattr(iec_hs, "SCREEN_WINDOW_DAYS", window)
    assert m23_fires(finding_day=10, evaluation_day=14) is fires


def test_no_option_holds_a_second_copy_of_the_window() -> None:
    names = [f.name for f in fields(GradingSettings)] + [f.name for f in fields(RuleSettings)]
    assert not [n for n in names if "iec" in n.lower() or "screen" in n.lower()]
