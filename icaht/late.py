"""Late ICAHT, day 31 onwards (docs/clinical §3, §4.4 as amended by §16 C6, C8, C11d)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Literal, NamedTuple

from icaht.daygrid import WindowEnds
from icaht.observations import DailyAnc
from icaht.settings import GradingSettings

LATE_WINDOW_START = 31  # §3.2: day +31 (Liang `time_post_inf >= 31`)
# §3.1, S-HAEM Table 1 (A1: inclusive by default): grade 1 <= 1500, 2 <= 1000, 3 <= 500, 4 <= 100
LATE_BANDS: tuple[tuple[int, int], ...] = ((100, 4), (500, 3), (1000, 2), (1500, 1))
CONFIRMING_ANC = 1500  # §3.2: second value <= 1500 makes the nadir non-transient

Status = Literal["final", "provisional", "censored"]


class LateValue(NamedTuple):
    """Daily minimum on one late day; `below` = given as `<x` or a derived bound (C6).

    An immutable NamedTuple rather than a dataclass: one is made per late day on the hot path.
    """

    day: int
    value: float
    below: bool = False


@dataclass(frozen=True, slots=True)
class LateResult:
    """Late ICAHT grade with its evidence."""

    grade: int | None  # 0..4; None when no value in the window
    confirmed: bool  # False: grade >= 1 rests on one value ("possible late ICAHT, repeat ANC")
    status: Status
    window_start_day: int
    window_end_day: int | None
    values: tuple[LateValue, ...]  # daily minima in the window, by day
    nadir: LateValue | None  # anc_1 (earliest of ties, C11d)
    second_lowest: LateValue | None  # anc_2
    transient: bool  # grade 0 because the dip was followed by a value > 1500
    reason: str | None = None

    def explanation(self) -> str:
        """Why the late grade, in one line for the card, the SMART API, the cohort tables and the
        alerts (§3.2, C8: the second-lowest value reading), e.g. 'late ICAHT grade 3 (final)
        because the two lowest ANC after day 30 were 420/µL (day 40) and 480/µL (day 45)'."""
        if self.grade is None:
            return f"late ICAHT not graded: {self.reason}"
        text = f"late ICAHT grade {self.grade} ({self.status})"
        nadir, second = self.nadir, self.second_lowest
        if nadir is None:
            return text
        after = f"after day {self.window_start_day - 1}"
        if self.transient:
            return (
                f"{text}: the dip to {_anc(nadir)} on day {nadir.day} was followed by ANC "
                f"> {CONFIRMING_ANC}/µL (transient)"
            )
        if self.grade == 0:
            return f"{text}: the lowest ANC {after} was {_anc(nadir)} (day {nadir.day})"
        if not self.confirmed:
            return (
                f"{text}, unconfirmed: it rests on one value, {_anc(nadir)} on day {nadir.day}, "
                f"with no second value <= {CONFIRMING_ANC}/µL and no later value "
                f"> {CONFIRMING_ANC}/µL: repeat the ANC to confirm"
            )
        assert second is not None  # confirmed: two values <= 1500/µL (C8)
        return (
            f"{text} because the two lowest ANC {after} were {_anc(nadir)} (day {nadir.day}) "
            f"and {_anc(second)} (day {second.day})"
        )


def _anc(value: LateValue) -> str:
    """'420/µL', '<100/µL' for a value given as a bound (C6)."""
    return f"{'<' if value.below else ''}{value.value:g}/µL"


_LIMITS = [limit for limit, _ in LATE_BANDS]  # 100, 500, 1000, 1500 (ascending)


def late_band(
    value: LateValue, inclusive: bool, limits: tuple[float, ...] | list[int] = _LIMITS
) -> int:
    """Band of a value (§3.1): the number of limits (ascending, deepest band first) minus the
    number below it; `<x` takes x's band (C6). ANC: 4 limits -> bands 4..1; platelets (§18):
    20, 50, 100 -> bands 3..1 (`<x` counts for a strict `< limit` when x <= limit)."""
    if inclusive or value.below:
        return len(limits) - bisect_left(limits, value.value)  # x <= limit counts
    return len(limits) - bisect_right(limits, value.value)  # x < limit counts


def late_status(end: int, horizon: int, death_day: int | None, censor_day: int | None) -> Status:
    if censor_day is not None and censor_day == end and censor_day < horizon:
        return "censored"
    return "final" if end in (horizon, death_day) else "provisional"


