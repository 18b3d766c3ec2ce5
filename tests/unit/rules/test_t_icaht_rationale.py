"""Issue 19: the platelet rules M14, M15 and M19 cite the course's T-ICAHT grade (docs/clinical
§18) in their rationale when the assessment has one, and list it among the data used (as of the
evaluation date: the concern key does not move with it, docs/decisions/0007).

Real PatientRecords through the real `assess()`; the T-ICAHT result is built by hand and put on
the assessment, so these tests pin the rules' wording independently of the engine's grading.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from rules_helpers import ANC, DAY0, PLT, alert, daily, lab, on, record

from cds_service.concerns import concern_key
from icaht import assess
from icaht.record import PatientRecord, Transfusion
from icaht.rules import RuleInput, RuleSettings, RulesResult, evaluate_rules
from icaht.rules.base import t_icaht_phrase
from icaht.thrombocytopenia import TEarlyResult, ThrombocytopeniaResult, TLateResult


def t_result(
    early_grade: int | None = 4,
    late_grade: int | None = 3,
    *,
    lower_bound: bool = False,
    confirmed: bool = True,
) -> ThrombocytopeniaResult:
    early = TEarlyResult(early_grade, "final", lower_bound, 20, 15, 30, (), ())
    late = TLateResult(late_grade, confirmed, "provisional", 40, 8.0, 40, 3)
    return ThrombocytopeniaResult(early, late, None, DAY0, on(40), None, None, False)


def evaluate(
    patient: PatientRecord, day: int, result: ThrombocytopeniaResult | None
) -> RulesResult:
    assessment = replace(assess(patient, evaluation_date=on(day)), thrombocytopenia=result)
    return evaluate_rules(
        RuleInput(assessment, patient, on(day), "patient-view", (), RuleSettings())
    )


def phrase_of(result: ThrombocytopeniaResult | None) -> str | None:
    patient = record([lab(PLT, 12, 10)])
    assessment = replace(assess(patient, evaluation_date=on(12)), thrombocytopenia=result)
    return t_icaht_phrase(
        RuleInput(assessment, patient, on(12), "patient-view", (), RuleSettings())
    )


@pytest.mark.parametrize(
    ("result", "phrase"),
    [
        (t_result(), "T-ICAHT early grade 4 (final), late grade 3 (provisional)"),
        (t_result(2, None, lower_bound=True), "T-ICAHT early grade 2+ (final)"),
        (
            t_result(1, 2, confirmed=False),
            "T-ICAHT early grade 1 (final), late grade 2 (provisional, unconfirmed)",
        ),
        (
            t_result(0, 0, confirmed=False),
            "T-ICAHT early grade 0 (final), late grade 0 (provisional)",
        ),
        (t_result(None, None), None),
        (None, None),
    ],
)
def test_the_t_icaht_phrase(result: ThrombocytopeniaResult | None, phrase: str | None) -> None:
    assert phrase_of(result) == phrase


PLATELETS_10 = [lab(PLT, 12, 10)]


def test_M14_cites_the_t_icaht_grade() -> None:
    m14 = alert(evaluate(record(PLATELETS_10), 12, t_result(4, None)), "M14")
    assert m14.rationale == (
        "platelets 10 x10^9/L on day 12 <= 10 x10^9/L; T-ICAHT early grade 4 (final)."
    )
    assert ("early T-ICAHT grade", "4 (final)") in [(d.item, d.value) for d in m14.data_used]


def test_M14_without_t_icaht_keeps_its_rationale() -> None:
    m14 = alert(evaluate(record(PLATELETS_10), 12, None), "M14")
    assert m14.rationale == "platelets 10 x10^9/L on day 12 <= 10 x10^9/L."
    assert not [d for d in m14.data_used if "T-ICAHT" in d.item]


def test_the_cited_grade_does_not_move_the_concern_key() -> None:
    """The grade is as of the evaluation date (its status moves with the date on the same
    counts): the override of the card must outlive it (docs/decisions/0007)."""
    with_grade = alert(evaluate(record(PLATELETS_10), 12, t_result()), "M14")
    without = alert(evaluate(record(PLATELETS_10), 12, None), "M14")
    assert with_grade.rationale != without.rationale
    assert concern_key("icaht-patient-view", with_grade) == concern_key(
        "icaht-patient-view", without
    )


def test_M15_cites_the_late_t_icaht_grade() -> None:
    units = tuple(Transfusion(on(d), "platelets", source_id=f"Procedure/p-{d}") for d in (33, 35))
    m15 = alert(evaluate(record(transfusions=units), 35, t_result(3, 3)), "M15")
    assert m15.rationale == (
        "Day 35; 2 platelet units on days 33, 35; no TPO-RA on record; T-ICAHT early grade 3 "
        "(final), late grade 3 (provisional)."
    )
    assert m15.source_ids == ("Procedure/p-33", "Procedure/p-35")  # grades carry no source


def test_M19_cites_t_icaht_when_the_platelets_persist() -> None:
    m19 = alert(evaluate(record(daily(PLT, range(8, 22), 40)), 21, t_result(2, None)), "M19")
    assert m19.rationale.endswith("; T-ICAHT early grade 2 (final).")


def test_M19_for_neutrophils_only_does_not_cite_t_icaht() -> None:
    """A work-up for a persisting ANC <= 500/µL: the platelet grade is not its evidence."""
    patient = record([*daily(ANC, range(8, 22), 300), *daily(PLT, range(8, 22), 150)])
    m19 = alert(evaluate(patient, 21, t_result(1, None)), "M19")
    assert "ANC" in m19.rationale
    assert "T-ICAHT" not in m19.rationale
    assert not [d for d in m19.data_used if "T-ICAHT" in d.item]
