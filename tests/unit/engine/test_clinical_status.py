"""icaht.clinical_status: infection, fever, bleeding, supportive drugs and corticosteroid days,
each at its boundaries (docs/decisions/0022)."""

from __future__ import annotations

from engine_helpers import lab, on

from icaht.clinical_status import (
    UNKNOWN,
    active_bleeding,
    active_infection,
    corticosteroid_days,
    fever,
    on_supportive,
    temperature_known,
)
from icaht.record import (
    Analyte,
    CarTInfusion,
    DrugCourse,
    Infection,
    PatientRecord,
    Period,
    TherapyTimeline,
)

T = Analyte.TEMPERATURE


def timeline(**kw: object) -> TherapyTimeline:
    kw.setdefault("infusions", (CarTInfusion(on(0)),))
    return TherapyTimeline(**kw)  # type: ignore[arg-type]


def infections(*items: Infection, **kw: object) -> TherapyTimeline:
    return timeline(infections=items, **kw)


# -- active_infection -----------------------------------------------------------------------------


def test_infection_unknown_without_infection_data() -> None:
    assert active_infection(timeline(), on(5)) is UNKNOWN


def test_no_infection_on_record_is_none_not_unknown() -> None:
    assert active_infection(infections(), on(5)) is None


def test_open_condition_active_up_to_28_days_after_onset() -> None:
    sepsis = Infection(on(2), kind="sepsis", source_id="Condition/s")
    tl = infections(sepsis)
    assert active_infection(tl, on(30)) == sepsis  # 28 days after onset
    assert active_infection(tl, on(31)) is None  # 29 days: an unclosed record


def test_abated_condition_active_through_its_abatement_day_only() -> None:
    pneumonia = Infection(on(5), on(12), kind="pneumonia")
    tl = infections(pneumonia)
    assert active_infection(tl, on(12)) == pneumonia
    assert active_infection(tl, on(13)) is None
    assert active_infection(tl, on(4)) is None  # before its onset


def test_abated_condition_is_not_capped() -> None:
    fungal = Infection(on(2), on(60), kind="invasive_fungal")
    assert active_infection(infections(fungal), on(45)) == fungal


def test_condition_with_onset_before_the_course_does_not_count() -> None:
    old = Infection(on(-10), kind="viral")
    assert active_infection(infections(old, lymphodepletion_start=on(-5)), on(1)) is None
    on_ld_day = Infection(on(-5), kind="viral")
    tl = infections(on_ld_day, lymphodepletion_start=on(-5))
    assert active_infection(tl, on(1)) == on_ld_day


def test_positive_blood_culture_counts_for_3_days_not_4() -> None:
    culture = Infection(on(10), on(10), kind="positive_blood_culture")
    tl = infections(culture)
    assert active_infection(tl, on(13)) == culture
    assert active_infection(tl, on(14)) is None
    assert active_infection(tl, on(9)) is None  # collected after the evaluation day


def test_positive_blood_culture_counts_before_the_course_start() -> None:
    culture = Infection(on(-6), on(-6), kind="positive_blood_culture")
    assert active_infection(infections(culture, lymphodepletion_start=on(-5)), on(-4)) == culture


def test_latest_starting_infection_is_returned() -> None:
    first = Infection(on(1), kind="febrile_neutropenia")
    second = Infection(on(4), kind="sepsis")
    assert active_infection(infections(first, second), on(6)) == second


# -- fever ---------------------------------------------------------------------------------------


def patient(*temps: tuple[int, float], **kw: object) -> PatientRecord:
    return PatientRecord("p", tuple(lab(d, v, T, **kw) for d, v in temps), timeline())


def test_exactly_38_0_is_fever_and_37_9_is_not() -> None:
    assert fever(patient((5, 38.0)), on(5)) is not None
    assert fever(patient((5, 37.9)), on(5)) is None


def test_fever_counts_on_the_day_and_the_day_before_only() -> None:
    record = patient((5, 38.6))
    assert fever(record, on(6)) is not None
    assert fever(record, on(7)) is None
    assert fever(record, on(4)) is None  # measured after the evaluation day


