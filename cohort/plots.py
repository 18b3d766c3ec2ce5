"""The cohort's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from cohort.model import PatientOutcome
from cohort.stats import cumulative_incidence

SHOWN_PHENOTYPES = ("quick", "intermittent", "aplastic")
COLOURS = {"quick": "#1b9e77", "intermittent": "#d95f02", "aplastic": "#7570b3"}
MIN_PATIENTS_PER_DAY = 3  # fewer values on a day: no median/IQR drawn for it
DPI = 100


def write_plots(out: Path, outcomes: Sequence[PatientOutcome]) -> list[Path]:
    graded = [o for o in outcomes if o.day0 is not None]
    return [
        _grades(out / "grades.png", graded),
        _trajectories(out / "anc_trajectories.png", graded),
        _recovery(out / "recovery.png", graded),
    ]


def _grades(path: Path, graded: Sequence[PatientOutcome]) -> Path:
    labels = ["0", "1", "2", "3", "4", "not graded"]
    keys: list[int | None] = [0, 1, 2, 3, 4, None]
    early = Counter(o.early_grade for o in graded)
    late = Counter(o.late_grade for o in graded)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(x - 0.2, [early.get(k, 0) for k in keys], 0.4, label="early (days 0-30)")
    ax.bar(x + 0.2, [late.get(k, 0) for k in keys], 0.4, label="late (after day +30)")
    ax.set_xticks(x, labels)
    ax.set_xlabel("ICAHT grade")
    ax.set_ylabel("patients")
    ax.set_title(f"ICAHT grades (n = {len(graded)})")
    ax.legend(frameon=False)
    return _save(fig, path)


def _trajectories(path: Path, graded: Sequence[PatientOutcome]) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for phenotype in SHOWN_PHENOTYPES:
        by_day: dict[int, list[float]] = defaultdict(list)
        members = [o for o in graded if o.phenotype == phenotype]
        for outcome in members:
            for day, value in outcome.anc_by_day:
                by_day[day].append(max(value, 1.0))  # log axis: 0 drawn at 1/µL
        days = sorted(d for d, v in by_day.items() if len(v) >= MIN_PATIENTS_PER_DAY)
        if not days:
            continue
        q = np.array([np.percentile(by_day[d], [25, 50, 75]) for d in days])
        colour = COLOURS[phenotype]
        ax.fill_between(days, q[:, 0], q[:, 2], color=colour, alpha=0.2, linewidth=0)
        ax.plot(days, q[:, 1], color=colour, label=f"{phenotype} (n = {len(members)})")
    for level in (500, 100):
        ax.axhline(level, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("day after CAR-T infusion")
    ax.set_ylabel("ANC (/µL), lowest of the day")
    ax.set_title("ANC trajectories by recovery phenotype: median and IQR")
    _legend(ax)
    return _save(fig, path)


PLATELET_RECOVERY_LABEL = "platelet recovery (>= 20 x10^9/L, transfusion-independent)"
PLATELET_COLOUR = "#e7298a"


def _recovery(path: Path, graded: Sequence[PatientOutcome]) -> Path:
    """Left: ANC recovery by phenotype; right: platelet recovery (T-ICAHT, §18)."""
    fig, (ax, platelets) = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for phenotype in SHOWN_PHENOTYPES:
        times = [
            (o.recovery.day, o.recovery.event)
            for o in graded
            if o.phenotype == phenotype and o.recovery is not None
        ]
        if not times:
            continue
        steps = cumulative_incidence(times, "recovered", "death")
        days = [0] + [s.day for s in steps]
        values = [0.0] + [s.incidence for s in steps]
        label = f"{phenotype} (n = {len(times)})"
        ax.step(days, values, where="post", color=COLOURS[phenotype], label=label)
    ax.set_ylim(0, 1)
    ax.set_xlabel("day after CAR-T infusion")
    ax.set_ylabel("cumulative incidence")
    ax.set_title("ANC recovery > 500/µL after severe neutropenia (death competing)", fontsize=10)
    _legend(ax)
    _platelet_recovery(platelets, graded)
    return _save(fig, path)


def _platelet_recovery(ax: Any, graded: Sequence[PatientOutcome]) -> None:
    times = [
        (o.platelet_recovery.day, o.platelet_recovery.event)
        for o in graded
        if o.platelet_recovery is not None
    ]
    if times:
        steps = cumulative_incidence(times, "recovered", "death")
        days = [0] + [s.day for s in steps]
        values = [0.0] + [s.incidence for s in steps]
        label = f"{PLATELET_RECOVERY_LABEL} (n = {len(times)})"
        ax.step(days, values, where="post", color=PLATELET_COLOUR, label=label)
    else:  # e.g. a Liang CSV (no platelets): say so instead of an empty frame
        ax.text(0.5, 0.5, "no platelet counts < 20 x10^9/L", ha="center", transform=ax.transAxes)
    ax.set_ylim(0, 1)
    ax.set_xlabel("day after CAR-T infusion")
    ax.set_title("Platelet recovery after platelets < 20 x10^9/L (death competing)", fontsize=10)
    if times:  # upper left: the curve starts at 0 in the lower right corner's row
        ax.legend(frameon=False, loc="upper left", fontsize=9)


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:  # nothing drawn (e.g. no phenotype yet): no legend
        ax.legend(frameon=False, loc="lower right")


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
