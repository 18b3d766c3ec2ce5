"""ANC = segmented + band neutrophil counts of one specimen (docs/clinical §1.3, §11.2; issue 21).

fhir_mappings/data/analytes.yaml: 768-2 (manual) and 30451-9 (unspecified method) are
absolute segmented-neutrophil counts, 763-3 (manual) and 26507-4 (unspecified) absolute band
counts, all in 10*3/uL; the percent codes (769-0, 764-1, ...) are read with a WBC instead.
Before issue 21 no test fed the absolute counts: dropping the bands passed every test.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from mapping_helpers import labs_of

from fhir_mappings import map_patient
from icaht import assess
from icaht.record import Analyte

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CODE_PAIRS = [("768-2", "763-3"), ("30451-9", "26507-4")]  # (segmented, band) counts


def count(rid: str, code: str, value: float, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": when,
        "specimen": {"reference": f"Specimen/{when[:10]}"},
        "valueQuantity": {"value": value, "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"},
    }


@pytest.mark.parametrize(("segmented", "band"), CODE_PAIRS)
def test_segmented_plus_band_counts_are_the_anc(segmented: str, band: str) -> None:
    # 0.45 + 0.10 x10^3/uL = 550/uL: above the ICAHT 500 threshold only with the bands
    resources = [
        count("seg", segmented, 0.45, "2026-05-02T06:00:00Z"),
        count("band", band, 0.10, "2026-05-02T06:00:00Z"),
    ]
    result = map_patient(resources, patient_id="p1", tz="UTC")
    [anc] = labs_of(result, Analyte.ANC)
    assert anc.value == pytest.approx(550.0)
    assert (anc.provenance, anc.comparator, anc.day) == ("derived", None, date(2026, 5, 2))
    assert anc.source_id == "Observation/seg,Observation/band"


def test_segmented_count_alone_is_the_anc_as_measured() -> None:
    result = map_patient(
        [count("seg", "768-2", 0.45, "2026-05-02T06:00:00Z")], patient_id="p1", tz="UTC"
    )
    [anc] = labs_of(result, Analyte.ANC)
    assert (anc.value, anc.provenance) == (pytest.approx(450.0), "measured")


def test_bands_keep_a_course_out_of_severe_neutropenia() -> None:
    # days 1-10 segmented 0.45 + band 0.10 = 550/uL every day: never <= 500, early grade 0;
    # without the bands every day would be 450/uL (<= 500 for 10 days: grade 2)
    day0 = date(2026, 5, 1)
    infusion = {
        "resourceType": "Procedure",
        "id": "cart",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {
            "coding": [{"system": "http://www.cms.gov/Medicare/Coding/ICD10", "code": "XW033H7"}]
        },
        "performedDateTime": "2026-05-01T10:00:00Z",
    }
    resources: list[dict[str, Any]] = [infusion]
    for day in range(1, 11):
        when = f"{(day0 + timedelta(days=day)).isoformat()}T06:00:00Z"
        resources += [count(f"s{day}", "768-2", 0.45, when), count(f"b{day}", "763-3", 0.10, when)]
    record = map_patient(resources, patient_id="p1", tz="UTC").record
    neutropenia = assess(record, evaluation_date=day0 + timedelta(days=10)).neutropenia
    assert neutropenia is not None
    assert neutropenia.early.days_anc_le_500 == 0
    assert neutropenia.early.grade == 0
