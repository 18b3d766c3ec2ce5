"""CAR-HEMATOTOX score (docs/clinical/06-car-hematotox.md §6) and its baseline window (§6.3).

Cut-offs are [UNVERIFIED] against R-HT (Rejeski et al., Blood 2021;138(24):2499-2513), see §6.1
and §14 item 3. Boundaries follow ambiguity reading H-A1 (§6.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from icaht.record import Analyte, LabValue, PatientRecord
from icaht.settings import AllHematotoxCutoffs

Risk = Literal["low", "high", "indeterminate"]

HIGH_RISK_MIN_SCORE = 2  # §6.1: low risk 0-1, high risk >= 2
# Most points each item can give (§6.1): used for the upper bound when an item is missing.
MAX_POINTS = {"platelets": 2, "anc": 1, "hemoglobin": 1, "crp": 1, "ferritin": 2}


@dataclass(frozen=True, slots=True)
class HematotoxResult:
    """CAR-HEMATOTOX with per-item points and bounds when items are missing (§6.3, H-A3)."""

    points: dict[str, int | None]  # None = item missing
    score: int  # points of the items present (partial score when items are missing)
    lower: int
    upper: int
    risk: Risk
    missing: tuple[str, ...]


def platelet_points(platelets: float) -> int:
    """10^9/L. §6.1 + H-A1: < 75 -> 2; 75 <= x <= 175 -> 1; > 175 -> 0."""
    if platelets < 75:  # §6.1: < 75 x10^9/L
        return 2
    return 1 if platelets <= 175 else 0  # §6.1: 75-175 (closed, H-A1)


def anc_points(anc: float) -> int:
    """cells/uL. §6.1 + H-A1: point only when ANC < 1200 (exactly 1200 -> 0)."""
    return 1 if anc < 1200 else 0  # §6.1 + §6.2 H-A1: ANC < 1200/uL


def hemoglobin_points(hemoglobin: float) -> int:
    """g/dL. §6.1 + H-A1: point only when Hb < 9.0 (exactly 9.0 -> 0)."""
    return 1 if hemoglobin < 9.0 else 0  # §6.1 + §6.2 H-A1: Hb < 9.0 g/dL


def crp_points(crp_mg_per_l: float) -> int:
    """CRP given in mg/L. §6.1: point when CRP > 3.0 mg/dL = 30 mg/L (compared in mg/L to avoid
    a rounding error in the /10 conversion; exactly 3.0 mg/dL -> 0, H-A1)."""
    return 1 if crp_mg_per_l > 30.0 else 0  # §6.1 + H-A1: CRP > 3.0 mg/dL (= 30 mg/L)


def ferritin_points(ferritin: float) -> int:
    """ng/mL. §6.1 + H-A1: < 650 -> 0; 650 <= x <= 2000 -> 1; > 2000 -> 2."""
    if ferritin > 2000:  # §6.1: > 2000 ng/mL
        return 2
    return 1 if ferritin >= 650 else 0  # §6.1: 650-2000 (closed, H-A1)


def _risk(lower: int, upper: int, high_min: int) -> Risk:
    if lower >= high_min:
        return "high"
    return "low" if upper < high_min else "indeterminate"


def _score(
    points: dict[str, int | None], max_points: dict[str, int], high_min: int
) -> HematotoxResult:
    missing = tuple(k for k, v in points.items() if v is None)
    score = sum(v for v in points.values() if v is not None)
    upper = score + sum(max_points[k] for k in missing)
    return HematotoxResult(points, score, score, upper, _risk(score, upper, high_min), missing)


def car_hematotox(
    *,
    platelets: float | None = None,
    anc: float | None = None,
    hemoglobin: float | None = None,
    crp: float | None = None,
    ferritin: float | None = None,
) -> HematotoxResult:
    """CAR-HEMATOTOX from baseline values: platelets 10^9/L, ANC /uL, Hb g/dL, CRP mg/L, ferritin
    ng/mL; any may be None."""
    points: dict[str, int | None] = {
        "platelets": None if platelets is None else platelet_points(platelets),
        "anc": None if anc is None else anc_points(anc),
        "hemoglobin": None if hemoglobin is None else hemoglobin_points(hemoglobin),
        "crp": None if crp is None else crp_points(crp),
        "ferritin": None if ferritin is None else ferritin_points(ferritin),
    }
    return _score(points, MAX_POINTS, HIGH_RISK_MIN_SCORE)


@dataclass(frozen=True, slots=True)
class AllHematotoxResult:
    """ALL-Hematotox: CAR-HEMATOTOX with marrow blasts instead of ferritin. UNVERIFIED (§6.4)."""

    result: HematotoxResult
    unverified: bool = True
    note: str = "ALL-Hematotox cut-offs are configured locally and UNVERIFIED (docs/clinical §6.4)"


def all_hematotox(
    cutoffs: AllHematotoxCutoffs,
    *,
    platelets: float | None = None,
    anc: float | None = None,
    hemoglobin: float | None = None,
    crp: float | None = None,
    marrow_blast_percent: float | None = None,
) -> AllHematotoxResult:
    """B-ALL variant, only with configured blast cut-offs (§6.4: "substitutes BM disease burden
    for ferritin in CAR-HT"; cut-offs and points UNVERIFIED)."""
    ordered = sorted(cutoffs.blast_points)
    blast_points = None
    if marrow_blast_percent is not None:
        blast_points = max((p for lim, p in ordered if marrow_blast_percent >= lim), default=0)
    base = car_hematotox(platelets=platelets, anc=anc, hemoglobin=hemoglobin, crp=crp)
    points = {k: v for k, v in base.points.items() if k != "ferritin"}
    points["marrow_blasts"] = blast_points
    max_points = {k: v for k, v in MAX_POINTS.items() if k != "ferritin"}
    max_points["marrow_blasts"] = max((p for _, p in ordered), default=0)
    return AllHematotoxResult(_score(points, max_points, cutoffs.high_risk_min_score))


@dataclass(frozen=True, slots=True)
class BaselineValue:
    """The value picked for a baseline item and where it came from."""

    value: float
    day: date
    source_id: str | None


@dataclass(frozen=True, slots=True)
class Baseline:
    """Baseline values for CAR-HEMATOTOX / EASIX with the window used (§6.3, H-A2)."""

    window_start: date
    window_end: date
    window_rule: str
    values: dict[Analyte, BaselineValue]

    def value(self, analyte: Analyte) -> float | None:
        found = self.values.get(analyte)
        return None if found is None else found.value


BASELINE_ANALYTES = (
    Analyte.PLATELETS,
    Analyte.ANC,
    Analyte.HEMOGLOBIN,
    Analyte.CRP,
    Analyte.FERRITIN,
    Analyte.LDH,
    Analyte.CREATININE,
)


def window_for(lymphodepletion: date | None, day0: date) -> tuple[date, date, str]:
    """§6.3: [LD start - 7 d, LD start]; without an LD date [day -10, day -5]."""
    ld = lymphodepletion
    if ld is not None:
        return ld - timedelta(days=7), ld, "lymphodepletion start - 7 d .. lymphodepletion start"
    return day0 - timedelta(days=10), day0 - timedelta(days=5), "day -10 .. day -5 (no LD date)"


def baseline_window(record: PatientRecord, day0: date) -> tuple[date, date, str]:
    """§6.3 window of the course with day 0 `day0` (its lymphodepletion on the timeline)."""
    return window_for(record.timeline.lymphodepletion_start, day0)


def pick_baseline(record: PatientRecord, day0: date) -> Baseline:
    """Latest value of each baseline analyte inside the §6.3 window (bounded values skipped)."""
    return baseline_in(record, *baseline_window(record, day0))


def baseline_in(record: PatientRecord, start: date, end: date, rule: str) -> Baseline:
    """Latest value of each baseline analyte in [start, end] (bounded values skipped)."""
    values: dict[Analyte, BaselineValue] = {}
    for analyte in BASELINE_ANALYTES:
        candidates = [
            v for v in record.series(analyte) if start <= v.day <= end and _plain_number(v)
        ]
        if candidates:
            last = candidates[-1]
            values[analyte] = BaselineValue(last.value, last.day, last.source_id)
    return Baseline(start, end, rule, values)


def _plain_number(lab: LabValue) -> bool:
    """A bounded value ("<x", derived bound) cannot be placed against a cut-off reliably."""
    return lab.comparator is None and lab.provenance != "derived-bound"


def hematotox_from_baseline(baseline: Baseline) -> HematotoxResult:
    return car_hematotox(
        platelets=baseline.value(Analyte.PLATELETS),
        anc=baseline.value(Analyte.ANC),
        hemoglobin=baseline.value(Analyte.HEMOGLOBIN),
        crp=baseline.value(Analyte.CRP),
        ferritin=baseline.value(Analyte.FERRITIN),
    )


# §6.4: CAR-HEMATOTOX was derived and validated in LBCL (R-HT) and applied with the same cut-offs
# in multiple myeloma (Rejeski et al., J Hematol Oncol 2023) and mantle-cell lymphoma (Rejeski et
# al., Am J Hematol 2023). Disease values as in TherapyTimeline.disease.
VALIDATED_DISEASES = frozenset({"LBCL", "MM", "MCL"})
_VALIDATED_TEXT = "CAR-HEMATOTOX is validated in LBCL, multiple myeloma and mantle-cell lymphoma"


def scope_note(disease: str | None) -> str | None:
    """What the status card says when the disease is outside the score's validated scope
    (docs/clinical §6.4); None inside it or when the disease is not on record."""
    if disease is None or disease in VALIDATED_DISEASES:
        return None
    if disease == "B-ALL":
        # §6.4: ALL-Hematotox (Nair et al., Blood 2025;145(11):1136-1148) substitutes marrow
        # disease burden for ferritin; CAR-HEMATOTOX classed ~90% of B-ALL patients as high risk
        return (
            f"{_VALIDATED_TEXT}; in B-ALL an adapted score applies, ALL-Hematotox, with marrow "
            "blasts instead of ferritin (CAR-HEMATOTOX classes most B-ALL patients as high risk)"
        )
    if disease == "FL":
        return f"{_VALIDATED_TEXT}; no version validated in follicular lymphoma was found"
    shown = "CLL" if disease == "CLL" else "this disease"
    return f"{_VALIDATED_TEXT}, not in {shown}: interpret with caution"
