"""evaluate_rules: ordering, one card per concern, not-evaluable data, quiet charts,
determinism, and the catalogue."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from rules_helpers import (
    ANC,
    HB,
    HT_HIGH,
    HT_LOW,
    PLT,
    STORED_CELLS,
    daily,
    days,
    ids,
    lab,
    needs,
    on,
    order,
    record,
    run,
)

from icaht import assess
from icaht.record import PatientRecord, Transfusion
from icaht.rules import (
    EVALUATORS,
    RULES,
    RuleInput,
    RuleSettings,
    evaluate_rules,
    format_catalogue,
)
from icaht.rules.model import SEVERITY_RANK


def test_catalogue_has_m01_to_m26_each_with_an_evaluator() -> None:
    assert [r.id for r in RULES] == [f"M{i:02d}" for i in range(1, 27)]
    assert set(EVALUATORS) == {r.id for r in RULES}
    for rule in RULES:
        assert rule.hooks and rule.source and rule.evidence_level and rule.needs
        assert set(rule.evidence_level) <= {"EO", "RS", "EXT", "LOW"}
        assert all(sub in EVALUATORS for sub in rule.subsumes)


def test_format_catalogue_lists_every_rule_as_plain_text() -> None:
    text = format_catalogue()
    for rule in RULES:
        assert re.search(rf"^{rule.id}\s+{rule.severity}\s", text, re.MULTILINE)
    assert "doi:10.1182/blood.2023020578" in text
    assert text.isascii()


def test_grade_0_patient_without_other_triggers_gets_no_alert() -> None:
    labs = [
        *HT_LOW,
        *daily(ANC, range(0, 11), 3000),
        *daily(PLT, range(0, 11), 200),
        *daily(HB, range(0, 11), 12.0),
    ]
    result = run(record(labs, crs_periods=()), 10)
    assert result.alerts == ()


def test_alerts_are_ordered_critical_then_warning_then_info_then_id() -> None:
    labs = [*HT_HIGH, lab(PLT, 35, 5), lab(HB, 35, 6.5), lab(ANC, 35, 3000)]
    transfusions = tuple(Transfusion(on(d), "rbc") for d in range(20, 35))
    result = run(
        record(labs, transfusions=transfusions),
        35,
        settings=RuleSettings(iron_overload_rbc_units=10),
    )
    assert ids(result) == ["M14", "M13", "M22"]
    ranks = [(SEVERITY_RANK[a.severity], a.rule_id) for a in result.alerts]
    assert ranks == sorted(ranks)


def test_no_duplicate_concern_for_refractory_neutropenia() -> None:
    values = daily(ANC, range(1, 32), 200)
    patient = record(
        [*HT_HIGH, *values],
        gcsf_days=tuple(days(2, 31)),
        stored_stem_cells=STORED_CELLS,
    )
    result = run(patient, 31)
    fired = ids(result)
    assert "M16" in fired
    assert not {"M02", "M03", "M06", "M07", "M18", "M19"} & set(fired)
    assert len(fired) == len(set(fired))
    assert {"M07", "M18"} <= set(result.suppressed)


def test_not_evaluable_lists_what_is_missing_and_those_rules_do_not_fire() -> None:
    result = run(record([lab(HB, 35, 7.5), lab(PLT, 35, 15)]), 35)
    missing = needs(result)
    assert missing["M15"] == "M15 needs transfusion records"
    assert "cardiovascular" in missing["M13"]
    assert "fever" in missing["M14"]
    assert not set(missing) & set(ids(result))


def test_order_hooks_only_evaluate_order_rules() -> None:
    patient = record([lab(PLT, 10, 5), lab(HB, 10, 6.0)])
    assert ids(run(patient, 10, "order-select", [order("other", display="CT scan")])) == []
    assert ids(run(patient, 10)) == ["M14", "M13"]


def test_same_input_same_output() -> None:
    patient = record(
        [*HT_HIGH, *daily(ANC, range(1, 16), 200), lab(PLT, 15, 8)],
        gcsf_days=tuple(days(8, 15)),
    )
    assert run(patient, 15) == run(patient, 15)
    assert run(patient, 15, "order-sign", [order("blood_product", product="rbc")]) == run(
        patient, 15, "order-sign", [order("blood_product", product="rbc")]
    )


def test_no_infusion_on_record_gives_nothing() -> None:
    patient = PatientRecord("p", (lab(PLT, 10, 5),))
    today = on(10)
    result = evaluate_rules(
        RuleInput(assess(patient, evaluation_date=today), patient, today, "patient-view")
    )
    assert result.alerts == () and result.not_evaluable == ()


def test_no_alerts_after_death() -> None:
    assert ids(run(record([lab(PLT, 10, 5)], death_day=on(10)), 10)) == []


def test_assessment_for_another_evaluation_date_is_refused() -> None:
    patient = record([lab(PLT, 10, 5)])
    assessment = assess(patient, evaluation_date=on(9))
    with pytest.raises(ValueError, match="same evaluation date"):
        evaluate_rules(RuleInput(assessment, patient, on(10), "patient-view"))
    with pytest.raises(ValueError, match="different patients"):
        other = replace(assessment, patient_id="someone-else", evaluation_date=on(10))
        evaluate_rules(RuleInput(other, patient, on(10), "patient-view"))


def test_every_alert_carries_source_level_and_audit_data() -> None:
    patient = record([*HT_HIGH, lab(ANC, 9, 300), lab(ANC, 10, 180), lab(ANC, 11, 90)])
    result = run(patient, 11)
    assert ids(result) == ["M03", "M08"]
    m03 = result.alerts[0]
    assert "ANC 300, 180, 90/µL on days 9-11" in m03.rationale
    assert m03.source_ids == (
        "Observation/anc-9-300",
        "Observation/anc-10-180",
        "Observation/anc-11-90",
    )
    for alert in result.alerts:
        assert alert.source.startswith("Rejeski") and alert.evidence_level
        assert alert.recommendation and alert.rationale
