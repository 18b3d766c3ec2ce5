"""CTCAE v5.0 laboratory grades for blood counts (docs/clinical/08-ctcae.md §8).

CTCAE bands are strict ("<A - B" = value < A and >= B) and kept apart from the ICAHT
thresholds (which are inclusive by default, §2.2). A CTCAE grade is a single-measurement grade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from icaht.record import Analyte, LabValue

CtcaeTerm = Literal[
    "Neutrophil count decreased",
    "Platelet count decreased",
    "Anemia",
    "Lymphocyte count decreased",
    "White blood cell decreased",
]

# (upper limit of the band, exclusive; grade), deepest first. §8 table, NCI CTCAE v5.0.
_BANDS: dict[Analyte, tuple[CtcaeTerm, tuple[tuple[float, int], ...]]] = {
    # §8: <500 G4, <1000 G3, <1500 G2 (cells/uL)
    Analyte.ANC: ("Neutrophil count decreased", ((500, 4), (1000, 3), (1500, 2))),
    # §8: <25 G4, <50 G3, <75 G2 (10^9/L)
    Analyte.PLATELETS: ("Platelet count decreased", ((25, 4), (50, 3), (75, 2))),
    # §8: <8.0 G3, <10.0 G2 (g/dL); G4/G5 are clinical grades: a lab engine caps anemia at 3
    Analyte.HEMOGLOBIN: ("Anemia", ((8.0, 3), (10.0, 2))),
    # §8: <200 G4, <500 G3, <800 G2 (cells/uL)
    Analyte.LYMPHOCYTES: ("Lymphocyte count decreased", ((200, 4), (500, 3), (800, 2))),
    # §8: <1000 G4, <2000 G3, <3000 G2 (cells/uL)
    Analyte.WBC: ("White blood cell decreased", ((1000, 4), (2000, 3), (3000, 2))),
}

CTCAE_ANALYTES = tuple(_BANDS)


@dataclass(frozen=True, slots=True)
class CtcaeGrade:
    """One CTCAE v5.0 grade of one value."""

    term: CtcaeTerm
    grade: int | None  # None = not graded (value >= grade-2 limit and no LLN)
    value: float
    day: date | None  # the value's date when graded from a LabValue
    lln: float | None
    lower_bound: bool = False  # value given as "<x": the true grade may be higher
    reason: str | None = None


def ctcae_grade(
    analyte: Analyte, value: float, *, lln: float | None = None, below: bool = False
) -> CtcaeGrade:
    """Grade one value in canonical units; `below` = value given as `<x` (then x <= limit)."""
    term, bands = _BANDS[analyte]
    for limit, grade in bands:
        if value < limit or (below and value <= limit):
            return CtcaeGrade(term, grade, value, None, lln, below and grade != bands[0][1])
    if lln is None:
        return CtcaeGrade(term, None, value, None, None, below, "no LLN: grade 1 not assessable")
    if value < lln or (below and value <= lln):  # §8: grade 1 = <LLN - (grade 2 limit)
        return CtcaeGrade(term, 1, value, None, lln, below)
    return CtcaeGrade(term, 0, value, None, lln, below)


def ctcae_from_lab(lab: LabValue) -> CtcaeGrade:
    """Grade a LabValue (uses its reference_low as LLN and its comparator)."""
    graded = ctcae_grade(lab.analyte, lab.value, lln=lab.reference_low, below=lab.comparator == "<")
    # A derived bound (ANC <= WBC, §1.3) is graded at x; the true grade may be higher.
    deepest = _BANDS[lab.analyte][1][0][1]
    at_most = lab.provenance == "derived-bound" and graded.grade != deepest
    return CtcaeGrade(
        graded.term,
        graded.grade,
        graded.value,
        lab.day,
        graded.lln,
        graded.lower_bound or at_most,
        graded.reason,
    )
