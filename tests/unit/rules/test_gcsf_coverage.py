"""G-CSF exposure and coverage (C15, icaht.gcsf) and the rules that read it: M02, M03, M06, M07.

Boundaries: a long-acting dose covers dose day + 0..13; doses from day -7 count; a short-acting
dose covers its own day (M03/M06 also wait for the day after: today's dose may not be charted);
M02 on days +2..+5 and not when the current ANC is > 1500/uL.
"""

from __future__ import annotations

import pytest
from rules_helpers import (
    ANC,
    DAY0,
    HT_HIGH,
    alert,
    daily,
    filgrastim,
    ids,
    lab,
    on,
    pegfilgrastim,
    record,
    run,
)

from icaht import gcsf
from icaht.record import GcsfExposure


def peg_on(day: int) -> tuple[GcsfExposure, ...]:
    return (pegfilgrastim(day),)


# -- the pure coverage function -------------------------------------------------------------------


@pytest.mark.parametrize(("day", "covered"), [(6, True), (7, False)])
def test_pegfilgrastim_on_day_minus_7_covers_to_day_6(day: int, covered: bool) -> None:
    assert (gcsf.covering(peg_on(-7), DAY0, on(day)) is not None) is covered


@pytest.mark.parametrize("day", [-8, -1, 0, 5])
def test_pegfilgrastim_on_day_minus_8_does_not_count(day: int) -> None:
    # arithmetically it would cover to day +5, but doses before day -7 do not count (C15)
    assert gcsf.covering(peg_on(-8), DAY0, on(day)) is None
    assert gcsf.exposed_between(peg_on(-8), DAY0, on(-7), on(day)) == ()


@pytest.mark.parametrize(("after", "covered"), [(0, True), (13, True), (14, False)])
def test_a_long_acting_dose_covers_its_day_and_13_more(after: int, covered: bool) -> None:
    assert (gcsf.covering(peg_on(10), DAY0, on(10 + after)) is not None) is covered
    assert gcsf.covering(peg_on(10), DAY0, on(9)) is None


def test_a_short_acting_dose_covers_its_own_day_only() -> None:
    dose = (filgrastim(on(5)),)
    assert [gcsf.covering(dose, DAY0, on(d)) is not None for d in (4, 5, 6)] == [
        False,
        True,
        False,
    ]


def test_an_open_course_covers_every_day_from_its_start() -> None:
    course = (GcsfExposure(on(-20), None, "short", "filgrastim", "MedicationRequest/1"),)
    assert gcsf.covering(course, DAY0, on(-21)) is None
    assert gcsf.covering(course, DAY0, on(40)) == course[0]


def test_unknown_products_are_short_acting() -> None:
    assert gcsf.acting_class("pegfilgrastim") == "long"
    assert gcsf.acting_class("eflapegrastim") == "long"
    assert gcsf.acting_class("filgrastim") == "short"
    assert gcsf.acting_class(None) == "short"


# -- M02: days +2..+5, ANC not > 1500/uL, no G-CSF since day -7 ---------------------------------


def m02(day: int, anc: float | None = 1000, **timeline: object) -> bool:
    labs = [*HT_HIGH, *([] if anc is None else [lab(ANC, day, anc)])]
    return "M02" in ids(run(record(labs, **timeline), day))


@pytest.mark.parametrize(("day", "fires"), [(1, False), (2, True), (5, True), (6, False)])
def test_M02_window_is_day_2_to_day_5(day: int, fires: bool) -> None:
    assert m02(day) is fires


@pytest.mark.parametrize(("anc", "fires"), [(1500, True), (1501, False), (None, True)])
def test_M02_not_when_the_current_anc_is_above_1500(anc: float | None, fires: bool) -> None:
    assert m02(3, anc) is fires


def test_M02_rationale_names_the_anc_checked() -> None:
    m = alert(run(record([*HT_HIGH, lab(ANC, 3, 1500)]), 3), "M02")
    assert "ANC 1500/µL on day 3 (not above 1500)" in m.rationale
    assert m.recommendation.startswith("Consider G-CSF from day +2 (5 µg/kg")


@pytest.mark.parametrize(("dose_day", "fires"), [(-7, False), (-8, True)])
def test_M02_pegfilgrastim_from_day_minus_7_counts(dose_day: int, fires: bool) -> None:
    assert m02(5, gcsf_exposures=peg_on(dose_day)) is fires


@pytest.mark.parametrize(("dose_day", "fires"), [(-7, False), (-8, True), (2, False)])
def test_M02_filgrastim_since_day_minus_7_counts(dose_day: int, fires: bool) -> None:
    # a short-acting dose no longer covers day 5, but G-CSF was started: no prophylaxis card
    assert m02(5, gcsf_days=(on(dose_day),)) is fires


def test_M02_quiet_with_an_active_pegfilgrastim_order() -> None:
    order = GcsfExposure(on(1), on(1), "long", "pegfilgrastim", "MedicationRequest/peg")
    assert m02(3, gcsf_exposures=(order,)) is False


