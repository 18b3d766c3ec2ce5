"""Small builders shared by the engine tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from icaht import GradingSettings, NeutropeniaResult, grade_neutropenia
from icaht.record import Analyte, LabValue

DAY0 = date(2026, 3, 2)


def on(day: int) -> date:
    """Calendar date of study day `day`."""
    return DAY0 + timedelta(days=day)


def series(values: Mapping[int, float] | Iterable[tuple[int, float]]) -> list[tuple[date, float]]:
    """{study day: ANC} -> [(date, ANC)]."""
    items = values.items() if isinstance(values, Mapping) else values
    return [(on(day), float(anc)) for day, anc in items]


def constant(days: Iterable[int], anc: float) -> dict[int, float]:
    return dict.fromkeys(days, anc)


def lab(day: int, value: float, analyte: Analyte = Analyte.ANC, **kw: object) -> LabValue:
    return LabValue(analyte=analyte, value=value, day=on(day), **kw)  # type: ignore[arg-type]


def grade(
    values: Mapping[int, float] | Iterable[tuple[int, float]] | list[LabValue],
    *,
    evaluation_day: int | None = None,
    death_day: int | None = None,
    censor_day: int | None = None,
    settings: GradingSettings | None = None,
) -> NeutropeniaResult:
    items = (
        values
        if isinstance(values, list) and values and isinstance(values[0], LabValue)
        else series(values)
    )  # type: ignore[arg-type]
    return grade_neutropenia(
        items,
        DAY0,
        evaluation_date=None if evaluation_day is None else on(evaluation_day),
        death_date=None if death_day is None else on(death_day),
        censor_date=None if censor_day is None else on(censor_day),
        settings=settings or GradingSettings(),
    )
