"""`PatientRecord.series` sorts every analyte once per record (issue 20) and gives what
filtering and sorting the labs on each call gave: the same values in the same order, a record
made by `replace` sorts its own labs, and the kept series is no part of the record's value
(equality, hash, repr)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from icaht.record import Analyte, LabValue, PatientRecord

DAY = date(2026, 10, 20)
BERLIN = ZoneInfo("Europe/Berlin")


def sorted_afresh(record: PatientRecord, analyte: Analyte) -> tuple[LabValue, ...]:
    """The series as it was read before issue 20, on every call."""
    return tuple(
        sorted(
            (v for v in record.labs if v.analyte is analyte),
            key=lambda v: (v.day, v.collected.timestamp() if v.collected else float("-inf")),
        )
    )


@st.composite
def labs(draw: st.DrawFn) -> LabValue:
    day = DAY + timedelta(days=draw(st.integers(0, 6)))
    collected = None
    if draw(st.booleans()):
        zone = draw(st.sampled_from([UTC, BERLIN]))
        collected = datetime(day.year, day.month, day.day, draw(st.integers(0, 23)), tzinfo=zone)
    return LabValue(
        draw(st.sampled_from(list(Analyte))),
        draw(st.sampled_from([1.0, 2.0, 3.0])),
        day,
        collected,
        source_id=f"Observation/{draw(st.integers(0, 9))}",
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(labs(), max_size=30))
def test_series_equal_filtering_and_sorting_on_each_call(values: list[LabValue]) -> None:
    record = PatientRecord("p", tuple(values))
    for _twice in range(2):  # the first call sorts, the second reads what it kept
        for analyte in Analyte:
            assert record.series(analyte) == sorted_afresh(record, analyte)


def test_a_replaced_record_sorts_its_own_labs() -> None:
    anc = LabValue(Analyte.ANC, 100.0, DAY)
    later = LabValue(Analyte.ANC, 200.0, DAY + timedelta(days=1))
    record = PatientRecord("p", (later, anc))
    assert record.series(Analyte.ANC) == (anc, later)
    fewer = replace(record, labs=(later,))
    assert fewer.series(Analyte.ANC) == (later,)
    assert replace(record, labs=()).series(Analyte.ANC) == ()
    assert record.series(Analyte.ANC) == (anc, later)


def test_the_kept_series_is_no_part_of_the_value() -> None:
    values = (LabValue(Analyte.ANC, 100.0, DAY), LabValue(Analyte.PLATELETS, 20.0, DAY))
    read, unread = PatientRecord("p", values), PatientRecord("p", values)
    read.series(Analyte.ANC)
    assert read == unread
    assert hash(read) == hash(unread)
    assert repr(read) == repr(unread)


# values of one draw share one datetime object (the mapping reads each time text once): the
# series works out each object's timestamp once (issue 20), untimed values beside them
SHARED_TIMES = tuple(
    datetime(2026, 10, 20 + d, h, tzinfo=zone)
    for d in range(3)
    for h in (0, 7, 23)
    for zone in (UTC, BERLIN)
)


@st.composite
def labs_sharing_times(draw: st.DrawFn) -> LabValue:
    collected = draw(st.sampled_from((None, *SHARED_TIMES)))
    day = DAY + timedelta(days=draw(st.integers(0, 3)))
    return LabValue(
        draw(st.sampled_from([Analyte.ANC, Analyte.PLATELETS])),
        draw(st.sampled_from([1.0, 2.0])),
        collected.date() if collected is not None and draw(st.booleans()) else day,
        collected,
        source_id=f"Observation/{draw(st.integers(0, 9))}",
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(labs_sharing_times(), max_size=30))
def test_series_with_shared_times_equal_filtering_and_sorting(values: list[LabValue]) -> None:
    record = PatientRecord("p", tuple(values))
    for analyte in (Analyte.ANC, Analyte.PLATELETS):
        got, expected = record.series(analyte), sorted_afresh(record, analyte)
        assert len(got) == len(expected)
        assert all(a is b for a, b in zip(got, expected, strict=True))
