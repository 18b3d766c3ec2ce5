"""CAR-HEMATOTOX (docs/clinical §6): H-A1 boundaries, bounds for missing items, baseline window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_helpers import DAY0, lab

from icaht import AllHematotoxCutoffs, all_hematotox, car_hematotox, pick_baseline
from icaht.record import Analyte, CarTInfusion, PatientRecord, TherapyTimeline

LOW_RISK = {"platelets": 200.0, "anc": 3000.0, "hemoglobin": 12.0, "crp": 5.0, "ferritin": 300.0}


def points(item: str, value: float) -> int | None:
    return car_hematotox(**{**LOW_RISK, item: value}).points[item]


@pytest.mark.parametrize(
    ("item", "value", "expected"),
    [
        ("anc", 1200, 0),
        ("anc", 1199, 1),
        ("hemoglobin", 9.0, 0),
        ("hemoglobin", 8.9, 1),
        ("crp", 30.0, 0),  # 3.0 mg/dL exactly
        ("crp", 30.1, 1),
        ("platelets", 175.1, 0),
        ("platelets", 175, 1),
        ("platelets", 75, 1),
        ("platelets", 74.9, 2),
        ("ferritin", 649, 0),
        ("ferritin", 650, 1),
        ("ferritin", 2000, 1),
        ("ferritin", 2001, 2),
    ],
)
def test_h_a1_boundaries(item: str, value: float, expected: int) -> None:
    assert points(item, value) == expected


def test_crp_is_taken_in_mg_per_l() -> None:
    # CRP units trap (§6.1): 5 mg/L = 0.5 mg/dL -> 0 points; 35 mg/L = 3.5 mg/dL -> 1
    assert points("crp", 5) == 0
    assert points("crp", 35) == 1


def test_low_and_high_risk() -> None:
    low = car_hematotox(**LOW_RISK)
    assert (low.score, low.lower, low.upper, low.risk) == (0, 0, 0, "low")
    one = car_hematotox(**{**LOW_RISK, "anc": 1000})
    assert (one.score, one.risk) == (1, "low")
    two = car_hematotox(**{**LOW_RISK, "anc": 1000, "hemoglobin": 8})
    assert (two.score, two.risk) == (2, "high")
    worst = car_hematotox(platelets=50, anc=100, hemoglobin=7, crp=100, ferritin=5000)
    assert (worst.score, worst.risk) == (7, "high")


def test_missing_items_give_bounds() -> None:
    nothing = car_hematotox()
    assert (nothing.lower, nothing.upper, nothing.risk) == (0, 7, "indeterminate")
    assert set(nothing.missing) == {"platelets", "anc", "hemoglobin", "crp", "ferritin"}
    no_ferritin = car_hematotox(**{**LOW_RISK, "ferritin": None})  # type: ignore[arg-type]
    assert no_ferritin.points["ferritin"] is None
    assert (no_ferritin.lower, no_ferritin.upper, no_ferritin.risk) == (0, 2, "indeterminate")
    no_anc = car_hematotox(**{**LOW_RISK, "anc": None})  # type: ignore[arg-type]
    assert (no_anc.lower, no_anc.upper, no_anc.risk) == (0, 1, "low")
    high_anyway = car_hematotox(platelets=50)
    assert (high_anyway.lower, high_anyway.risk) == (2, "high")


def test_all_hematotox_only_with_cutoffs_and_marked_unverified() -> None:
    cutoffs = AllHematotoxCutoffs(blast_points=((5.0, 1), (25.0, 2)))
    result = all_hematotox(
        cutoffs, platelets=200, anc=3000, hemoglobin=12, crp=5, marrow_blast_percent=30
    )
    assert result.unverified is True
    assert result.result.points["marrow_blasts"] == 2
    assert "ferritin" not in result.result.points
    assert result.result.risk == "high"
    few = all_hematotox(
        cutoffs, platelets=200, anc=3000, hemoglobin=12, crp=5, marrow_blast_percent=4.9
    )
    assert (few.result.score, few.result.risk) == (0, "low")


def _record(ld: int | None, labs: list) -> PatientRecord:  # type: ignore[type-arg]
    timeline = TherapyTimeline(
        infusions=(CarTInfusion(day0=DAY0),),
        lymphodepletion_start=None if ld is None else DAY0 + timedelta(days=ld),
    )
    return PatientRecord("p", tuple(labs), timeline)


def test_baseline_latest_value_in_ld_window() -> None:
    labs = [
        lab(-13, 100, Analyte.PLATELETS),  # before LD - 7
        lab(-10, 150, Analyte.PLATELETS),
        lab(-6, 160, Analyte.PLATELETS),  # LD day: allowed
        lab(-4, 20, Analyte.PLATELETS),  # after LD start
    ]
    baseline = pick_baseline(_record(-6, labs), DAY0)
    assert baseline.value(Analyte.PLATELETS) == 160
    assert (baseline.window_start, baseline.window_end) == (
        DAY0 - timedelta(13),
        DAY0 - timedelta(6),
    )


def test_baseline_without_ld_date_uses_day_minus_10_to_minus_5() -> None:
    labs = [
        lab(-11, 50, Analyte.PLATELETS),
        lab(-7, 150, Analyte.PLATELETS),
        lab(-4, 20, Analyte.PLATELETS),
    ]
    baseline = pick_baseline(_record(None, labs), DAY0)
    assert baseline.value(Analyte.PLATELETS) == 150
    assert baseline.value(Analyte.FERRITIN) is None


def test_baseline_skips_bounded_values() -> None:
    labs = [lab(-8, 150, Analyte.PLATELETS), lab(-6, 20, Analyte.PLATELETS, comparator="<")]
    assert pick_baseline(_record(None, labs), DAY0).value(Analyte.PLATELETS) == 150
