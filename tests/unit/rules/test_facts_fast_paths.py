"""icaht.rules.facts works out `current`, `known_values` and `gcsf_covering` once per rule input
(issue 20: the rules ask 22 and about 10 times per evaluation). These tests hold the fast paths
to the definitions they replaced, on many odd inputs: several values a day, bounds (`<x`,
derived bounds) beside equal plain values, values after the evaluation date, ages 0-3 days and
the same question asked again in any order (the remembered answer)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_helpers import DAY0, on

from icaht import assess, gcsf
from icaht.record import (
    Analyte,
    CarTInfusion,
    GcsfExposure,
    LabValue,
    PatientRecord,
    TherapyTimeline,
    daily_lowest,
)
from icaht.rules import RuleInput
from icaht.rules.facts import current, gcsf_covering, known_values

ANALYTES = (Analyte.ANC, Analyte.PLATELETS, Analyte.HEMOGLOBIN)


def known_as_defined(inp: RuleInput, analyte: Analyte) -> tuple[LabValue, ...]:
    return tuple(v for v in inp.record.series(analyte) if v.day <= inp.evaluation_date)


def current_as_defined(inp: RuleInput, analyte: Analyte, max_age: int | None) -> LabValue | None:
    """`current` as it read before issue 20, on every call."""
    age = inp.settings.current_count_max_age_days if max_age is None else max_age
    oldest = inp.evaluation_date - timedelta(days=age)
    recent = [v for v in known_as_defined(inp, analyte) if v.day >= oldest]
    if not recent:
        return None
    latest = recent[-1].day
    return daily_lowest(v for v in recent if v.day == latest)[0]


@st.composite
def lab_values(draw: st.DrawFn) -> LabValue:
    bound = draw(st.sampled_from(["plain", "<", "derived-bound"]))
    return LabValue(
        draw(st.sampled_from(ANALYTES)),
        draw(st.sampled_from([5.0, 20.0, 20.0, 300.0])),
        on(draw(st.integers(0, 12))),
        comparator="<" if bound == "<" else None,
        provenance="derived-bound" if bound == "derived-bound" else "measured",
        source_id=f"Observation/{draw(st.integers(0, 99))}",
    )


@st.composite
def exposures(draw: st.DrawFn) -> GcsfExposure:
    start = on(draw(st.integers(-10, 12)))
    last = draw(st.sampled_from([None, 0, 2]))
    return GcsfExposure(
        start,
        None if last is None else start + timedelta(days=last),
        draw(st.sampled_from(["short", "long"])),
        source_id=f"MedicationAdministration/{draw(st.integers(0, 99))}",
    )


def rule_input(
    labs: list[LabValue], exposures_: list[GcsfExposure], evaluation_day: int
) -> RuleInput:
    timeline = TherapyTimeline(infusions=(CarTInfusion(DAY0),), gcsf_exposures=tuple(exposures_))
    record = PatientRecord("p", tuple(labs), timeline)
    today = on(evaluation_day)
    return RuleInput(assess(record, evaluation_date=today), record, today, "patient-view")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(lab_values(), max_size=25),
    st.integers(0, 14),
    st.lists(st.tuples(st.sampled_from(ANALYTES), st.sampled_from([None, 0, 1, 2, 3]))),
)
def test_current_and_known_values_are_the_definitions(
    labs: list[LabValue], evaluation_day: int, questions: list[tuple[Analyte, int | None]]
) -> None:
    inp = rule_input(labs, [], evaluation_day)
    for analyte, age in [*questions, *questions]:  # asked again: the remembered answer
        assert current(inp, analyte, age) is current_as_defined(inp, analyte, age)
        known = known_values(inp, analyte)
        expected = known_as_defined(inp, analyte)
        assert len(known) == len(expected)
        assert all(a is b for a, b in zip(known, expected, strict=True))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(exposures(), max_size=6),
    st.integers(0, 14),
    st.lists(st.integers(-3, 16), max_size=12),
)
def test_gcsf_covering_is_the_definition(
    exposures_: list[GcsfExposure], evaluation_day: int, days: list[int]
) -> None:
    inp = rule_input([], exposures_, evaluation_day)
    for day in [*days, *days]:
        expected = gcsf.covering(inp.record.timeline.gcsf_exposures, DAY0, on(day))
        assert gcsf_covering(inp, on(day)) is expected


def test_the_remembered_answers_are_no_part_of_the_input_value() -> None:
    labs = [LabValue(Analyte.ANC, 300.0, on(5), source_id="Observation/1")]
    inp = rule_input(labs, [], 5)
    fresh = rule_input(labs, [], 5)
    assert current(inp, Analyte.ANC) is labs[0]
    assert gcsf_covering(inp, on(5)) is None
    assert inp == fresh
    assert "_current" not in repr(inp)


def test_each_input_remembers_its_own_answers() -> None:
    # two inputs of one record, evaluated on different days: neither reads the other's answer
    labs = [
        LabValue(Analyte.ANC, 300.0, on(5), source_id="Observation/1"),
        LabValue(Analyte.ANC, 900.0, on(8), source_id="Observation/2"),
    ]
    day5, day8 = rule_input(labs, [], 5), rule_input(labs, [], 8)
    assert current(day5, Analyte.ANC) is labs[0]
    assert current(day8, Analyte.ANC) is labs[1]
    assert current(day5, Analyte.ANC) is labs[0]


def covered_run_as_defined(exposures_: tuple[GcsfExposure, ...], until: date) -> tuple[date, ...]:
    """`gcsf.covered_run_until` as it read before issue 20: `covering` for every day."""
    end = until if gcsf.covering(exposures_, DAY0, until) else until - timedelta(days=1)
    run: list[date] = []
    day = end
    while day >= DAY0 and gcsf.covering(exposures_, DAY0, day) is not None:
        run.append(day)
        day -= timedelta(days=1)
    return tuple(reversed(run))


@settings(max_examples=300, deadline=None)
@given(st.lists(exposures(), max_size=6), st.integers(-3, 30))
def test_covered_run_until_is_the_definition(exposures_: list[GcsfExposure], until: int) -> None:
    pool = tuple(exposures_)
    assert gcsf.covered_run_until(pool, DAY0, on(until)) == covered_run_as_defined(pool, on(until))
