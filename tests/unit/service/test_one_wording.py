"""The status card and the SMART assessment API say the same sentence for the same fact (issue
15: one home for each phrase). Before, the card dropped the "<" of a lower-bound CTCAE value the
app showed, worded the late grade differently and the phenotype and CAR-HEMATOTOX in its own way.

Real PatientRecords through the real `assess()`; the card through `status_card`, the API's
pieces through the functions `assessment_response` builds its body from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.assessment_api import _ctcae, _early, _hematotox, _late, _phenotype, _t_icaht
from cds_service.cards import CardInputs, status_card
from icaht import Assessment, assess
from icaht.explanations import sentence
from icaht.record import Analyte, CarTInfusion, LabValue, PatientRecord, TherapyTimeline

DAY0 = date(2026, 9, 1)
ANC = Analyte.ANC
PLT = Analyte.PLATELETS


def lab(day: int, value: float, analyte: Analyte = ANC, **kw: Any) -> LabValue:
    return LabValue(analyte, value, DAY0 + timedelta(days=day), source_id=f"{analyte}/{day}", **kw)


BASELINE = [  # CAR-HEMATOTOX items before lymphodepletion (§6.1)
    lab(-7, 150, PLT),
    lab(-7, 3000),
    lab(-7, 12.0, Analyte.HEMOGLOBIN),
    lab(-7, 5, Analyte.CRP),
    lab(-7, 100, Analyte.FERRITIN),
]
EARLY = [lab(0, 2000), *(lab(d, 300) for d in range(1, 16)), *(lab(d, 2500) for d in range(16, 31))]
COURSES = {
    "confirmed late grade": [*BASELINE, *EARLY, lab(40, 420), lab(45, 480)],
    "unconfirmed late grade": [*EARLY, lab(40, 420)],
    "transient late dip": [*EARLY, lab(40, 900), lab(45, 2000)],
    "no late value": EARLY[:20],
    "lower-bound CTCAE values and platelets": [
        *EARLY,
        *(lab(d, 30, PLT) for d in range(2, 12)),
        lab(42, 8, PLT, comparator="<"),
        lab(45, 480),
        lab(46, 100, comparator="<"),
        lab(47, 30, PLT, comparator="<"),  # grade 3 at least: the true grade may be 4
    ],
}


def assessed(labs: Iterable[LabValue], day: int) -> tuple[Assessment, str]:
    record = PatientRecord("p1", tuple(labs), TherapyTimeline(infusions=(CarTInfusion(DAY0),)))
    today = DAY0 + timedelta(days=day)
    assessment = assess(record, evaluation_date=today)
    card = status_card(CardInputs("icaht-patient-view", "p1", assessment, (), (), today))
    return assessment, card.as_json()["detail"]


@pytest.mark.parametrize("course", sorted(COURSES))
def test_the_card_says_what_the_api_says(course: str) -> None:
    assessment, detail = assessed(COURSES[course], 50)
    early, late = _early(assessment), _late(assessment)
    assert early is not None and late is not None
    texts = [sentence(early["text"]), sentence(late["text"])]
    phenotype = _phenotype(assessment)
    if phenotype is not None and phenotype["code"] is not None:
        texts.append(phenotype["text"])
    t_icaht = _t_icaht(assessment)
    if t_icaht is not None:
        texts.append(t_icaht["text"])
    hematotox = _hematotox(assessment)
    if hematotox is not None:
        texts.append(hematotox["text"])
    texts += [line["text"] for line in _ctcae(assessment) if line["grade"]]
    for text in texts:
        assert text in detail, text


def test_a_lower_bound_ctcae_value_keeps_its_less_than_sign_on_both() -> None:
    assessment, detail = assessed(COURSES["lower-bound CTCAE values and platelets"], 50)
    lines = {line["count"]: line["text"] for line in _ctcae(assessment)}
    assert lines["Platelet count decreased"] == (
        "Platelet count decreased: grade 3 (<30 x10^9/L on 2026-10-18)"
    )
    assert lines["Platelet count decreased"] in detail


def test_the_late_grade_is_one_sentence_on_both() -> None:
    assessment, detail = assessed(COURSES["confirmed late grade"], 50)
    late = _late(assessment)
    assert late is not None
    assert late["text"] == (
        "late ICAHT grade 3 (provisional) because the two lowest ANC after day 30 were "
        "420/µL (day 40) and 480/µL (day 45)"
    )
    assert f"{sentence(late['text'])}." in detail
