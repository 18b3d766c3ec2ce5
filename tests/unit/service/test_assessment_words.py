"""Issue 16: what the assessment API gives the SMART app to show, in words a clinician reads:
units as clinicians write them (`unitLabel`), left-out items counted by what they measured and
why (`leftOutSummary`), CTCAE lines naming their term once and saying when grade 1 cannot be
assessed, and the transfusion thresholds the chart draws as lines.
"""

from __future__ import annotations

from datetime import date, timedelta

from cds_service.assessment_api import (
    AssessmentRequest,
    assessment_response,
    left_out_summary,
)
from cds_service.validation import response_errors
from fhir_mappings.model import LeftOut
from icaht.ctcae import CtcaeGrade
from icaht.explanations import CTCAE_NO_LLN
from icaht.explanations import ctcae_text as _ctcae_text
from icaht_demo.synthetic.generator import generate_patient
from patient_evaluation import evaluate

LOINC = "http://loinc.org"
UCUM_SPELLINGS = ("10*", "/uL")


def observation(rid: str, code: str, text: str | None = None) -> dict[str, object]:
    concept: dict[str, object] = {"coding": [{"system": LOINC, "code": code}]}
    if text is not None:
        concept = {"text": text}
    return {"resourceType": "Observation", "id": rid, "code": concept}


def test_left_out_items_are_counted_in_words() -> None:
    resources = (
        observation("p1", "777-3"),  # platelets
        observation("p2", "777-3"),
        observation("h1", "718-7"),  # hemoglobin
        observation("x1", "0000-0", text="Reticulocytes"),
    )
    left_out = (
        LeftOut("Observation/p1", "unit-missing"),
        LeftOut("Observation/p2", "unit-missing"),
        LeftOut("Observation/h1", "unknown-unit"),
        LeftOut("Observation/x1", "unknown-code"),
        LeftOut("MedicationAdministration/m1", "no-time"),
        LeftOut("Observation/gone", "a-new-reason"),
    )
    texts = [item["text"] for item in left_out_summary(left_out, resources)]
    assert texts == [
        "1 Reticulocytes left out: test code not recognised",
        "1 hemoglobin left out: unit not recognised",
        "1 medication administration left out: no date or time",
        "1 observation left out: a new reason",
        "2 platelet counts left out: no unit",
    ]
    assert all("Observation/" not in text and "unit-missing" not in text for text in texts)


def test_ctcae_lines_name_the_term_once_and_say_when_grade_1_is_not_assessable() -> None:
    day = date(2026, 1, 22)
    graded = CtcaeGrade("Anemia", 2, 9.1, day, None)
    assert _ctcae_text(graded) == "Anemia: grade 2 (9.1 g/dL on 2026-01-22)"
    no_lln = CtcaeGrade("Anemia", None, 12.7269, day, None, reason="no LLN")
    assert _ctcae_text(no_lln) == (
        "Anemia: grade 1 not assessable (no lower limit of normal; 12.7 g/dL on 2026-01-22)"
    )
    assert CTCAE_NO_LLN[:-1] in _ctcae_text(no_lln)
    platelets = CtcaeGrade("Platelet count decreased", 4, 8.0, day, None, lower_bound=True)
    assert _ctcae_text(platelets) == "Platelet count decreased: grade 4 (<8 x10^9/L on 2026-01-22)"
    anc = CtcaeGrade("Neutrophil count decreased", None, 3320.4, day, None, reason="no LLN")
    assert "3320/µL" in _ctcae_text(anc)


def test_the_answer_labels_units_as_clinicians_write_them_and_gives_the_chart_lines() -> None:
    patient = generate_patient(3)
    when = patient.plan.day0 + timedelta(days=45)
    evaluation = evaluate(
        patient.resources(),
        patient_id=patient.patient_id,
        timezone="Europe/Berlin",
        evaluation_date=when,
    )
    request = AssessmentRequest(patient.patient_id, tuple(patient.resources()), when)
    body = assessment_response(request, evaluation, when)
    assert response_errors("assessment-response.json", body) == []
    labels = {key: series["unitLabel"] for key, series in body["series"].items()}
    assert labels == {"anc": "/µL", "platelets": "x10^9/L", "hemoglobin": "g/dL"}
    assert body["series"]["platelets"]["unit"] == "10*9/L"  # the machine side keeps UCUM
    thresholds = body["thresholds"]
    assert (thresholds["plateletTransfusion"], thresholds["plateletTransfusionRisk"]) == (10, 20)
    assert (
        thresholds["hemoglobinTransfusion"],
        thresholds["hemoglobinTransfusionCardiovascular"],
    ) == (7, 8)
    for line in body["ctcae"]:
        assert line["text"].count(line["count"]) == 1
        assert not any(ucum in line["text"] for ucum in UCUM_SPELLINGS), line["text"]
    assert sum(item["count"] for item in body["leftOutSummary"]) == len(body["leftOut"])
