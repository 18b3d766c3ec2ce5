"""IEC-HS screen (docs/clinical §17 C13): rising ferritin, timing after CRS, an associated
finding in the last 3 days, day >= 7. Every threshold at its boundary."""

from __future__ import annotations

from datetime import UTC, datetime

from engine_helpers import DAY0, lab, on

from icaht import assess, screen_iec_hs
from icaht.iec_hs import SCREEN_WINDOW_DAYS
from icaht.record import Analyte, CarTInfusion, CrsPeriod, LabValue, PatientRecord, TherapyTimeline

F, ANC, PLT = Analyte.FERRITIN, Analyte.ANC, Analyte.PLATELETS
FIB, ALT = Analyte.FIBRINOGEN, Analyte.ALT
HIGH_DAY0 = lab(0, 5000, F)  # 2 x day 0 = 10,000: the day-0 criterion stays out of the way
# a new cytopenia on day 10: platelets above 20 x10^9/L after day 0, then below
NEW_CYTOPENIA = (lab(3, 30, PLT), lab(10, 15, PLT))
RESOLVED_CRS = (CrsPeriod(on(1), on(5), "Condition/crs", 2),)


def record(*labs: LabValue, crs: tuple[CrsPeriod, ...] = ()) -> PatientRecord:
    timeline = TherapyTimeline(infusions=(CarTInfusion(day0=DAY0),), crs_periods=crs)
    return PatientRecord("p", labs, timeline)


def positive(*labs: LabValue, day: int = 10, crs: tuple[CrsPeriod, ...] = RESOLVED_CRS) -> bool:
    return screen_iec_hs(record(*labs, crs=crs), DAY0, on(day)).positive


def at(day: int, hour: int) -> datetime:
    return datetime(on(day).year, on(day).month, on(day).day, hour, tzinfo=UTC)


# -- (1) rising ferritin --------------------------------------------------------------------------


def test_ferritin_2_0_fold_within_72_h_is_rising_1_99_fold_is_not() -> None:
    rise = (HIGH_DAY0, lab(8, 1500, F), *NEW_CYTOPENIA)
    assert positive(*rise, lab(10, 3000, F))
    assert not positive(*rise, lab(10, 2999, F))


def test_ferritin_doubling_counts_at_72_h_not_at_73_h() -> None:
    first = lab(7, 1500, F, collected=at(7, 6))
    cytopenia = (lab(3, 30, PLT), lab(10, 15, PLT))
    assert positive(HIGH_DAY0, first, lab(10, 3000, F, collected=at(10, 6)), *cytopenia)
    assert not positive(HIGH_DAY0, first, lab(10, 3000, F, collected=at(10, 7)), *cytopenia)


def test_ferritin_doubling_without_times_counts_over_3_days_not_4() -> None:
    assert positive(HIGH_DAY0, lab(7, 1500, F), lab(10, 3000, F), *NEW_CYTOPENIA)
    assert not positive(HIGH_DAY0, lab(6, 1500, F), lab(10, 3000, F), *NEW_CYTOPENIA)


# without CRS on record the timing never stands in the way of the day-0 criterion
def test_ferritin_exactly_twice_day_0_is_rising_just_below_is_not() -> None:
    assert positive(lab(0, 1000, F), lab(10, 2000, F), *NEW_CYTOPENIA, crs=())
    assert not positive(lab(0, 1000, F), lab(10, 1999, F), *NEW_CYTOPENIA, crs=())


def test_day_0_value_may_come_from_day_minus_1_or_plus_1_not_day_2() -> None:
    assert positive(lab(-1, 1000, F), lab(10, 2000, F), *NEW_CYTOPENIA, crs=())
    assert positive(lab(1, 1000, F), lab(10, 2000, F), *NEW_CYTOPENIA, crs=())
    assert not positive(lab(2, 1000, F), lab(10, 2000, F), *NEW_CYTOPENIA, crs=())


def test_ferritin_above_10000_is_rising_10000_is_not() -> None:
    assert positive(lab(10, 10_001, F), *NEW_CYTOPENIA)
    assert not positive(lab(10, 10_000, F), *NEW_CYTOPENIA)


def test_ferritin_above_twice_uln_alone_does_not_open_the_screen() -> None:
    # the old §9.1 key feature: 3000 > 2 x ULN 400, but not rising by any C13 criterion
    labs = (lab(0, 2500, F), lab(10, 3000, F, reference_high=400.0), *NEW_CYTOPENIA)
    assert not positive(*labs)


# -- (2) timing after CRS -------------------------------------------------------------------------

RISE_FROM_DAY_8 = (HIGH_DAY0, lab(8, 1500, F), lab(10, 3000, F), *NEW_CYTOPENIA)


def test_rise_starting_the_day_after_crs_ended_counts_during_crs_does_not() -> None:
    assert positive(*RISE_FROM_DAY_8, crs=(CrsPeriod(on(1), on(7), grade=2),))
    assert not positive(*RISE_FROM_DAY_8, crs=(CrsPeriod(on(1), on(8), grade=2),))


def test_open_crs_record_covers_the_rise_until_21_days_old() -> None:
    def rise_from(day: int) -> tuple[LabValue, ...]:
        return (HIGH_DAY0, lab(day, 1500, F), lab(day + 2, 3000, F), lab(3, 30, PLT))

    open_crs = (CrsPeriod(on(1), None, "Condition/crs", 2),)
    # rise from day 22: the open record is 21 days old that day, still active
    assert not positive(*rise_from(22), lab(24, 15, PLT), day=24, crs=open_crs)
    # rise from day 23: 22 days old, no longer active
    assert positive(*rise_from(23), lab(25, 15, PLT), day=25, crs=open_crs)


