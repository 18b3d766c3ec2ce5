"""CTCAE v5.0 band edges (docs/clinical §8): strict `<` bands, LLN for grade 1, anemia cap 3."""

from __future__ import annotations

import pytest
from engine_helpers import lab

from icaht import ctcae_from_lab, ctcae_grade
from icaht.record import Analyte

CASES = [
    # ANC cells/uL: <500 G4, <1000 G3, <1500 G2, <LLN G1
    (Analyte.ANC, 499, None, 4),
    (Analyte.ANC, 500, None, 3),
    (Analyte.ANC, 999, None, 3),
    (Analyte.ANC, 1000, None, 2),
    (Analyte.ANC, 1499, None, 2),
    (Analyte.ANC, 1500, None, None),
    (Analyte.ANC, 1500, 1800, 1),
    (Analyte.ANC, 1800, 1800, 0),
    # platelets 10^9/L: <25 G4, <50 G3, <75 G2
    (Analyte.PLATELETS, 24.9, None, 4),
    (Analyte.PLATELETS, 25, None, 3),
    (Analyte.PLATELETS, 50, None, 2),
    (Analyte.PLATELETS, 74.9, None, 2),
    (Analyte.PLATELETS, 75, None, None),
    (Analyte.PLATELETS, 75, 150, 1),
    (Analyte.PLATELETS, 150, 150, 0),
    # hemoglobin g/dL: <8 G3 (capped), <10 G2
    (Analyte.HEMOGLOBIN, 4.0, None, 3),
    (Analyte.HEMOGLOBIN, 7.9, None, 3),
    (Analyte.HEMOGLOBIN, 8.0, None, 2),
    (Analyte.HEMOGLOBIN, 10.0, None, None),
    (Analyte.HEMOGLOBIN, 10.0, 12.0, 1),
    # lymphocytes cells/uL: <200 G4, <500 G3, <800 G2
    (Analyte.LYMPHOCYTES, 199, None, 4),
    (Analyte.LYMPHOCYTES, 200, None, 3),
    (Analyte.LYMPHOCYTES, 500, None, 2),
    (Analyte.LYMPHOCYTES, 800, 1000, 1),
    # WBC cells/uL: <1000 G4, <2000 G3, <3000 G2
    (Analyte.WBC, 999, None, 4),
    (Analyte.WBC, 1000, None, 3),
    (Analyte.WBC, 2000, None, 2),
    (Analyte.WBC, 3000, 4000, 1),
    (Analyte.WBC, 4000, 4000, 0),
]


@pytest.mark.parametrize(("analyte", "value", "lln", "expected"), CASES)
def test_ctcae_band_edges(analyte: Analyte, value: float, lln: float | None, expected: int) -> None:
    assert ctcae_grade(analyte, value, lln=lln).grade == expected


def test_ctcae_and_icaht_thresholds_differ_at_500() -> None:
    # ICAHT: 500 is severe (<=); CTCAE: 500 is grade 3 (grade 4 is < 500)
    assert ctcae_grade(Analyte.ANC, 500).grade == 3


def test_below_value_gets_the_band_of_x_as_lower_bound() -> None:
    graded = ctcae_from_lab(lab(5, 1000, comparator="<"))
    assert (graded.grade, graded.lower_bound) == (3, True)
    deepest = ctcae_from_lab(lab(5, 500, comparator="<"))
    assert (deepest.grade, deepest.lower_bound) == (4, False)


def test_lln_taken_from_reference_range() -> None:
    graded = ctcae_from_lab(lab(5, 1600, reference_low=1800))
    assert (graded.grade, graded.lln, graded.term) == (1, 1800, "Neutrophil count decreased")


def test_no_lln_reason() -> None:
    assert ctcae_grade(Analyte.WBC, 5000).reason is not None


def test_derived_bound_is_graded_at_x_as_lower_bound() -> None:
    graded = ctcae_from_lab(lab(5, 800, comparator="<=", provenance="derived-bound"))
    assert (graded.grade, graded.lower_bound) == (3, True)