def test_M02_fires_while_an_order_has_not_started() -> None:
    # an order starting tomorrow has not started yet: the card still reminds
    order = GcsfExposure(on(4), on(4), "long", "pegfilgrastim", "MedicationRequest/peg")
    assert m02(3, gcsf_exposures=(order,)) is True


# -- M03 and M06: not during coverage --------------------------------------------------------------


def m03(day: int, **timeline: object) -> bool:
    """M03's trigger fired (shown, or subsumed by M07 when the covered days reach 7)."""
    result = run(record([lab(ANC, day, 300)], **timeline), day)
    return "M03" in ids(result) or "M03" in result.suppressed


@pytest.mark.parametrize(("days_ago", "fires"), [(0, False), (1, False), (2, True)])
def test_M03_filgrastim_today_or_yesterday_is_ongoing(days_ago: int, fires: bool) -> None:
    assert m03(10, gcsf_days=(on(10 - days_ago),)) is fires


@pytest.mark.parametrize(("day", "fires"), [(7, False), (10, False), (11, True)])
def test_M03_pegfilgrastim_on_day_minus_3_covers_to_day_10(day: int, fires: bool) -> None:
    assert m03(day, gcsf_exposures=peg_on(-3)) is fires


@pytest.mark.parametrize(("days_ago", "fires"), [(13, False), (14, True)])
def test_M03_pegfilgrastim_13_vs_14_days_ago(days_ago: int, fires: bool) -> None:
    assert m03(20, gcsf_exposures=peg_on(20 - days_ago)) is fires


def test_after_14_covered_days_with_anc_500_the_card_is_non_response() -> None:
    # pegfilgrastim 14 days ago and ANC <= 500/uL today: M03 is due again, but 14 covered days
    # ending yesterday are G-CSF non-response, and M07 subsumes M03 (one card per concern)
    result = run(record([lab(ANC, 20, 300)], gcsf_exposures=peg_on(6)), 20)
    assert "M07" in ids(result) and "M03" in result.suppressed
    later = run(record([lab(ANC, 21, 300)], gcsf_exposures=peg_on(6)), 21)
    assert "M03" in ids(later) and "M07" not in ids(later)


def test_M03_quiet_with_an_open_statement_of_filgrastim() -> None:
    taking = GcsfExposure(on(5), None, "short", "filgrastim", "MedicationStatement/s")
    assert m03(12, gcsf_exposures=(taking,)) is False


def test_M03_wording() -> None:
    m = alert(run(record([lab(ANC, 8, 300)]), 8), "M03")
    assert m.recommendation.startswith("Consider G-CSF 5 µg/kg/day until ANC > 500/µL")
    assert "(ANC 300/µL, day 8)" in m.summary
    assert "no G-CSF coverage today" in m.rationale


BIPHASIC = [lab(ANC, 2, 300), lab(ANC, 20, 2000), lab(ANC, 40, 700)]


@pytest.mark.parametrize(("dose_day", "fires"), [(27, False), (26, True)])
def test_M06_not_during_pegfilgrastim_coverage(dose_day: int, fires: bool) -> None:
    m06 = run(record(BIPHASIC, gcsf_exposures=peg_on(dose_day)), 40)
    assert ("M06" in ids(m06)) is fires


def test_M06_wording() -> None:
    m = alert(run(record(BIPHASIC), 40), "M06")
    assert m.recommendation.startswith("Consider daily G-CSF until ANC > 1500/µL")


# -- M07: covered days count as G-CSF days ---------------------------------------------------------

SEVERE_1_10 = daily(ANC, range(1, 11), 200)


@pytest.mark.parametrize(("dose_day", "fires"), [(1, True), (2, True), (3, False)])
def test_M07_one_pegfilgrastim_dose_is_7_covered_days(dose_day: int, fires: bool) -> None:
    # ANC <= 500/uL on day 8: a dose on day 2 covers days 2-8 (7 days), on day 3 only 6
    patient = record(SEVERE_1_10[:8], gcsf_exposures=peg_on(dose_day))
    assert ("M07" in ids(run(patient, 8))) is fires


def test_M07_rationale_names_the_long_acting_dose() -> None:
    m = alert(run(record(SEVERE_1_10[:8], gcsf_exposures=peg_on(1)), 8), "M07")
    assert "G-CSF on days 1-8 (8 consecutive days" in m.rationale
    assert "pegfilgrastim (long-acting) on day 1, covering to day 14" in m.rationale
    assert "MedicationAdministration/p1" in m.source_ids
    assert m.recommendation.startswith("Consider bone-marrow evaluation")


def test_M07_covered_days_before_day_0_do_not_count() -> None:
    # pegfilgrastim on day -7 covers days -7..6: from day 0 that is 7 days by day 6
    patient = record(daily(ANC, range(0, 7), 200), gcsf_exposures=peg_on(-7))
    assert "M07" in ids(run(patient, 6))
    assert "M07" not in ids(run(record(daily(ANC, range(0, 6), 200), gcsf_exposures=peg_on(-7)), 5))