def test_fever_returns_the_highest_temperature() -> None:
    found = fever(patient((4, 38.2), (5, 39.1), (5, 37.0)), on(5))
    assert found is not None and found.value == 39.1


def test_a_temperature_below_a_bound_is_not_a_fever() -> None:
    assert fever(patient((5, 38.5), comparator="<"), on(5)) is None


def test_temperature_known_on_the_day_or_the_day_before() -> None:
    assert temperature_known(patient((5, 36.8)), on(6))
    assert not temperature_known(patient((5, 36.8)), on(7))


# -- active_bleeding -----------------------------------------------------------------------------


def test_bleeding_tri_state() -> None:
    assert active_bleeding(timeline(), on(3)) is UNKNOWN
    assert active_bleeding(timeline(bleeding=()), on(3)) is None
    bleed = Period(on(2), source_id="Condition/b")
    assert active_bleeding(timeline(bleeding=(bleed,)), on(30)) == bleed
    assert active_bleeding(timeline(bleeding=(bleed,)), on(31)) is None
    assert active_bleeding(timeline(bleeding=(Period(on(2), on(4)),)), on(5)) is None


# -- on_supportive -------------------------------------------------------------------------------


def drugs(*courses: DrugCourse) -> TherapyTimeline:
    return timeline(supportive_drugs=courses)


def test_dose_given_within_grace_days_covers() -> None:
    dose = DrugCourse(on(10), on(10), group="antiviral", name="aciclovir", recorded="given")
    tl = drugs(dose)
    assert on_supportive(tl, "antiviral", on(12), grace_days=2) == dose
    assert on_supportive(tl, "antiviral", on(13), grace_days=2) is None
    assert on_supportive(tl, "antiviral", on(9), grace_days=2) is None
    assert on_supportive(tl, "pjp", on(10), grace_days=2) is None  # another group


def test_open_order_covers_from_its_start() -> None:
    order = DrugCourse(on(-5), None, group="pjp", name="co-trimoxazole", recorded="ordered")
    tl = drugs(order)
    assert on_supportive(tl, "pjp", on(300), grace_days=0) == order
    assert on_supportive(tl, "pjp", on(-6), grace_days=0) is None


def test_ended_order_does_not_get_the_dose_grace() -> None:
    order = DrugCourse(on(0), on(20), group="antiviral", recorded="ordered")
    assert on_supportive(drugs(order), "antiviral", on(21), grace_days=2) is None


def test_pentamidine_dose_covers_28_days() -> None:
    dose = DrugCourse(on(30), on(30), group="pjp", name="pentamidine", recorded="given")
    assert on_supportive(drugs(dose), "pjp", on(58), grace_days=2) == dose
    assert on_supportive(drugs(dose), "pjp", on(59), grace_days=2) is None


# -- corticosteroid_days -------------------------------------------------------------------------


def steroid(first: int, last: int | None, recorded: str = "given") -> DrugCourse:
    return DrugCourse(
        on(first),
        None if last is None else on(last),
        group="corticosteroid",
        name="dexamethasone",
        recorded=recorded,
    )  # type: ignore[arg-type]


def test_corticosteroid_days_counts_distinct_days_in_the_window() -> None:
    tl = drugs(steroid(3, 3), steroid(4, 4), steroid(4, 6, "ordered"), steroid(20, 21))
    assert corticosteroid_days(tl, on(0), on(10)) == 4  # days 3, 4, 5, 6
    assert corticosteroid_days(tl, on(5), on(20)) == 3  # days 5, 6, 20
    assert corticosteroid_days(drugs(), on(0), on(10)) == 0


def test_open_corticosteroid_order_counts_up_to_the_window_end() -> None:
    assert corticosteroid_days(drugs(steroid(8, None, "ordered")), on(0), on(10)) == 3


def test_other_groups_are_not_corticosteroids() -> None:
    ivig = DrugCourse(on(1), on(5), group="ivig")
    assert corticosteroid_days(drugs(ivig), on(0), on(10)) == 0
