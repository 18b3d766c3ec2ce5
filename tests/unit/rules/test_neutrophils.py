"""M02, M03, M06-M09, M16, M17, M24-M26: neutropenia rules, each firing and a near miss."""

from __future__ import annotations

from rules_helpers import (
    ANC,
    HT_HIGH,
    HT_LOW,
    STORED_CELLS,
    alert,
    daily,
    days,
    ids,
    infected,
    lab,
    needs,
    on,
    record,
    run,
)

from icaht.record import Analyte, StoredStemCells

# -- M02 prophylactic G-CSF -----------------------------------------------------------------------


def test_M02_fires_on_day_2_when_hematotox_high() -> None:
    m02 = alert(run(record(HT_HIGH), 2), "M02")
    assert "CAR-HEMATOTOX" in m02.rationale and "high risk" in m02.rationale
    assert m02.suggestions[0].order_kind == "gcsf"


def test_M02_quiet_on_day_1() -> None:
    assert "M02" not in ids(run(record(HT_HIGH), 1))


def test_M02_quiet_when_hematotox_low() -> None:
    assert "M02" not in ids(run(record(HT_LOW), 2))


def test_M02_quiet_when_gcsf_already_given() -> None:
    assert "M02" not in ids(run(record(HT_HIGH, gcsf_days=(on(2),)), 3))


def test_M02_not_evaluable_with_incomplete_baseline() -> None:
    result = run(record([lab(Analyte.PLATELETS, -7, 100)]), 2)  # 1 point, 4 items missing
    assert "CAR-HEMATOTOX" in needs(result)["M02"]


# -- M03 therapeutic G-CSF ------------------------------------------------------------------------


def test_M03_fires_at_anc_500_on_day_7() -> None:
    patient = record([lab(ANC, 5, 300), lab(ANC, 6, 180), lab(ANC, 7, 500)])
    m03 = alert(run(patient, 7), "M03")
    assert "ANC 300, 180, 500/µL on days 5-7" in m03.rationale
    assert "Observation/anc-7-500" in m03.source_ids


def test_M03_quiet_at_anc_510_on_day_7() -> None:
    assert "M03" not in ids(run(record([lab(ANC, 7, 510)]), 7))


def test_M03_quiet_at_anc_500_on_day_6() -> None:
    assert "M03" not in ids(run(record([lab(ANC, 6, 500)]), 6))


def test_M03_fires_on_day_6_with_active_infection() -> None:
    m03 = alert(run(record([lab(ANC, 6, 500)], infections=infected(5)), 6), "M03")
    assert "active infection: sepsis since day 5" in m03.rationale


def test_M03_quiet_while_gcsf_is_given() -> None:
    assert "M03" not in ids(run(record([lab(ANC, 8, 200)], gcsf_days=(on(7),)), 8))


def test_M03_not_evaluable_without_a_current_anc() -> None:
    result = run(record([lab(ANC, 5, 300)]), 9)
    assert "M03" not in ids(result)
    assert "current ANC" in needs(result)["M03"]


# -- M06 late biphasic neutropenia ----------------------------------------------------------------

BIPHASIC = [lab(ANC, 2, 300), lab(ANC, 20, 2000)]


def test_M06_fires_at_anc_700_after_recovery() -> None:
    m06 = alert(run(record([*BIPHASIC, lab(ANC, 40, 700)]), 40), "M06")
    assert "ANC 300/µL on day 2" in m06.rationale and "2000/µL on day 20" in m06.rationale


def test_M06_quiet_at_anc_750() -> None:
    assert "M06" not in ids(run(record([*BIPHASIC, lab(ANC, 40, 750)]), 40))


def test_M06_quiet_without_a_recovery_above_1500() -> None:
    values = [lab(ANC, 2, 300), lab(ANC, 20, 1500), lab(ANC, 40, 700)]
    assert "M06" not in ids(run(record(values), 40))


def test_M06_and_M03_on_the_same_neutropenia_give_one_card() -> None:
    result = run(record([*BIPHASIC, lab(ANC, 40, 400)]), 40)
    assert "M06" in ids(result) and "M03" not in ids(result)
    assert "M03" in result.suppressed


# -- M07 G-CSF non-response -----------------------------------------------------------------------

