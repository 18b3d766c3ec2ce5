"""What anc_trajectories.png draws: median and IQR of the lowest ANC per day, per recovery
phenotype, and which phenotypes it leaves out and why (issue 16: said on the plot and in the
run's text output, never left out silently). No matplotlib here: summary.md uses it too."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cohort.model import PatientGrading

SHOWN_PHENOTYPES = ("quick", "intermittent", "aplastic")
MIN_PATIENTS_PER_DAY = 3  # fewer values on a day: no median/IQR drawn for it
LOG_FLOOR = 1.0  # log axis: an ANC of 0 is drawn at 1/µL


@dataclass(frozen=True, slots=True)
class Trajectory:
    """One drawn phenotype: per day with >= MIN_PATIENTS_PER_DAY values, (q25, median, q75)."""

    phenotype: str
    patients: int
    days: tuple[int, ...]
    quartiles: tuple[tuple[float, float, float], ...]


@dataclass(frozen=True, slots=True)
class Trajectories:
    drawn: tuple[Trajectory, ...]
    not_drawn: tuple[str, ...]  # "not drawn: aplastic (n=2, fewer than 3 patients)"


def trajectories(graded: Sequence[PatientGrading]) -> Trajectories:
    drawn: list[Trajectory] = []
    not_drawn: list[str] = []
    for phenotype in SHOWN_PHENOTYPES:
        members = [o for o in graded if o.phenotype == phenotype]
        if not members:  # nothing to leave out: the legend's absence says it
            continue
        by_day: dict[int, list[float]] = defaultdict(list)
        for grading in members:
            for day, value in grading.anc_by_day:
                by_day[day].append(max(value, LOG_FLOOR))
        days = sorted(d for d, v in by_day.items() if len(v) >= MIN_PATIENTS_PER_DAY)
        if not days:
            not_drawn.append(_not_drawn(phenotype, len(members)))
            continue
        q = [tuple(float(x) for x in np.percentile(by_day[d], [25, 50, 75])) for d in days]
        quartiles = tuple((a, b, c) for a, b, c in q)
        drawn.append(Trajectory(phenotype, len(members), tuple(days), quartiles))
    return Trajectories(tuple(drawn), tuple(not_drawn))


def _not_drawn(phenotype: str, patients: int) -> str:
    if patients < MIN_PATIENTS_PER_DAY:
        why = f"fewer than {MIN_PATIENTS_PER_DAY} patients"
    else:  # enough patients, but never enough values on the same day
        why = f"fewer than {MIN_PATIENTS_PER_DAY} values on every day"
    return f"not drawn: {phenotype} (n={patients}, {why})"
