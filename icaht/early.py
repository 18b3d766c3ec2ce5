"""Early ICAHT, days 0-30 (docs/clinical/02-early-icaht.md §2 as amended by §16 C1-C6, C9-C11)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from icaht.daygrid import (
    MEASURED,
    NOT_SEVERE,
    SEVERE,
    UNKNOWN_FLAG,
    DayGrid,
    WindowEnds,
    has_unknown_days,
    severity_flags,
    unusable_window,
    window_grid,
)
from icaht.episodes import Episode, find_episodes, graded_duration
from icaht.observations import DailyAnc
from icaht.settings import GradingSettings

EARLY_WINDOW_END = 30  # §1.2, S-HAEM Table 1: early ICAHT = days 0-30
SEVERE_ANC = 500  # §2.1, S-HAEM Table 1: "ANC <= 500/uL" (A1: inclusive by default)
PROFOUND_ANC = 100  # §2.1, S-HAEM Table 1: "ANC <= 100/uL"
GRADE2_DAYS = 7  # §2.1: ANC <= 500 for 7-13 days
GRADE3_DAYS = 14  # §2.1: ANC <= 500 for >= 14 days
PROFOUND_GRADE3_DAYS = 7  # §2.1: ANC <= 100 for >= 7 days
PROFOUND_GRADE4_DAYS = 14  # §2.1: ANC <= 100 for >= 14 days
MAX_LISTED_BRIDGED = 3  # more bridged days than this are counted in the explanation, not listed

Status = Literal["final", "provisional", "censored"]


@dataclass(frozen=True, slots=True)
class NextGrade:
    """The day on which a higher grade is reached if the ANC stays at/below the threshold (§2.7)."""

    grade: int
    day: int
    threshold: int


@dataclass(frozen=True, slots=True)
class BridgedDay:
    """A measured day above `threshold` inside an episode: a transient rise of <= 2 days that
    the episode bridges (§2.4, reading A4), so "on days 0-17" does not mean every day was low."""

    threshold: int
    day: int
    anc: float


@dataclass(frozen=True, slots=True)
class EarlyResult:
    """Early ICAHT grade with its evidence."""

    grade: int | None  # 0..4; None when not evaluable (see `reason`)
    status: Status
    lower_bound: bool  # unknown days inside the window: the true grade may be higher
    days_anc_le_500: int  # graded duration (longest episode by default)
    days_anc_le_100: int
    never_above_500: bool  # grade 4 by the never-above override (§2.5)
    window_end_day: int | None  # E = min(30, death, censoring, evaluation)
    episodes_500: tuple[Episode, ...]
    episodes_100: tuple[Episode, ...]
    grid: DayGrid  # daily values and kinds of days 0..E
    episode_ongoing: bool  # last known day of the window is severe (C1: last measured day)
    next_grade: NextGrade | None  # only for provisional results with an ongoing episode
    driven_by_death: bool  # never-above override that rests on an early death (A7)
    bridged_days: tuple[BridgedDay, ...]  # measured days above the threshold inside an episode
    reason: str | None = None

    def explanation(self) -> str:
        """One line for a card, e.g. 'grade 3 (final) because ANC <=500/µL on days 0-17 (18 days;
        day 2 at 940/µL bridged as a transient rise)'."""
        if self.grade is None:
            return f"early ICAHT not graded: {self.reason}"
        text = f"early ICAHT grade {self.grade} ({self.status})"
        if self.never_above_500:
            text += " because ANC never rose above 500/µL after the nadir"
            if self.driven_by_death:
                text += " before death"
            longest = max(self.episodes_500, key=lambda e: e.duration)  # the override's episode
            inside = _bridged_in(longest, self.bridged_days)
            if inside:  # "never above" rests on bridged rises: name them (A4)
                text += f" ({_bridged_text(inside)})"
        elif self.grade > 0:
            episode = max(self.episodes_500, key=lambda e: e.duration)
            text += f" because ANC <=500/µL {_span(episode, self.bridged_days)}"
            if self.episodes_100:
                profound = max(self.episodes_100, key=lambda e: e.duration)
                text += f", <=100/µL {_span(profound, self.bridged_days)}"
        if self.lower_bound:
            text += "; lower bound (days without values in the window)"
        return text