def test_crs_of_an_earlier_course_does_not_count() -> None:
    earlier = (CrsPeriod(on(-12), None, grade=3),)  # before this course's day 0, never closed
    assert positive(*RISE_FROM_DAY_8, crs=earlier)


def test_crs_starting_after_the_rise_and_active_today_blocks_the_screen() -> None:
    assert not positive(*RISE_FROM_DAY_8, crs=(CrsPeriod(on(9), None, grade=1),))


def test_rise_after_a_documented_improvement_counts() -> None:
    severe_then_better = (CrsPeriod(on(1), on(6), grade=3), CrsPeriod(on(7), None, grade=1))
    assert positive(*RISE_FROM_DAY_8, crs=severe_then_better)
    still_severe = (CrsPeriod(on(1), on(6), grade=1), CrsPeriod(on(7), None, grade=3))
    assert not positive(*RISE_FROM_DAY_8, crs=still_severe)


def test_ferritin_above_twice_day_0_since_crs_is_not_a_new_rise() -> None:
    # the ordinary course: peak with CRS in week 1, high for weeks, slowly falling
    ordinary = (lab(0, 800, F), lab(3, 6000, F), lab(7, 4000, F), lab(10, 3000, F))
    assert not positive(*ordinary, *NEW_CYTOPENIA)
    # the same level reached again after the ferritin had fallen below 2 x day 0 after CRS
    again = (lab(0, 800, F), lab(3, 6000, F), lab(7, 1500, F), lab(10, 3000, F))
    assert positive(*again, *NEW_CYTOPENIA)
    # ... but not when the CRS was still active the day after the last value below the level
    assert not positive(*again, *NEW_CYTOPENIA, crs=(CrsPeriod(on(1), on(8), grade=2),))


def test_crs_between_the_rise_and_today_blocks_the_screen() -> None:
    # the rise began on day 8, a CRS came and went on days 9-9: the rise is explained by it
    assert not positive(*RISE_FROM_DAY_8, crs=(CrsPeriod(on(9), on(9), grade=1),))


# -- (3) associated findings ----------------------------------------------------------------------

# > 10,000 ng/mL from day 10 (the day before: 4000), CRS over since day 5
RISING = (lab(-1, 1000, F), lab(9, 4000, F), lab(10, 10_001, F))


def test_fibrinogen_149_is_a_finding_150_is_not() -> None:
    assert positive(*RISING, lab(10, 149, FIB))
    assert not positive(*RISING, lab(10, 150, FIB))


def test_transaminase_above_5_x_uln_is_a_finding_exactly_5_x_is_not() -> None:
    assert positive(*RISING, lab(10, 201, ALT, reference_high=40.0))
    assert not positive(*RISING, lab(10, 200, ALT, reference_high=40.0))


def test_transaminase_baseline_above_uln_sets_the_limit_to_5_x_baseline() -> None:
    baseline = lab(-1, 100, ALT, reference_high=40.0)
    assert not positive(*RISING, baseline, lab(10, 500, ALT, reference_high=40.0))
    assert positive(*RISING, baseline, lab(10, 501, ALT, reference_high=40.0))


def test_transaminase_without_uln_is_reported_not_assessable() -> None:
    screen = screen_iec_hs(record(*RISING, lab(9, 900, ALT)), DAY0, on(10))
    assert not screen.positive
    assert screen.not_assessable == (f"ALT on {on(9).isoformat()}",)


def test_cytopenia_without_prior_recovery_is_not_new() -> None:
    assert not positive(*RISING, *(lab(d, 300, ANC) for d in range(1, 11)))
    assert positive(*RISING, lab(1, 300, ANC), lab(5, 600, ANC), lab(10, 300, ANC))


def test_new_cytopenia_thresholds_are_strict() -> None:
    assert not positive(*RISING, lab(3, 30, PLT), lab(10, 20, PLT))
    assert positive(*RISING, lab(3, 30, PLT), lab(10, 19, PLT))
    assert not positive(*RISING, lab(3, 600, ANC), lab(10, 500, ANC))
    # recovery means above the limit: a count of exactly 20 is no recovery
    assert not positive(*RISING, lab(3, 20, PLT), lab(10, 15, PLT))


# -- window and day >= 7, through assess() -------------------------------------------------------


def _assessed(labs: tuple[LabValue, ...], day: int) -> bool:
    screen = assess(record(*labs), evaluation_date=on(day)).iec_hs
    assert screen is not None
    return screen.positive


def test_findings_count_until_3_days_old_not_4() -> None:
    assert SCREEN_WINDOW_DAYS == 3
    labs = (*RISING, lab(3, 30, PLT), lab(10, 15, PLT))
    assert _assessed(labs, 13)
    assert not _assessed(labs, 14)


def test_associated_finding_must_be_within_3_days_of_today() -> None:
    ferritin = (lab(-1, 1000, F), lab(14, 10_001, F))
    assert _assessed((*ferritin, lab(3, 30, PLT), lab(11, 15, PLT)), 14)
    assert not _assessed((*ferritin, lab(3, 30, PLT), lab(10, 15, PLT)), 14)


def test_screen_opens_on_day_7_not_day_6() -> None:
    labs = (lab(-1, 1000, F), lab(6, 10_001, F), lab(2, 30, PLT), lab(6, 15, PLT))
    assert not _assessed(labs, 6)
    assert _assessed(labs, 7)


def test_retrospective_screen_reports_the_first_positive_day() -> None:
    labs = (*RISING, lab(3, 30, PLT), lab(11, 15, PLT), lab(30, 50, PLT))
    screen = assess(record(*labs)).iec_hs
    assert screen is not None and screen.positive and screen.day == on(11)
