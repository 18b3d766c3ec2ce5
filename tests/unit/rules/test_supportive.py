"""M04, M05, M10-M12, M18-M21, M23: supportive-care rules, each firing and a near miss."""

from __future__ import annotations

from rules_helpers import (
    ANC,
    HB,
    PLT,
    alert,
    daily,
    ids,
    infected,
    lab,
    needs,
    on,
    order,
    record,
    run,
)

from icaht.record import Analyte, CarTInfusion, CrsPeriod, Period

GCSF = order("gcsf", "MedicationRequest/gcsf", product="filgrastim", display="Filgrastim")
GMCSF = order("gmcsf", "MedicationRequest/gm", product="sargramostim", display="Sargramostim")
COTRIMOXAZOLE = order(
    "myelosuppressive_drug", "MedicationRequest/tmp", product="co-trimoxazole", display="Bactrim"
)
VALGANCICLOVIR = order(
    "myelosuppressive_drug", "MedicationRequest/vgc", product="valganciclovir", display="Valcyte"
)
ENOXAPARIN = order("anticoagulant", "MedicationRequest/enox", product="enoxaparin")
GRADE3_ANC = [lab(ANC, 0, 2000), *daily(ANC, range(1, 16), 300)]  # 15 days <= 500 on day 15
GRADE2_ANC = [lab(ANC, 0, 2000), *daily(ANC, range(1, 14), 300)]  # 13 days on day 13


# -- M04 G-CSF during CRS -------------------------------------------------------------------------


def test_M04_fires_for_gcsf_order_during_active_crs() -> None:
    patient = record(crs_periods=(CrsPeriod(on(3), None, "Condition/crs", 2),))
    m04 = alert(run(patient, 5, "order-select", [GCSF]), "M04")
    assert "CRS active since day 3 (grade 2)" in m04.rationale
    assert set(m04.source_ids) == {"Condition/crs", "MedicationRequest/gcsf"}


def test_M04_quiet_after_crs_resolved() -> None:
    patient = record(crs_periods=(CrsPeriod(on(3), on(4)),))
    assert "M04" not in ids(run(patient, 5, "order-sign", [GCSF]))


def test_M04_quiet_with_infection_and_severe_neutropenia() -> None:
    patient = record([lab(ANC, 5, 400)], crs_periods=(CrsPeriod(on(3)),), infections=infected(4))
    assert "M04" not in ids(run(patient, 5, "order-select", [GCSF]))


def test_M04_quiet_for_an_open_crs_record_older_than_21_days() -> None:
    patient = record(crs_periods=(CrsPeriod(on(3), None, "Condition/crs", 2),))
    assert "M04" in ids(run(patient, 24, "order-select", [GCSF]))  # 21 days old
    assert "M04" not in ids(run(patient, 25, "order-select", [GCSF]))  # 22 days old


def test_gcsf_cards_remind_of_crs_only_while_it_is_active() -> None:
    # the M04 reminder on a G-CSF recommendation (M03) reads the same active-CRS helper
    severe = [lab(ANC, 0, 2000), *daily(ANC, range(1, 26), 300)]
    patient = record(severe, crs_periods=(CrsPeriod(on(3), None, "Condition/crs", 2),))
    assert "CRS is active" in alert(run(patient, 24), "M03").recommendation  # 21 days old
    assert "CRS is active" not in alert(run(patient, 25), "M03").recommendation  # 22 days old


def test_M04_not_evaluable_without_crs_record() -> None:
    assert "CRS status" in needs(run(record(), 5, "order-select", [GCSF]))["M04"]


# -- M05 GM-CSF -----------------------------------------------------------------------------------


def test_M05_fires_for_gmcsf_after_infusion() -> None:
    m05 = alert(run(record(), 5, "order-select", [GMCSF]), "M05")
    assert m05.suggestions[0].action == "remove"
    assert m05.suggestions[0].replaces == "MedicationRequest/gm"


def test_M05_quiet_before_infusion() -> None:
    assert "M05" not in ids(run(record(), -1, "order-select", [GMCSF]))


def test_M05_quiet_for_gcsf_order() -> None:
    assert ids(run(record(), 5, "order-select", [GCSF])) == []


# -- M10 antiviral, M11 PJP -----------------------------------------------------------------------


def test_M10_fires_without_antiviral_prophylaxis_on_record() -> None:
    m10 = alert(run(record(lymphodepletion_start=on(-5), supportive_drugs=()), 10), "M10")
    assert m10.severity == "warning" and "HSV/VZV" in m10.summary
    assert "lymphodepletion on day -5" in m10.rationale
    assert "M10" not in needs(run(record(supportive_drugs=()), 10))