def _span(episode: Episode, bridged: tuple[BridgedDay, ...]) -> str:
    """'on days 2-17 (16 days)', 'on day 4 (1 day)', or with the bridged measured days:
    'on days 0-17 (18 days; day 2 at 940/µL bridged as a transient rise)'."""
    if episode.duration == 1:
        return f"on day {episode.start_day} (1 day)"
    days = f"on days {episode.start_day}-{episode.end_day} ({episode.duration} days"
    inside = _bridged_in(episode, bridged)
    return f"{days}; {_bridged_text(inside)})" if inside else f"{days})"


def _bridged_in(episode: Episode, bridged: tuple[BridgedDay, ...]) -> list[BridgedDay]:
    return [
        b
        for b in bridged
        if b.threshold == episode.threshold and episode.start_day <= b.day <= episode.end_day
    ]


def _bridged_text(bridged: list[BridgedDay]) -> str:
    """'day 2 at 940/µL bridged as a transient rise'; several: '..., day 9 at 600/µL and 2
    more bridged as transient rises' (at most MAX_LISTED_BRIDGED listed)."""
    listed = [f"day {b.day} at {b.anc:g}/µL" for b in bridged[:MAX_LISTED_BRIDGED]]
    more = len(bridged) - len(listed)
    if more:
        text = f"{', '.join(listed)} and {more} more"
    elif len(listed) > 1:
        text = f"{', '.join(listed[:-1])} and {listed[-1]}"
    else:
        text = listed[0]
    rise = "a transient rise" if len(bridged) == 1 else "transient rises"
    return f"{text} bridged as {rise}"


def bridged_days(
    grid: DayGrid, flags: list[int], episodes: tuple[Episode, ...]
) -> tuple[BridgedDay, ...]:
    """Measured days inside an episode whose ANC is above its threshold (§2.4, A4: a rise of
    1-2 days is bridged). Interpolated days are left out: a linear segment is monotone, so an
    interpolated day above the threshold in a bridged gap always has a measured one beside it."""
    return tuple(
        BridgedDay(e.threshold, day, value)
        for e in episodes
        for day in range(e.start_day, e.end_day + 1)
        if flags[day] == NOT_SEVERE
        and grid.kinds[day] == MEASURED
        and (value := grid.values[day]) is not None
    )


def early_status(
    end_day: int, death_day: int | None, censor_day: int | None
) -> tuple[Status, bool]:
    """C3 pseudocode. Returns (status, censored)."""
    if (
        censor_day is not None
        and censor_day <= EARLY_WINDOW_END
        and (death_day is None or censor_day <= death_day)
    ):
        return "censored", True
    if end_day in (EARLY_WINDOW_END, death_day):
        return "final", False
    return "provisional", False


def grade_early(daily: DailyAnc, ends: WindowEnds, settings: GradingSettings) -> EarlyResult:
    """Early ICAHT for one course; all days relative to day 0."""
    # A12: without early censoring, a censoring event does not end the early window
    early_ends = ends if settings.early_censoring else replace(ends, censor_day=None)
    end = early_ends.end(EARLY_WINDOW_END)
    status, censored = early_status(end, ends.death_day, early_ends.censor_day)
    if end < 0:
        return _not_evaluable(status, "the window ends before day 0")
    grid = window_grid(daily, end, EARLY_WINDOW_END, ends, settings)
    flags_500 = severity_flags(grid, SEVERE_ANC, settings.threshold_inclusive)
    flags_100 = severity_flags(grid, PROFOUND_ANC, settings.threshold_inclusive)
    days = unusable_window(flags_500, end)
    if days is not None:
        return _not_evaluable(status, f"no usable ANC value {days}", grid, end)
    bridge, absorb = settings.bridging_gap, settings.absorb_trailing_gaps
    episodes_500 = find_episodes(flags_500, SEVERE_ANC, bridge, absorb)
    episodes_100 = find_episodes(flags_100, PROFOUND_ANC, bridge, absorb)
    d500 = graded_duration(episodes_500, settings.duration_mode)
    d100 = graded_duration(episodes_100, settings.duration_mode)
    never = _never_above(episodes_500, end, status, censored, settings)
    grade = grade_from_durations(d500, d100, never)
    ongoing = _ongoing_start(flags_500, episodes_500) is not None
    return EarlyResult(
        grade=grade,
        status=status,
        lower_bound=has_unknown_days(flags_500, flags_100),
        days_anc_le_500=d500,
        days_anc_le_100=d100,
        never_above_500=never,
        window_end_day=end,
        episodes_500=episodes_500,
        episodes_100=episodes_100,
        grid=grid,
        episode_ongoing=ongoing,
        next_grade=(
            _next_grade(
                grade,
                flags_500=flags_500,
                flags_100=flags_100,
                episodes_500=episodes_500,
                episodes_100=episodes_100,
                settings=settings,
            )
            if status == "provisional"
            else None
        ),
        driven_by_death=never and end == ends.death_day and end < EARLY_WINDOW_END,
        bridged_days=bridged_days(grid, flags_500, episodes_500)
        + bridged_days(grid, flags_100, episodes_100),
    )


