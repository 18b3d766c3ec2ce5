"""Engine speed: grade one patient (60 ANC values over 100 days) and a 10,000-patient cohort.

Run: .venv/bin/python benchmarks/engine.py
Prints the median microseconds per patient (many runs) and the seconds for the cohort on one core.
The synthetic series are made here with a fixed seed (quick / intermittent / aplastic courses).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from icaht import GradingSettings, grade_neutropenia

SEED = 20261124
DAY0 = date(2026, 1, 5)
VALUES_PER_PATIENT = 60
DAYS = 100
COHORT = 10_000


def _course_anc(kind: str, day: int, rng: random.Random) -> float:
    """A rough ANC curve (cells/uL) for one phenotype, with noise."""
    if day < 0:
        base = 2500.0
    elif kind == "aplastic":
        base = 50.0 if day < 28 else 900.0
    elif kind == "intermittent":
        base = 200.0 if day < 8 else (2500.0 if day < 25 else (700.0 if day < 40 else 1800.0))
    else:
        base = 300.0 if day < 7 else 2500.0
    return max(0.0, round(base * rng.uniform(0.6, 1.4), -1))


def synthetic_patient(rng: random.Random) -> list[tuple[date, float]]:
    kind = rng.choice(["quick", "intermittent", "aplastic"])
    days = sorted(rng.sample(range(-5, DAYS), VALUES_PER_PATIENT))
    return [(DAY0 + timedelta(days=d), _course_anc(kind, d, rng)) for d in days]


def per_patient_microseconds(patient: list[tuple[date, float]], settings: GradingSettings) -> float:
    runs = []
    for _ in range(2000):
        start = time.perf_counter()
        grade_neutropenia(patient, DAY0, settings=settings)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1e6


def cohort_seconds(cohort: list[list[tuple[date, float]]], settings: GradingSettings) -> float:
    start = time.perf_counter()
    for patient in cohort:
        grade_neutropenia(patient, DAY0, settings=settings)
    return time.perf_counter() - start


def main() -> None:
    rng = random.Random(SEED)
    cohort = [synthetic_patient(rng) for _ in range(COHORT)]
    for name, settings in (("default", GradingSettings()), ("liang", GradingSettings.liang())):
        micro = statistics.median(per_patient_microseconds(p, settings) for p in cohort[:20])
        seconds = cohort_seconds(cohort, settings)
        shape = f"{VALUES_PER_PATIENT} values / {DAYS} days"
        print(f"{name:8s} one patient ({shape}): {micro:.0f} us median")
        print(f"{name:8s} cohort of {COHORT} patients, one core: {seconds:.2f} s")


if __name__ == "__main__":
    main()
