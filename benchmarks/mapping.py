"""Observations per second through fhir_mappings.map_patient on one core.

Builds 50,000 realistic Observation dicts (500 patients x 100: daily CBC with differential,
chemistry, unit variants, a few messy ones) and maps them patient by patient, as the CDS
service does. Prints the figure. Run: .venv/bin/python benchmarks/mapping.py [--profile]
"""

from __future__ import annotations

import cProfile
import pstats
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from fhir_mappings import map_patient

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENTS = 500
PER_PATIENT = 100
TARGET = 50_000

# (code, low, high, unit choices)
PANEL: list[tuple[str, float, float, tuple[str, ...]]] = [
    ("6690-2", 0.1, 12.0, ("10*3/uL", "10*9/L", "K/uL")),
    ("751-8", 0.0, 8.0, ("10*3/uL", "10*9/L")),
    ("770-8", 5.0, 80.0, ("%",)),
    ("777-3", 5.0, 300.0, ("10*3/uL", "10*9/L", "G/L")),
    ("718-7", 6.0, 14.0, ("g/dL", "g/L")),
]
CHEMISTRY: list[tuple[str, float, float, tuple[str, ...]]] = [
    ("1988-5", 1.0, 200.0, ("mg/L", "mg/dL")),
    ("2276-4", 50.0, 5000.0, ("ng/mL", "ug/L")),
    ("2532-0", 150.0, 900.0, ("U/L",)),
    ("2160-0", 0.5, 2.0, ("mg/dL",)),
    ("14682-9", 40.0, 180.0, ("umol/L",)),
]


def _quantity(
    rng: random.Random, low: float, high: float, units: tuple[str, ...]
) -> dict[str, Any]:
    unit = rng.choice(units)
    value = round(rng.uniform(low, high), 2)
    if unit == "g/L":
        value = round(value * 10, 1)
    if unit == "mg/dL" and low == 1.0:
        value = round(value / 10, 2)
    q: dict[str, Any] = {"value": value, "unit": unit}
    if unit not in ("K/uL", "G/L"):
        q.update(system=UCUM, code=unit)
    return q


def _obs(
    oid: str, code: str, when: str, qty: dict[str, Any], status: str = "final"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/x"},
        "effectiveDateTime": when,
        "issued": when,
        "valueQuantity": qty,
    }


def patient_observations(rng: random.Random, pid: int) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
    out: list[dict[str, Any]] = []
    day = 0
    while len(out) < PER_PATIENT:
        when = (start + timedelta(days=day, minutes=rng.randint(0, 600))).isoformat()
        for code, low, high, units in PANEL:
            out.append(_obs(f"{pid}-{len(out)}", code, when, _quantity(rng, low, high, units)))
        if day % 3 == 0:
            for code, low, high, units in CHEMISTRY:
                out.append(_obs(f"{pid}-{len(out)}", code, when, _quantity(rng, low, high, units)))
        if rng.random() < 0.05:  # messy: preliminary, entered-in-error, missing unit
            status = rng.choice(("preliminary", "entered-in-error"))
            out.append(_obs(f"{pid}-{len(out)}", "751-8", when, {"value": 0.4}, status))
        day += 1
    return out[:PER_PATIENT]


def build() -> list[list[dict[str, Any]]]:
    rng = random.Random(20261124)
    return [patient_observations(rng, p) for p in range(PATIENTS)]


def run(cohort: list[list[dict[str, Any]]]) -> float:
    t0 = time.perf_counter()
    for pid, obs in enumerate(cohort):
        map_patient(obs, patient_id=str(pid), tz="America/New_York")
    return time.perf_counter() - t0


def main() -> None:
    cohort = build()
    n = sum(len(p) for p in cohort)
    run(cohort[:5])  # warm caches (UCUM registry, unit factors, zone)
    if "--profile" in sys.argv:
        prof = cProfile.Profile()
        prof.enable()
        run(cohort)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    best = min(run(cohort) for _ in range(3))
    rate = n / best
    print(f"observations: {n}  best of 3: {best:.3f} s  rate: {rate:,.0f} observations/s")
    print(f"target {TARGET:,}/s: {'met' if rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