def test_M11_fires_for_cotrimoxazole_order_during_grade_3() -> None:
    m11 = alert(run(record(GRADE3_ANC), 15, "order-select", [COTRIMOXAZOLE]), "M11")
    assert "pentamidine" in m11.recommendation and "atovaquone" in m11.recommendation
    assert "early ICAHT grade 3" in m11.summary


def test_M11_quiet_for_cotrimoxazole_order_during_grade_2() -> None:
    assert "M11" not in ids(run(record(GRADE2_ANC), 13, "order-select", [COTRIMOXAZOLE]))


def test_M11_quiet_after_recovery_from_grade_3() -> None:
    patient = record([*GRADE3_ANC, lab(ANC, 16, 900)])
    assert "M11" not in ids(run(patient, 16, "order-sign", [COTRIMOXAZOLE]))


def test_M11_patient_view_fires_from_day_28_without_pjp_prophylaxis() -> None:
    assert "M11" in ids(run(record(supportive_drugs=()), 28))
    assert "M11" not in ids(run(record(supportive_drugs=()), 27))
    assert "M11" not in needs(run(record(supportive_drugs=()), 27))


# -- M12 IVIG -------------------------------------------------------------------------------------


def test_M12_fires_at_igg_390_with_infection() -> None:
    m12 = alert(run(record([lab(Analyte.IGG, 60, 390)], infections=infected(85)), 90), "M12")
    assert m12.severity == "warning" and "IVIG" in m12.summary
    assert "active infection: sepsis since day 85" in m12.rationale


def test_M12_quiet_at_igg_400_with_infection() -> None:
    assert "M12" not in ids(run(record([lab(Analyte.IGG, 60, 400)], infections=infected(85)), 90))


def test_M12_info_without_infection() -> None:
    m12 = alert(run(record([lab(Analyte.IGG, 60, 390)], infections=()), 90), "M12")
    assert m12.severity == "info"


def test_M12_not_evaluable_without_infection_status() -> None:
    result = run(record([lab(Analyte.IGG, 60, 390)]), 90)
    assert "M12" not in ids(result)
    assert "infection status" in needs(result)["M12"]  # infections None: really unknown


# -- M18 marrow, M19 work-up ----------------------------------------------------------------------


def test_M18_fires_on_day_31_for_grade_3_still_neutropenic() -> None:
    values = [lab(ANC, 0, 2000), *daily(ANC, range(1, 32), 300)]
    result = run(record(values), 31)
    m18 = alert(result, "M18")
    assert m18.suggestions[0].order_kind == "marrow_biopsy"
    assert "M19" not in ids(result)  # the marrow card includes the work-up (one concern)


def test_M18_quiet_on_day_30() -> None:
    values = [lab(ANC, 0, 2000), *daily(ANC, range(1, 31), 300)]
    result = run(record(values), 30)
    assert "M18" not in ids(result) and "M19" in ids(result)


def test_M18_fires_for_two_lineages_persisting_beyond_day_30() -> None:
    values = [*daily(PLT, range(10, 32), 30), *daily(HB, range(10, 32), 7.5)]
    m18 = alert(run(record(values, cardiovascular_disease=False), 31), "M18")
    assert "multilineage" in m18.rationale


def test_M18_quiet_for_one_lineage_beyond_day_30() -> None:
    result = run(record(daily(PLT, range(10, 32), 30)), 31)
    assert "M18" not in ids(result) and "M19" in ids(result)


def test_M19_fires_for_platelets_below_50_for_14_days() -> None:
    m19 = alert(run(record(daily(PLT, range(8, 22), 40)), 21), "M19")
    assert "14 days" in m19.summary and "parvovirus B19" in m19.recommendation


def test_M19_quiet_on_day_20_with_14_days_below_50() -> None:
    # §17 C16: the work-up is due from day 21 ("beyond the expected 2-3 weeks")
    assert "M19" not in ids(run(record(daily(PLT, range(7, 21), 40)), 20))
    assert "M19" in ids(run(record(daily(PLT, range(7, 22), 40)), 21))


def test_M19_quiet_for_13_days() -> None:
    assert "M19" not in ids(run(record(daily(PLT, range(9, 22), 40)), 21))


def test_M19_quiet_at_platelets_50() -> None:
    assert "M19" not in ids(run(record(daily(PLT, range(8, 22), 50)), 21))


def test_M19_gap_over_7_days_breaks_persistence() -> None:
    values = [lab(PLT, 8, 40), lab(PLT, 16, 40), lab(PLT, 21, 40)]
    assert "M19" not in ids(run(record(values), 21))  # 8-day gap: run starts on day 16