def grade_late(daily: DailyAnc, ends: WindowEnds, settings: GradingSettings) -> LateResult:
    """§3.2: window day 31..min(end, censoring, death, evaluation); no interpolation."""
    horizon = settings.late_window_end
    end = ends.end(horizon)
    status = late_status(end, horizon, ends.death_day, ends.censor_day)
    values = late_window_values(daily, end)
    if not values:
        return LateResult(
            None,
            False,
            status,
            LATE_WINDOW_START,
            end,
            (),
            None,
            None,
            False,
            "no ANC value in the late window",
        )
    ranked = sorted([(v.value, not v.below, v.day, i) for i, v in enumerate(values)])  # C6, C11d
    nadir = values[ranked[0][3]]
    second = values[ranked[1][3]] if len(ranked) > 1 else None
    inclusive = settings.threshold_inclusive
    bands = [late_band(v, inclusive) for v in values]
    grade, confirmed = banded_grade(values, bands, settings)
    transient = grade == 0 and late_band(nadir, settings.threshold_inclusive) > 0
    return LateResult(
        grade=grade,
        confirmed=confirmed,
        status=status,
        window_start_day=LATE_WINDOW_START,
        window_end_day=end,
        values=values,
        nadir=nadir,
        second_lowest=second,
        transient=transient,
    )


def banded_grade(
    values: tuple[LateValue, ...], bands: list[int], settings: GradingSettings
) -> tuple[int, bool]:
    """The late grade from the bands of the window's values and whether a pair confirms it
    (§3.2 A10/A11, C8); band 0 = not low (ANC > 1500; platelets >= 100 x10^9/L for §18)."""
    confirmed_grade = _confirmed_grade(values, bands, settings)
    single_grade = _unconfirmed_grade(values, bands, settings)
    if settings.late_mode == "strict" and confirmed_grade > 0:
        single_grade = 0  # strict (A10): two values in the band decide; C8 only without a pair
    grade = max(confirmed_grade, single_grade)
    return grade, grade == 0 or confirmed_grade >= single_grade


def late_window_values(daily: DailyAnc, end: int) -> tuple[LateValue, ...]:
    """Daily minima (numbers and `<x` bounds) on days 31..end, by day: no interpolation."""
    numeric = daily.numeric
    found = [LateValue(d, numeric[d]) for d in daily.days if LATE_WINDOW_START <= d <= end]
    if daily.bounds:
        found += [
            LateValue(d, b.x, True)
            for d, b in daily.bounds.items()
            if LATE_WINDOW_START <= d <= end
        ]
        found.sort()
    return tuple(found)


def _confirmed_grade(
    values: tuple[LateValue, ...], bands: list[int], settings: GradingSettings
) -> int:
    """Highest grade backed by two values <= 1500 (optionally within N days of each other).

    nadir mode (A10 default): the deeper value of the pair decides; strict mode: the shallower.
    Without an interval this equals Liang's "band of anc_1 when anc_2 <= 1500" (nadir) and
    "band of anc_2" (strict).
    """
    low = [(v.day, b) for v, b in zip(values, bands, strict=True) if b > 0]
    if len(low) < 2:
        return 0
    max_days = settings.late_max_days_between_confirming_values
    if max_days is None:
        ordered = sorted((b for _, b in low), reverse=True)
        return ordered[0] if settings.late_mode == "nadir" else ordered[1]
    best = 0
    pick = max if settings.late_mode == "nadir" else min
    for i, (day_i, band_i) in enumerate(low):
        for day_j, band_j in low[i + 1 :]:
            if day_j - day_i <= max_days:
                best = max(best, pick(band_i, band_j))
    return best


def _unconfirmed_grade(
    values: tuple[LateValue, ...], bands: list[int], settings: GradingSettings
) -> int:
    """A11 / C8: a value <= 1500 not followed by any value > 1500 is graded, unconfirmed.

    Liang mode (transient_needs_later_value=False): only a single value in the window is
    graded this way (anc_2 missing); otherwise order is ignored.
    """
    if not settings.transient_needs_later_value:
        return bands[0] if len(values) == 1 else 0
    best = 0
    later_high = False
    for value, band in zip(reversed(values), reversed(bands), strict=True):
        if band == 0 and not value.below:  # a `<x` value is never known to be > 1500 (C6)
            later_high = True
        elif not later_high:
            best = max(best, band)
    return best
