"""The IEC-HS screen finds a series' values after day 0 by one bisection (issue 20), not by a
day test per value: the associated findings are those the per-value test gave. The tests
before issue 20 are kept here as the oracle, on random series (oldest day first) around day 0:
values on days -3..4, bounds (`<x`, derived bounds), values with and without a ULN, baselines
above and below it. And the ferritin window's slack (the widest UTC-offset difference present)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from icaht.iec_hs import (
    NEW_CYTOPENIA_LIMITS,
    NEW_CYTOPENIA_TEXT,
    SLACK,
    TRANSAMINASE_FACTOR,
    IecHsFinding,
    _below,
    _finding,
    _new_cytopenias,
    _plain,
    _slack,
    _transaminase_findings,
)
from icaht.record import Analyte, LabValue, PatientRecord, count_until, is_upper_bound

DAY0 = date(2026, 5, 4)


def _day(lab: LabValue) -> int:
    return (lab.day - DAY0).days


def new_cytopenias_as_before(series: Sequence[LabValue], analyte: Analyte) -> list[IecHsFinding]:
    limit = NEW_CYTOPENIA_LIMITS[analyte]
    found: list[IecHsFinding] = []
    recovered = False
    for lab in series:
        if _day(lab) < 1:
            continue
        if _below(lab, limit) and recovered:
            found.append(_finding(lab, f"new cytopenia: {NEW_CYTOPENIA_TEXT[analyte]}"))
        elif not is_upper_bound(lab) and lab.value > limit:
            recovered = True
    return found


def transaminases_as_before(
    series: Sequence[LabValue],
) -> tuple[list[IecHsFinding], list[LabValue]]:
    before = [v for v in series if _day(v) <= 0 and _plain(v)]
    baseline = before[-1] if before else None
    high = (
        baseline
        if baseline is not None
        and baseline.reference_high is not None
        and baseline.value > baseline.reference_high
        else None
    )
    found: list[IecHsFinding] = []
    unassessable: list[LabValue] = []
    name = series[0].analyte.value.upper() if series else ""
    for lab in series:
        if _day(lab) < 1 or is_upper_bound(lab):
            continue
        if high is not None:
            if lab.value > TRANSAMINASE_FACTOR * high.value:
                found.append(
                    _finding(lab, f"{name} > 5 x baseline ({high.value:g} U/L, above ULN)")
                )
        elif lab.reference_high is None:
            unassessable.append(lab)
        elif lab.value > TRANSAMINASE_FACTOR * lab.reference_high:
            found.append(_finding(lab, f"{name} > 5 x ULN ({lab.reference_high:g} U/L)"))
    return found, unassessable


@st.composite
def values(draw: st.DrawFn, analyte: Analyte, numbers: Sequence[float]) -> LabValue:
    bound = draw(st.sampled_from(["plain", "<", "derived-bound"]))
    return LabValue(
        analyte,
        draw(st.sampled_from(numbers)),
        DAY0 + timedelta(days=draw(st.integers(-3, 4))),
        comparator="<" if bound == "<" else None,
        provenance="derived-bound" if bound == "derived-bound" else "measured",
        reference_high=draw(st.sampled_from([None, 40.0])),
        source_id=f"Observation/{draw(st.integers(0, 99))}",
    )


def series_of(labs: list[LabValue], analyte: Analyte) -> tuple[LabValue, ...]:
    return PatientRecord("p", tuple(labs)).series(analyte)  # oldest day first, as the screen


@settings(max_examples=300, deadline=None)
@given(
    st.lists(values(Analyte.ANC, [100.0, 500.0, 501.0, 2000.0]), max_size=15),
    st.lists(values(Analyte.PLATELETS, [5.0, 20.0, 21.0, 90.0]), max_size=15),
)
def test_new_cytopenias_after_day_0_as_before(anc: list[LabValue], plt: list[LabValue]) -> None:
    for analyte, labs in ((Analyte.ANC, anc), (Analyte.PLATELETS, plt)):
        series = series_of(labs, analyte)
        after = series[count_until(series, DAY0) :]
        assert _new_cytopenias(after, analyte) == new_cytopenias_as_before(series, analyte)


@settings(max_examples=300, deadline=None)
@given(st.lists(values(Analyte.ALT, [10.0, 45.0, 200.0, 201.0, 1000.0]), max_size=15))
def test_transaminase_findings_as_before(labs: list[LabValue]) -> None:
    series = series_of(labs, Analyte.ALT)
    assert _transaminase_findings(series, DAY0) == transaminases_as_before(series)


# -- the ferritin window's slack (issue 20): the widest UTC-offset difference present ---------


def test_slack_is_the_widest_offset_difference_of_the_times() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    summer = datetime(2026, 10, 24, 12, tzinfo=berlin)  # +02:00
    winter = datetime(2026, 10, 26, 12, tzinfo=berlin)  # +01:00
    utc = datetime(2026, 10, 25, 12, tzinfo=UTC)
    assert _slack([summer, summer]) == timedelta(0)
    assert _slack([summer, winter]) == timedelta(hours=1)
    assert _slack([utc, summer, winter]) == timedelta(hours=2)
    assert _slack([summer.replace(tzinfo=None), winter.replace(tzinfo=None)]) == timedelta(0)


def test_slack_without_every_offset_is_the_safe_bound() -> None:
    # naive beside aware: `_within_72_h` raises for such a pair; the candidates stay as wide as
    # before issue 20, so it raises (or not) as it did
    naive = datetime(2026, 10, 24, 12)
    aware = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert _slack([naive, aware]) == SLACK
