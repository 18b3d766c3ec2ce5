"""chart_series(): the day values the engine used, days -7..+100, with their kinds."""

from __future__ import annotations

from engine_helpers import DAY0, lab, on

from icaht import assess
from icaht.record import Analyte, CarTInfusion, LabValue, PatientRecord, TherapyTimeline
from icaht.series import EMPTY, ChartSeries, DayPoint, chart_series, day_runs


def record(*labs: LabValue, infused: bool = True) -> PatientRecord:
    infusions = (CarTInfusion(day0=DAY0),) if infused else ()
    return PatientRecord("p", labs, TherapyTimeline(infusions=infusions))


def series_of(patient: PatientRecord, evaluation_day: int | None = None) -> ChartSeries:
    when = None if evaluation_day is None else on(evaluation_day)
    return chart_series(patient, assess(patient, evaluation_date=when))


def by_day(points: tuple[DayPoint, ...]) -> dict[int, DayPoint]:
    return {point.day: point for point in points}


def test_days_minus_7_to_100_only() -> None:
    days = (-8, -7, 0, 100, 101)
    labs = [lab(d, 2000) for d in days] + [lab(d, 150, Analyte.PLATELETS) for d in days]
    chart = series_of(record(*labs))
    for points in (chart.anc, chart.platelets):
        assert [p.day for p in points if p.kind == "measured"] == [-7, 0, 100]
    assert by_day(chart.platelets)[100].date == on(100)


def test_interior_gap_is_interpolated_and_flagged() -> None:
    chart = series_of(record(lab(0, 1000), lab(4, 200), lab(30, 2000)))
    points = by_day(chart.anc)
    assert [(points[d].value, points[d].kind) for d in (1, 2, 3)] == [
        (800, "interpolated"),
        (600, "interpolated"),
        (400, "interpolated"),
    ]
    assert (points[0].kind, points[4].kind) == ("measured", "measured")


def test_gap_longer_than_seven_days_stays_empty() -> None:
    # days 5..20 are 15 missing days: the engine does not fill them, so the chart has no point
    chart = series_of(record(lab(0, 1000), lab(4, 1200), lab(21, 1500), lab(30, 2000)))
    assert not set(range(5, 21)) & set(by_day(chart.anc))


def test_leading_days_without_an_anchor_are_carried() -> None:
    chart = series_of(record(lab(2, 900), lab(30, 2000)))
    points = by_day(chart.anc)
    assert [(points[d].value, points[d].kind) for d in (0, 1)] == [(900, "carried")] * 2


def test_leading_days_with_a_pre_infusion_anchor_are_interpolated() -> None:
    chart = series_of(record(lab(-2, 1800), lab(2, 600), lab(30, 2000)))
    points = by_day(chart.anc)
    assert points[-2].kind == "measured"  # the anchor itself is shown as measured
    assert [(points[d].value, points[d].kind) for d in (0, 1)] == [
        (1200, "interpolated"),
        (900, "interpolated"),
    ]


def test_a_below_value_is_a_bound() -> None:
    chart = series_of(record(lab(0, 300), lab(1, 100, comparator="<"), lab(2, 300)))
    point = by_day(chart.anc)[1]
    assert (point.value, point.kind, point.comparator) == (100, "measured", "<")


def test_nothing_after_the_evaluation_date() -> None:
    labs = [lab(d, 400) for d in (0, 5, 10, 25)] + [lab(25, 40, Analyte.HEMOGLOBIN)]
    chart = series_of(record(*labs), evaluation_day=12)
    # days 11-12 lie at the open end of a provisional window: never filled (C1), so no point
    assert max(p.day for p in chart.anc) == 10
    assert chart.hemoglobin == ()


def test_daily_lowest_value_per_day() -> None:
    labs = [lab(3, 9.5, Analyte.HEMOGLOBIN), lab(3, 8.1, Analyte.HEMOGLOBIN)]
    chart = series_of(record(lab(0, 2000), *labs))
    assert [(p.day, p.value) for p in chart.hemoglobin] == [(3, 8.1)]


def test_episodes_are_the_engines() -> None:
    labs = [lab(0, 2000), *(lab(d, 50) for d in range(1, 9)), lab(9, 2000), lab(30, 2500)]
    patient = record(*labs)
    assessment = assess(patient)
    chart = chart_series(patient, assessment)
    assert assessment.neutropenia is not None
    assert [(e.threshold, e.start_day, e.end_day) for e in chart.episodes] == [
        (500, 1, 8),
        (100, 1, 8),
    ]


def test_no_infusion_no_chart() -> None:
    assert series_of(record(lab(0, 300), infused=False)) == EMPTY


def test_day_runs_groups_consecutive_days() -> None:
    assert day_runs([3, 4, 5, 9]) == [(3, 5), (9, 9)]
    assert day_runs([]) == []
    assert day_runs([0]) == [(0, 0)]
    assert day_runs([1, 3, 4]) == [(1, 1), (3, 4)]