def test_M19_fires_for_myelosuppressive_order_during_grade_3() -> None:
    m19 = alert(run(record(GRADE3_ANC), 15, "order-select", [VALGANCICLOVIR]), "M19")
    assert "no specific alternative" in m19.recommendation
    assert "M11" not in ids(run(record(GRADE3_ANC), 15, "order-select", [VALGANCICLOVIR]))


def test_M19_quiet_for_myelosuppressive_order_during_grade_2() -> None:
    assert "M19" not in ids(run(record(GRADE2_ANC), 13, "order-select", [VALGANCICLOVIR]))


# -- M20 coagulopathy, M21 anticoagulation --------------------------------------------------------

SEVERE_CRS = {"crs_periods": (CrsPeriod(on(5), None, "Condition/crs3", 3),)}


def test_M20_fires_at_fibrinogen_99_in_grade_3_crs() -> None:
    m20 = alert(run(record([lab(Analyte.FIBRINOGEN, 8, 99)], **SEVERE_CRS), 8), "M20")
    assert m20.severity == "critical" and "consider cryoprecipitate" in m20.summary
    assert m20.recommendation.startswith("Consider cryoprecipitate")


def test_M20_quiet_at_fibrinogen_100() -> None:
    assert "M20" not in ids(run(record([lab(Analyte.FIBRINOGEN, 8, 100)], **SEVERE_CRS), 8))


def test_M20_quiet_in_grade_2_crs() -> None:
    patient = record([lab(Analyte.FIBRINOGEN, 8, 80)], crs_periods=(CrsPeriod(on(5), grade=2),))
    assert "M20" not in ids(run(patient, 8))


def test_M20_open_crs_record_counts_until_21_days_old() -> None:
    patient = record([lab(Analyte.FIBRINOGEN, d, 80) for d in (26, 27)], **SEVERE_CRS)
    assert "M20" in ids(run(patient, 26))  # opened on day 5: 21 days old
    assert "M20" not in ids(run(patient, 27))  # 22 days old: not active


def test_M20_uses_the_grade_of_the_current_course_not_the_highest_ever() -> None:
    earlier_course = CarTInfusion(on(-200))
    crs = (CrsPeriod(on(-198), on(-190), "Condition/crs-old", 4), CrsPeriod(on(5), None, grade=1))
    patient = record(
        [lab(Analyte.FIBRINOGEN, 8, 80)],
        infusions=(earlier_course, CarTInfusion(on(0))),
        crs_periods=crs,
    )
    assert "M20" not in ids(run(patient, 8))
    severe_now = (crs[0], CrsPeriod(on(5), None, grade=3))
    patient = record(
        [lab(Analyte.FIBRINOGEN, 8, 80)],
        infusions=(earlier_course, CarTInfusion(on(0))),
        crs_periods=severe_now,
    )
    assert "grade 3 CRS" in alert(run(patient, 8), "M20").summary


def test_M20_uses_the_grade_active_today_after_a_downgrade() -> None:
    crs = (CrsPeriod(on(5), on(7), grade=3), CrsPeriod(on(8), None, grade=1))
    assert "M20" not in ids(run(record([lab(Analyte.FIBRINOGEN, 8, 80)], crs_periods=crs), 8))


def test_M20_quiet_when_crs_ended_yesterday() -> None:
    ended = {"crs_periods": (CrsPeriod(on(5), on(7), "Condition/crs3", 3),)}
    assert "M20" in ids(run(record([lab(Analyte.FIBRINOGEN, 7, 80)], **ended), 7))
    assert "M20" not in ids(run(record([lab(Analyte.FIBRINOGEN, 8, 80)], **ended), 8))


def test_M20_not_evaluable_without_crs_data() -> None:
    assert "CRS" in needs(run(record([lab(Analyte.FIBRINOGEN, 8, 80)]), 8))["M20"]


def test_M20_not_evaluable_when_the_active_crs_has_no_grade() -> None:
    patient = record([lab(Analyte.FIBRINOGEN, 8, 80)], crs_periods=(CrsPeriod(on(5)),))
    assert needs(run(patient, 8))["M20"] == (
        "M20 needs the grade of the active CRS (fibrinogen < 100 mg/dL)"
    )


ANTICOAGULATED = {"anticoagulant_periods": (Period(on(1), None, "MedicationRequest/apix"),)}


def test_M21_fires_at_platelets_49_with_active_anticoagulant() -> None:
    m21 = alert(run(record([lab(PLT, 8, 49)], **ANTICOAGULATED), 8), "M21")
    assert "MedicationRequest/apix" in m21.source_ids