NEUTROPENIC_1_20 = daily(ANC, range(1, 21), 200)


def test_M07_fires_after_7_days_of_gcsf() -> None:
    patient = record(NEUTROPENIC_1_20[:15], gcsf_days=tuple(days(8, 14)))
    m07 = alert(run(patient, 15), "M07")
    assert "G-CSF on days 8-14 (7 consecutive days)" in m07.rationale
    assert m07.suggestions[0].order_kind == "marrow_biopsy"
    assert "M03" not in ids(run(patient, 15))


def test_M07_quiet_after_6_days_of_gcsf() -> None:
    patient = record(NEUTROPENIC_1_20[:15], gcsf_days=tuple(days(9, 14)))
    assert "M07" not in ids(run(patient, 15))


def test_M07_quiet_when_anc_recovered_to_510() -> None:
    values = [*NEUTROPENIC_1_20[:14], lab(ANC, 15, 510)]
    assert "M07" not in ids(run(record(values, gcsf_days=tuple(days(8, 14))), 15))


# -- M08 antibacterial prophylaxis ----------------------------------------------------------------


def test_M08_fires_at_anc_500_when_hematotox_high() -> None:
    m08 = alert(run(record([*HT_HIGH, lab(ANC, 3, 500)]), 3), "M08")
    assert "levofloxacin" in m08.recommendation


def test_M08_quiet_at_anc_510() -> None:
    assert "M08" not in ids(run(record([*HT_HIGH, lab(ANC, 3, 510)]), 3))


def test_M08_quiet_when_hematotox_low() -> None:
    assert "M08" not in ids(run(record([*HT_LOW, lab(ANC, 3, 100)]), 3))


# -- M09 antifungal prophylaxis -------------------------------------------------------------------


def test_M09_fires_with_prior_allo_hct() -> None:
    m09 = alert(run(record([lab(ANC, 3, 400)], prior_allo_hct=True), 3), "M09")
    assert "prior allo-HCT" in m09.rationale


def test_M09_fires_on_early_grade_3() -> None:
    result = run(record([lab(ANC, 0, 2000), *daily(ANC, range(1, 15), 300)]), 14)  # 14 days
    assert "early ICAHT grade 3" in alert(result, "M09").rationale


def test_M09_quiet_on_early_grade_2() -> None:
    result = run(record([lab(ANC, 0, 2000), *daily(ANC, range(1, 14), 300)]), 13)  # 13 days
    assert "M09" not in ids(result)
    # corticosteroids are read from the record now (issue 14): only the history is asked for
    assert "prior allo-HCT" in needs(result)["M09"]
    assert "corticosteroid" not in needs(result)["M09"]


def test_M09_history_fires_whatever_the_anc() -> None:
    # §17 C16: prior allo-HCT or prior mould infection, day 0..+100, whatever the ANC
    m09 = alert(run(record([lab(ANC, 3, 510)], prior_allo_hct=True), 3), "M09")
    assert "ANC" not in m09.summary and "prior allo-HCT" in m09.summary
    mould = run(record([lab(ANC, 50, 4000)], prior_invasive_mould_infection=True), 50)
    assert "prior invasive mould infection" in alert(mould, "M09").rationale


def test_M09_history_arm_runs_from_day_0_to_day_100() -> None:
    for day, fires in ((-1, False), (0, True), (100, True), (101, False)):
        result = run(record([lab(ANC, day, 3000)], prior_allo_hct=True), day)
        assert ("M09" in ids(result)) is fires, day


def test_M09_grade_3_arm_still_needs_anc_500() -> None:
    # early grade 3 with the current ANC 501: no prophylaxis card from the grade alone
    values = [lab(ANC, 0, 2000), *daily(ANC, range(1, 15), 300), lab(ANC, 15, 501)]
    assert "M09" not in ids(run(record(values), 15))


# -- M16 stem-cell boost, M17 donor search --------------------------------------------------------


def _refractory(last_day: int, **timeline: object):  # type: ignore[no-untyped-def]
    values = daily(ANC, range(1, last_day + 1), 200)
    return record(values, gcsf_days=tuple(days(7, last_day)), **timeline)