def grade_from_durations(d500: int, d100: int, never_above: bool) -> int:
    """§2.1 table: the highest grade reached by either row."""
    if d100 >= PROFOUND_GRADE4_DAYS or never_above:
        return 4
    if d500 >= GRADE3_DAYS or d100 >= PROFOUND_GRADE3_DAYS:
        return 3
    if d500 >= GRADE2_DAYS:
        return 2
    return 1 if d500 >= 1 else 0


def _never_above(
    episodes: tuple[Episode, ...],
    end: int,
    status: Status,
    censored: bool,
    settings: GradingSettings,
) -> bool:
    """§2.5 (A6, A7) with C2, C3: an episode from day 0..3 to the window end, window complete."""
    if settings.never_above_requires_complete_window and (censored or status != "final"):
        return False
    latest_start = settings.never_above_latest_start_day  # §2.5: episode starts on day 0-3
    return any(e.start_day <= latest_start and e.end_day == end for e in episodes)


def _last_known_day(flags: list[int]) -> int | None:
    for day in range(len(flags) - 1, -1, -1):
        if flags[day] != UNKNOWN_FLAG:
            return day
    return None


def _ongoing_start(flags: list[int], episodes: tuple[Episode, ...]) -> int | None:
    """Start of the episode that contains the last known day (C1), if that day is severe."""
    last = _last_known_day(flags)
    if last is None or flags[last] != SEVERE:
        return None
    return next(e.start_day for e in episodes if e.start_day <= last <= e.end_day)


def _next_grade(
    grade: int,
    *,
    flags_500: list[int],
    flags_100: list[int],
    episodes_500: tuple[Episode, ...],
    episodes_100: tuple[Episode, ...],
    settings: GradingSettings,
) -> NextGrade | None:
    """§2.7: the next grade and the day it is reached if the ongoing episode continues."""
    candidates: list[NextGrade] = []
    start = _ongoing_start(flags_500, episodes_500)
    if start is not None:
        candidates.append(NextGrade(2, start + GRADE2_DAYS - 1, SEVERE_ANC))
        candidates.append(NextGrade(3, start + GRADE3_DAYS - 1, SEVERE_ANC))
        if start <= settings.never_above_latest_start_day:
            candidates.append(NextGrade(4, EARLY_WINDOW_END, SEVERE_ANC))
    start = _ongoing_start(flags_100, episodes_100)
    if start is not None:
        candidates.append(NextGrade(3, start + PROFOUND_GRADE3_DAYS - 1, PROFOUND_ANC))
        candidates.append(NextGrade(4, start + PROFOUND_GRADE4_DAYS - 1, PROFOUND_ANC))
    ahead = [c for c in candidates if c.grade > grade and c.day <= EARLY_WINDOW_END]
    return min(ahead, key=lambda c: (c.grade, c.day)) if ahead else None


def _not_evaluable(
    status: Status, reason: str, grid: DayGrid | None = None, end: int | None = None
) -> EarlyResult:
    return EarlyResult(
        grade=None,
        status=status,
        lower_bound=True,
        days_anc_le_500=0,
        days_anc_le_100=0,
        never_above_500=False,
        window_end_day=end,
        episodes_500=(),
        episodes_100=(),
        grid=grid or DayGrid((), ()),
        episode_ongoing=False,
        next_grade=None,
        driven_by_death=False,
        bridged_days=(),
        reason=reason,
    )