def test_M21_quiet_at_platelets_50_with_active_anticoagulant() -> None:
    assert "M21" not in ids(run(record([lab(PLT, 8, 50)], **ANTICOAGULATED), 8))


def test_M21_fires_for_anticoagulant_order_at_platelets_49() -> None:
    assert "M21" in ids(run(record([lab(PLT, 8, 49)]), 8, "order-sign", [ENOXAPARIN]))


def test_M21_quiet_for_anticoagulant_order_at_platelets_50() -> None:
    assert ids(run(record([lab(PLT, 8, 50)]), 8, "order-sign", [ENOXAPARIN])) == []


def test_M21_not_evaluable_without_a_current_platelet_count() -> None:
    result = run(record(), 8, "order-sign", [ENOXAPARIN])
    assert "platelet" in needs(result)["M21"]


# -- M23 IEC-HS (docs/clinical §17 C13) ----------------------------------------------------------

RESOLVED_CRS = {"crs_periods": (CrsPeriod(on(1), on(5), "Condition/crs", 2),)}


def _iec_hs(ferritin: float) -> list:  # type: ignore[type-arg]
    """CRS resolved on day 5, ferritin 1500 on day 8 then `ferritin` on day 10, platelets
    recovered above 20 then 15 x10^9/L on day 10 (a new cytopenia)."""
    return [
        lab(Analyte.FERRITIN, 0, 5000),
        lab(Analyte.FERRITIN, 8, 1500),
        lab(Analyte.FERRITIN, 10, ferritin),
        lab(PLT, 9, 60),
        lab(PLT, 10, 15),
    ]


def test_M23_is_a_warning_for_ferritin_doubling_after_crs_with_new_cytopenia() -> None:
    m23 = alert(run(record(_iec_hs(3000), **RESOLVED_CRS), 10), "M23")
    assert m23.severity == "warning"
    assert m23.summary == "Possible IEC-HS: evaluate"
    assert "Ferritin 3000 ng/mL on day 10" in m23.rationale
    assert "new cytopenia: platelets < 20 x10^9/L on day 10" in m23.rationale
    # treatment only once the criteria are confirmed
    recommendation = m23.recommendation
    assert recommendation.startswith("Consider evaluating against the ASTCT IEC-HS criteria")
    confirmed = recommendation.index("If the ASTCT criteria are confirmed, consider anakinra")
    assert recommendation.index("anakinra") > confirmed


def test_M23_quiet_for_ferritin_rising_1_9_fold() -> None:
    assert "M23" not in ids(run(record(_iec_hs(2850), **RESOLVED_CRS), 10))


def test_M23_quiet_while_crs_is_active() -> None:
    active = {"crs_periods": (CrsPeriod(on(1), None, "Condition/crs", 2),)}
    assert "M23" not in ids(run(record(_iec_hs(3000), **active), 10))


def test_M23_quiet_for_ferritin_above_twice_uln_for_weeks() -> None:
    # the ordinary course that made the old screen fire: high after CRS, a biphasic dip later
    labs = [
        lab(Analyte.FERRITIN, 0, 600),
        *(lab(Analyte.FERRITIN, d, 4000 - 100 * d, reference_high=400.0) for d in (3, 7, 14, 21)),
        lab(ANC, 7, 1200),
        lab(ANC, 21, 400),
    ]
    assert "M23" not in ids(run(record(labs, **RESOLVED_CRS), 21))


def test_M23_quiet_when_the_findings_are_4_days_old() -> None:
    assert "M23" in ids(run(record(_iec_hs(3000), **RESOLVED_CRS), 13))
    assert "M23" not in ids(run(record(_iec_hs(3000), **RESOLVED_CRS), 14))


def test_M23_needs_the_uln_of_transaminases_in_plain_words() -> None:
    # ferritin > 10,000 ng/mL since day 10 (4000 the day before), CRS over since day 5
    rising = [lab(Analyte.FERRITIN, d, v) for d, v in ((0, 5000), (9, 4000), (10, 10_001))]
    transaminases = [lab(Analyte.ALT, d, 40) for d in range(1, 11)]
    note = needs(run(record([*rising, *transaminases], **RESOLVED_CRS), 10))["M23"]
    assert note == "M23 needs the upper limit of normal of ALT/AST results"


def test_M23_needs_nothing_when_no_ferritin_rise_could_open_the_screen() -> None:
    transaminases = [lab(Analyte.ALT, d, 40) for d in range(1, 11)]
    result = run(record([lab(Analyte.FERRITIN, 0, 500), *transaminases], **RESOLVED_CRS), 10)
    assert "M23" not in needs(result)