def test_M16_fires_on_day_15_refractory_grade_3_with_stored_cells() -> None:
    result = run(_refractory(15, stored_stem_cells=STORED_CELLS), 15)
    m16 = alert(result, "M16")
    assert "early ICAHT grade 3" in m16.rationale
    assert "BiologicallyDerivedProduct/cd34" in m16.rationale  # names the product
    assert "BiologicallyDerivedProduct/cd34" in m16.source_ids
    assert "M07" not in ids(result) and "M07" in result.suppressed


def test_M16_quiet_on_day_14() -> None:
    result = run(_refractory(14, stored_stem_cells=STORED_CELLS), 14)
    assert "M16" not in ids(result) and "M07" in ids(result)


def test_M16_quiet_without_stored_cells_on_record_and_M07_says_so() -> None:
    result = run(_refractory(15), 15)
    assert "M16" not in ids(result) and "M16" not in needs(result)
    assert "No stored stem cells on record" in alert(result, "M07").recommendation


def test_M16_quiet_when_the_stored_product_is_no_longer_available() -> None:
    used_up = (StoredStemCells(False, on(-60), "BiologicallyDerivedProduct/cd34"),)
    assert "M16" not in ids(run(_refractory(15, stored_stem_cells=used_up), 15))


def _grade4_then(late: dict[int, float], **timeline: object):  # type: ignore[no-untyped-def]
    values = daily(ANC, range(0, 31), 50) + [lab(ANC, d, v) for d, v in late.items()]
    return record(values, **timeline)


def test_M17_fires_for_grade_4_persisting_beyond_day_30_without_stored_cells() -> None:
    patient = _grade4_then({33: 300, 35: 200}, stored_stem_cells=())
    m17 = alert(run(patient, 35), "M17")
    assert "early ICAHT grade 4" in m17.rationale and "ANC 200/µL on day 35" in m17.rationale
    assert "no stored (cryopreserved) stem cells on record: check" in m17.rationale


def test_M17_quiet_after_an_anc_above_500_after_day_30() -> None:
    patient = _grade4_then({33: 600, 35: 200})
    assert "M17" not in ids(run(patient, 35))


def test_M17_quiet_on_day_30() -> None:
    assert "M17" not in ids(run(_grade4_then({}), 30))


def test_M17_quiet_with_stored_cells_on_record() -> None:
    result = run(_grade4_then({33: 300, 35: 200}, stored_stem_cells=STORED_CELLS), 35)
    assert "M17" not in ids(result) and "M17" not in needs(result)


# -- M24 pre-infusion high risk -------------------------------------------------------------------


def test_M24_fires_before_infusion_when_hematotox_high() -> None:
    assert alert(run(record(HT_HIGH), -3), "M24").severity == "info"


def test_M24_quiet_on_day_0() -> None:
    assert "M24" not in ids(run(record(HT_HIGH), 0))


def test_M24_quiet_when_hematotox_low() -> None:
    assert "M24" not in ids(run(record(HT_LOW), -3))


# -- M25 low-dose steroids (B-ALL), M26 high-dose IVIG --------------------------------------------


def _late_refractory(anc: float, **timeline: object):  # type: ignore[no-untyped-def]
    values = [lab(ANC, 20, 2000), *daily(ANC, range(31, 36), anc)]
    return record(values, gcsf_days=tuple(days(29, 35)), **timeline)


def test_M25_fires_for_b_all_refractory_after_day_30() -> None:
    m25 = alert(run(_late_refractory(300, disease="B-ALL"), 35), "M25")
    assert m25.severity == "info" and "prednisone" in m25.recommendation


def test_M25_quiet_for_lbcl() -> None:
    assert "M25" not in ids(run(_late_refractory(300, disease="LBCL"), 35))


def test_M25_not_evaluable_without_disease() -> None:
    assert "B-ALL" in needs(run(_late_refractory(300), 35))["M25"]


def test_M26_fires_for_late_grade_3_refractory() -> None:
    m26 = alert(run(_late_refractory(300), 35), "M26")
    assert "late ICAHT grade 3" in m26.rationale and "2 g/kg" in m26.recommendation


def test_M26_quiet_for_a_single_unconfirmed_late_value() -> None:
    patient = record([lab(ANC, 20, 2000), lab(ANC, 35, 300)], gcsf_days=tuple(days(29, 35)))
    result = run(patient, 35)
    assert "M26" not in ids(result) and "M07" in ids(result)
