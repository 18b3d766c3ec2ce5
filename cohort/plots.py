"""The cohort's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from cohort.model import PatientGrading, RecoveryEvent
from cohort.stats import cumulative_incidence
from cohort.trajectories import SHOWN_PHENOTYPES, trajectories

COLOURS = {"quick": "#1b9e77", "intermittent": "#d95f02", "aplastic": "#7570b3"}
THRESHOLD_LINES = (500, 100)  # ICAHT severe / profound neutropenia, ANC <= 500 / <= 100 per µL
DPI = 100


def write_plots(out: Path, gradings: Sequence[PatientGrading]) -> list[Path]:
    graded = [o for o in gradings if o.day0 is not None]
    return [
        _grades(out / "grades.png", graded),
        _trajectories(out / "anc_trajectories.png", graded),
        _recovery(out / "recovery.png", graded),
    ]


def _grades(path: Path, graded: Sequence[PatientGrading]) -> Path:
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


def _trajectories(path: Path, graded: Sequence[PatientGrading]) -> Path:
    return _save(trajectory_figure(graded), path)


def trajectory_figure(graded: Sequence[PatientGrading]) -> Figure:
    """Median and IQR per phenotype; the phenotypes left out are named under the axes."""
    data = trajectories(graded)
    fig, ax = plt.subplots(figsize=(7, 4))
    for line in data.drawn:
        q = np.array(line.quartiles)
        colour = COLOURS[line.phenotype]
        ax.fill_between(line.days, q[:, 0], q[:, 2], color=colour, alpha=0.2, linewidth=0)
        label = f"{line.phenotype} (n = {line.patients})"
        ax.plot(line.days, q[:, 1], color=colour, label=label)
    for level in THRESHOLD_LINES:
        ax.axhline(level, color="grey", linestyle=":", linewidth=1)
        # right of the axes, on the line's height: never on top of a curve
        ax.text(
            1.01,
            level,
            f"{level}/µL",
            transform=ax.get_yaxis_transform(),
            color="grey",
            fontsize=8,
            va="center",
            ha="left",
        )
    if data.not_drawn:
        ax.text(
            0.0,
            -0.16,
            "\n".join(data.not_drawn),
            transform=ax.transAxes,
            fontsize=8,
            va="top",
            ha="left",
        )
    ax.set_yscale("log")
    ax.set_xlabel("day after CAR-T infusion")
    ax.set_ylabel("ANC (/µL), lowest of the day")
    ax.set_title("ANC trajectories by recovery phenotype: median and IQR")
    _legend(ax)
    return fig


PLATELET_RECOVERY_LABEL = "platelet recovery (>= 20 x10^9/L, transfusion-independent)"
PLATELET_COLOUR = "#e7298a"


def _recovery(path: Path, graded: Sequence[PatientGrading]) -> Path:
    return _save(recovery_figure(graded), path)


def recovery_times(
    graded: Sequence[PatientGrading], phenotype: str
) -> list[tuple[int, RecoveryEvent]]:
    """(day, event) of each patient of `phenotype` with an early severe episode: the ANC
    recovery the cohort grading took from the engine's episodes (`anc_recovery`)."""
    return [
        (o.recovery.day, o.recovery.event)
        for o in graded
        if o.phenotype == phenotype and o.recovery is not None
    ]


def recovery_figure(graded: Sequence[PatientGrading]) -> Figure:
    """Left: ANC recovery by phenotype; right: platelet recovery (T-ICAHT, §18)."""
    fig, (ax, platelets) = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for phenotype in SHOWN_PHENOTYPES:
        times = recovery_times(graded, phenotype)
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
    ax.set_title(
        "ANC recovery > 500/µL after the first severe episode, days 0-30 (death competing)",
        fontsize=10,
    )
    _legend(ax)
    _platelet_recovery(platelets, graded)
    return fig


def _platelet_recovery(ax: Any, graded: Sequence[PatientGrading]) -> None:
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
