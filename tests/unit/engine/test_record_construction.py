"""`LabValue.of` (the mapping's fast constructor, issue 20) builds what `LabValue(...)` builds;
`series_until` cuts a series as the filter it replaces."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta

import pytest

from icaht.record import Analyte, LabValue, PatientRecord, series_until


def test_the_slots_are_the_fields_in_order() -> None:
    assert LabValue.__slots__ == tuple(f.name for f in fields(LabValue))


@pytest.mark.parametrize(
    "args",
    [
        (Analyte.ANC, 1.0, date(2026, 1, 2), None, None, "measured", False, None, None, None),
        (
            Analyte.WBC,
            300.5,
            date(2026, 1, 2),
            datetime(2026, 1, 2, 6, 45, tzinfo=UTC),
            "<",
            "derived-bound",
            True,
            100.0,
            4000.0,
            "Observation/1,Observation/2",
        ),
    ],
)
def test_of_equals_the_constructor(args: tuple[object, ...]) -> None:
    built = LabValue(*args)  # type: ignore[arg-type]
    fast = LabValue.of(*args)  # type: ignore[arg-type]
    assert fast == built
    assert hash(fast) == hash(built)
    assert repr(fast) == repr(built)
    assert type(fast) is LabValue
    with pytest.raises(AttributeError):
        fast.value = 2.0  # type: ignore[misc]


def test_series_until_is_the_filter_on_a_sorted_series() -> None:
    base = date(2026, 1, 10)
    for days in ((), (0,), (0, 0, 1), (0, 2, 2, 2, 5), (3, 3, 3)):
        labs = tuple(
            LabValue(Analyte.ANC, float(i), base + timedelta(days=d)) for i, d in enumerate(days)
        )
        record = PatientRecord("p", labs)
        series = record.series(Analyte.ANC)
        assert series_until(series, None) == series
        for offset in range(-1, 7):
            day = base + timedelta(days=offset)
            assert series_until(series, day) == tuple(v for v in series if v.day <= day)
