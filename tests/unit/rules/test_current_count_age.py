"""The "current count" age limit (RuleSettings.current_count_max_age_days = 2; issue 21).

icaht.rules.facts.current: the latest value on the evaluation day or up to 2 days before it
(oldest = evaluation date - 2 days, inclusive). A count 0, 1 or 2 days old is current; a count
3 days old is not, and the rule says it needs a current count instead. Before issue 21 only a
3-day-old value was tested, so narrowing the limit to 1 day (a 2-day-old platelet count of 5
silently stops the critical M14 card) passed every test.
"""

from __future__ import annotations

import pytest
from rules_helpers import PLT, alert, ids, lab, needs, record, run

from icaht.rules import RuleSettings

EVALUATION_DAY = 20


@pytest.mark.parametrize("age_days", [0, 1, 2])
def test_platelets_5_up_to_2_days_old_fire_critical_m14(age_days: int) -> None:
    patient = record([lab(PLT, EVALUATION_DAY - age_days, 5)])
    m14 = alert(run(patient, EVALUATION_DAY), "M14")
    assert m14.severity == "critical"
    assert f"platelets 5 x10^9/L on day {EVALUATION_DAY - age_days}" in m14.rationale


def test_platelets_5_three_days_old_are_not_current() -> None:
    result = run(record([lab(PLT, EVALUATION_DAY - 3, 5)]), EVALUATION_DAY)
    assert "M14" not in ids(result)
    assert needs(result)["M14"].startswith("M14 needs a current platelet count")
    assert "or 2 days before" in needs(result)["M14"]


def test_the_latest_current_day_decides_not_an_older_lower_one() -> None:
    # 5 three days ago is out of date; 60 today is the current count: no M14
    patient = record([lab(PLT, EVALUATION_DAY - 3, 5), lab(PLT, EVALUATION_DAY, 60)])
    result = run(patient, EVALUATION_DAY)
    assert "M14" not in ids(result)
    assert "M14" not in needs(result)


@pytest.mark.parametrize(("max_age", "fires"), [(2, False), (3, True)])
def test_the_limit_follows_the_option(max_age: int, fires: bool) -> None:
    patient = record([lab(PLT, EVALUATION_DAY - 3, 5)])
    result = run(patient, EVALUATION_DAY, settings=RuleSettings(current_count_max_age_days=max_age))
    assert ("M14" in ids(result)) is fires
