"""Neutropenic episodes: runs of severe days joined across short gaps (docs/clinical §2.4)."""

from __future__ import annotations

from dataclasses import dataclass

from icaht.daygrid import SEVERE


@dataclass(frozen=True, slots=True)
class Episode:
    """Days start..end (inclusive, bridged days included) with ANC at/below `threshold`."""

    threshold: int
    start_day: int
    end_day: int

    @property
    def duration(self) -> int:
        """end - start + 1, bridged days included (§2.4, heatwaveR duration)."""
        return self.end_day - self.start_day + 1


def find_episodes(
    flags: list[int], threshold: int, bridging_gap: int, absorb_trailing: bool
) -> tuple[Episode, ...]:
    """Runs of SEVERE days; runs separated by 1..bridging_gap other days are joined (§2.4, A4).

    Unknown days count as "not severe" for the gap (§2.4: "days not severe, including unknown
    days"). `absorb_trailing` reproduces heatwaveR: a trailing run of <= bridging_gap days at
    the end of the series is absorbed into the last episode (A5).
    """
    runs: list[list[int]] = []
    start = -1
    for day, flag in enumerate(flags):
        if flag == SEVERE:
            if start < 0:
                start = day
        elif start >= 0:
            _append_run(runs, start, day - 1, bridging_gap)
            start = -1
    if start >= 0:
        _append_run(runs, start, len(flags) - 1, bridging_gap)
    if absorb_trailing and runs and 0 < len(flags) - 1 - runs[-1][1] <= bridging_gap:
        runs[-1][1] = len(flags) - 1
    return tuple(Episode(threshold, s, e) for s, e in runs)


def _append_run(runs: list[list[int]], start: int, end: int, bridging_gap: int) -> None:
    if runs and start - runs[-1][1] - 1 <= bridging_gap:  # §2.4: gap of 1-2 days bridged
        runs[-1][1] = end
    else:
        runs.append([start, end])


def graded_duration(episodes: tuple[Episode, ...], mode: str) -> int:
    """Longest episode (default, A3) or the sum of all episodes (`cumulative`)."""
    if not episodes:
        return 0
    if mode == "cumulative":
        return sum(e.duration for e in episodes)
    return max(e.duration for e in episodes)
