"""`ferritin_rises` without comparing every pair of values (issue 20) gives what the pairwise
reading gives (docs/clinical/09-iec-hs.md §17 C13 (1), docs/decisions/0013 reading 2): the
quadratic implementation it replaced is kept here as the oracle and both run on random ferritin
series: equal times, differences of exactly 72 h (and a microsecond more), exactly 2-fold and
2 x day 0 values, > 10,000 ng/mL runs, values with and without collection times, bounds and
`<` values, times in two zones across a daylight-saving change (one zone's aware times
subtract as wall-clock times), days that disagree with the times, any order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icaht.iec_hs import (
    FERRITIN_FOLD,
    FERRITIN_RISE_HOURS,
    FERRITIN_VERY_HIGH,
    _finding,
    _plain,
    _Rise,
    ferritin_baseline,
    ferritin_rises,
)
from icaht.record import Analyte, Comparator, LabValue, Provenance

BERLIN = ZoneInfo("Europe/Berlin")
DAY0 = date(2026, 3, 24)
# summer time starts on 29 March 2026 and ends on 25 October: inside the series
DAYS0 = (DAY0, date(2026, 10, 20))
# values with exact doublings, the 10,000 edge and 0 (never a base of a rise)
VALUES = (0.0, 250.0, 500.0, 999.0, 1000.0, 1999.0, 2000.0, 4000.0, 5000.0, 10_000.0, 10_001.0)


# -- the oracle: the pairwise implementation before issue 20 ------------------------------------


def _within_72_h(earlier: LabValue, later: LabValue) -> bool:
    if earlier.collected is not None and later.collected is not None:
        hours = (later.collected - earlier.collected).total_seconds() / 3600
        return 0 < hours <= FERRITIN_RISE_HOURS
    return 0 < (later.day - earlier.day).days <= FERRITIN_RISE_HOURS // 24


def _run_start(series: Sequence[LabValue], index: int, holds: Callable[[float], bool]) -> date:
    start = index
    while start > 0 and holds(series[start - 1].value):
        start -= 1
    if start == 0:
        return series[0].day
    return series[start - 1].day + timedelta(days=1)


def pairwise_rises(series: Sequence[LabValue], day0: date) -> list[_Rise]:
    baseline = ferritin_baseline(series, day0)
    plain = [v for v in series if _plain(v)]
    level = FERRITIN_FOLD * baseline.value if baseline is not None else float("inf")
    rises: list[_Rise] = []
    for index, lab in enumerate(plain):
        if (lab.day - day0).days < 1 or lab is baseline:
            continue
        earlier = [e for e in plain[:index] if e.value > 0 and _within_72_h(e, lab)]
        doubled = [e for e in earlier if lab.value >= FERRITIN_FOLD * e.value]
        if doubled:
            start = doubled[0]
            text = f"ferritin rose >= 2-fold within 72 h (from {start.value:g} ng/mL)"
            rises.append(_Rise(_finding(lab, text), start.day))
        if lab.value > FERRITIN_VERY_HIGH:
            starts = _run_start(plain, index, lambda v: v > FERRITIN_VERY_HIGH)
            rises.append(_Rise(_finding(lab, "ferritin > 10,000 ng/mL"), starts))
        if lab.value >= level:
            starts = _run_start(plain, index, lambda v: v >= level)
            text = f"ferritin >= 2 x the day-0 value ({level / FERRITIN_FOLD:g} ng/mL)"
            rises.append(_Rise(_finding(lab, text), starts))
    return rises


# -- random series -----------------------------------------------------------------------------


@st.composite
def ferritin(draw: st.DrawFn, number: int, day0: date) -> LabValue:
    day = day0 + timedelta(days=draw(st.integers(-2, 12)))
    timed = draw(st.sampled_from(["none", "berlin", "berlin", "utc", "off-day"]))
    collected: datetime | None = None
    if timed != "none":
        # whole and half hours: many pairs exactly 72 h apart; sometimes a microsecond more
        minutes = draw(st.sampled_from([0, 0, 0, 30]))
        local = datetime(day.year, day.month, day.day, draw(st.integers(0, 23)), minutes)
        local += timedelta(microseconds=draw(st.sampled_from([0, 0, 0, 1])))
        collected = local.replace(tzinfo=UTC if timed == "utc" else BERLIN)
        if timed == "off-day":  # a day that disagrees with the time (not from the mapping)
            day += timedelta(days=draw(st.integers(-2, 2)))
    comparator: Comparator | None = draw(st.sampled_from([None] * 8 + ["<", ">"]))
    provenance: Provenance = draw(st.sampled_from(["measured"] * 9 + ["derived-bound"]))
    return LabValue(
        Analyte.FERRITIN,
        draw(st.sampled_from(VALUES)),
        day,
        collected,
        comparator,
        provenance,
        source_id=f"Observation/{number}",
    )


@st.composite
def series(draw: st.DrawFn, day0: date) -> list[LabValue]:
    size = draw(st.integers(0, 40))
    values = [draw(ferritin(number, day0)) for number in range(size)]
    if draw(st.booleans()):  # as `PatientRecord.series` hands them over
        values.sort(
            key=lambda v: (v.day, v.collected.timestamp() if v.collected else float("-inf"))
        )
    if values and draw(st.booleans()):  # equal times: a value again at the same instant
        twin = draw(st.sampled_from(values))
        values.insert(draw(st.integers(0, len(values))), twin)
    return values


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(DAYS0).flatmap(lambda day0: st.tuples(st.just(day0), series(day0))))
def test_ferritin_rises_equal_the_pairwise_reading(case: tuple[date, list[LabValue]]) -> None:
    day0, values = case
    assert ferritin_rises(values, day0) == pairwise_rises(values, day0)


def test_the_oracle_sees_the_boundaries() -> None:
    """The random series reach what the oracle tells apart: a rise at exactly 72 h and
    exactly 2-fold counts, a microsecond later or a value less does not, equal times never."""

    def at(day: int, hour: int, microsecond: int = 0) -> datetime:
        d = DAY0 + timedelta(days=day)
        return datetime(d.year, d.month, d.day, hour, microsecond=microsecond, tzinfo=UTC)

    def fer(day: int, value: float, when: datetime | None) -> LabValue:
        return LabValue(Analyte.FERRITIN, value, DAY0 + timedelta(days=day), when)

    first = fer(2, 1000, at(2, 6))
    doubled = [fer(5, 2000, at(5, 6))]
    late = [fer(5, 2000, at(5, 6, 1))]
    less = [fer(5, 1999, at(5, 6))]
    same = [fer(2, 2000, at(2, 6))]
    # one zone's aware times subtract as wall-clock times: 06:00 summer time on 22 October to
    # 06:00 winter time on 25 October is 72 h on the clock (73 h elapsed), a rise
    autumn = date(2026, 10, 20)
    summer = LabValue(
        Analyte.FERRITIN, 1000, date(2026, 10, 22), datetime(2026, 10, 22, 6, tzinfo=BERLIN)
    )
    winter = LabValue(
        Analyte.FERRITIN, 2000, date(2026, 10, 25), datetime(2026, 10, 25, 6, tzinfo=BERLIN)
    )
    for oracle in (pairwise_rises, ferritin_rises):
        assert len(oracle([summer, winter], autumn)) == 1
        assert len(oracle([first, *doubled], DAY0)) == 1
        assert oracle([first, *late], DAY0) == []
        assert oracle([first, *less], DAY0) == []
        assert oracle([first, *same], DAY0) == []


def test_a_naive_time_beside_an_aware_one_raises_as_the_pairwise_reading() -> None:
    """The value test goes first only where no pair can raise (issue 20): with a naive time
    beside an aware one, a pair within reach raises as it did, whether or not it doubled."""
    aware = datetime(2026, 3, 26, 6, 0, tzinfo=BERLIN)
    for later_value in (300.0, 150.0):  # doubled, and not
        series = [
            LabValue(Analyte.FERRITIN, 100.0, DAY0 + timedelta(days=2), aware),
            LabValue(
                Analyte.FERRITIN,
                later_value,
                DAY0 + timedelta(days=3),
                aware.replace(tzinfo=None) + timedelta(days=1),
            ),
        ]
        for reading in (pairwise_rises, ferritin_rises):
            with pytest.raises(TypeError):
                reading(series, DAY0)
