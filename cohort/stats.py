"""The few statistics of the summary: Wilson intervals, quartiles, cumulative incidence."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 %: the 0.975 quantile of the standard normal


@dataclass(frozen=True, slots=True)
class Proportion:
    events: int
    total: int
    low: float  # 95 % Wilson score interval
    high: float

    @property
    def value(self) -> float:
        return self.events / self.total if self.total else math.nan


def wilson(events: int, total: int, z: float = Z_95) -> Proportion:
    """Wilson score interval: keeps within 0..1 and behaves at 0 % and 100 % (unlike Wald)."""
    if total == 0:
        return Proportion(events, total, math.nan, math.nan)
    p = events / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return Proportion(events, total, max(0.0, centre - half), min(1.0, centre + half))


def quartiles(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(25th, median, 75th) percentile, inclusive method (as R's default type 7)."""
    if not values:
        return None
    if len(values) == 1:
        return (values[0], values[0], values[0])
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return (q1, q2, q3)


@dataclass(frozen=True, slots=True)
class IncidenceStep:
    day: int
    incidence: float  # cumulative incidence of the event of interest up to this day
    at_risk: int


def cumulative_incidence(
    times: Sequence[tuple[int, str]], event: str, competing: str
) -> list[IncidenceStep]:
    """Aalen-Johansen cumulative incidence of `event` with `competing` as competing risk.

    `times`: (day, kind) with kind `event`, `competing` or anything else (censored). With a
    competing risk, 1 - Kaplan-Meier overstates the incidence; this estimator does not.
    """
    steps: list[IncidenceStep] = []
    survival, incidence = 1.0, 0.0
    at_risk = len(times)
    for day in sorted({d for d, _ in times}):
        on_day = [kind for d, kind in times if d == day]
        events = on_day.count(event)
        others = on_day.count(competing)
        if at_risk and (events or others):
            incidence += survival * events / at_risk
            survival *= 1 - (events + others) / at_risk
        steps.append(IncidenceStep(day, incidence, at_risk))
        at_risk -= len(on_day)
    return steps
