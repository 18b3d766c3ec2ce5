"""Issue 14: every management rule fires from the record's new inputs (infections, fever,
bleeding, supportive drugs, stored stem cells, the planned course), each in and out at its
boundary (docs/decisions/0022)."""

from __future__ import annotations

from datetime import date

import pytest
from rules_helpers import (
    ANC,
    HT_HIGH,
    HT_LOW,
    PLT,
    STANDARD_PROPHYLAXIS,
    alert,
    bleeding,
    ids,
    infected,
    lab,
    needs,
    on,
    order,
    record,
    run,
)

from icaht.record import (
    Analyte,
    CarTInfusion,
    CoursePreparation,
    CrsPeriod,
    DrugCourse,
    Infection,
    PlannedInfusion,
    SupportiveGroup,
    Transfusion,
)
from icaht.rules import RULES, RULES_BY_ID, format_catalogue
from icaht_cli.main import main

NO_HISTORY = {"prior_allo_hct": False, "prior_invasive_mould_infection": False}


def given(day: int, group: SupportiveGroup, name: str) -> DrugCourse:
    """One dose given (a MedicationAdministration) on a study day."""
    return DrugCourse(on(day), on(day), f"MedicationAdministration/{name}-{day}", group, name)


def ordered(first: int, group: SupportiveGroup, name: str, last: int | None = None) -> DrugCourse:
    end: date | None = None if last is None else on(last)
    return DrugCourse(on(first), end, f"MedicationRequest/{name}", group, name, "ordered")


def culture(day: int) -> tuple[Infection]:
    return (Infection(on(day), on(day), f"Observation/bc-{day}", "positive_blood_culture"),)


# -- M03: the infection branch (any day >= 0) -----------------------------------------------------


def test_M03_day_5_fires_with_a_positive_culture_3_days_ago_not_4() -> None:
    anc = [lab(ANC, 5, 300)]
    assert "M03" in ids(run(record(anc, infections=culture(2)), 5))
    assert "M03" not in ids(run(record(anc, infections=culture(1)), 5))


def test_M03_day_5_quiet_with_an_infection_from_before_the_course() -> None:
    patient = record([lab(ANC, 5, 300)], lymphodepletion_start=on(-5), infections=infected(-6))
    assert "M03" not in ids(run(patient, 5))


def test_M03_open_infection_counts_28_days_not_29() -> None:
    # day 5 is before M03's day-7 branch; the infection from day -23 (LD on day -30)
    patient = record([lab(ANC, 5, 300)], lymphodepletion_start=on(-30), infections=infected(-23))
    assert "M03" in ids(run(patient, 5))  # 28 days after onset
    late = record([lab(ANC, 5, 300)], lymphodepletion_start=on(-30), infections=infected(-24))
    assert "M03" not in ids(run(late, 5))  # 29 days: an unclosed record


# -- M04: G-CSF in CRS, unless infection with neutropenia ----------------------------------------


def test_M04_quiet_with_a_positive_culture_and_severe_neutropenia() -> None:
    gcsf = order("gcsf", "MedicationRequest/gcsf", product="filgrastim")
    crs = (CrsPeriod(on(3), None, "Condition/crs", 2),)
    with_culture = record([lab(ANC, 5, 400)], crs_periods=crs, infections=culture(4))
    assert "M04" not in ids(run(with_culture, 5, "order-select", [gcsf]))
    no_infection = record([lab(ANC, 5, 400)], crs_periods=crs, infections=())
    assert "M04" in ids(run(no_infection, 5, "order-select", [gcsf]))


# -- M08: quiet on antibacterial prophylaxis -----------------------------------------------------


def _m08(*drugs: DrugCourse) -> list[str]:
    patient = record([*HT_HIGH, lab(ANC, 10, 300)], supportive_drugs=STANDARD_PROPHYLAXIS + drugs)
    return ids(run(patient, 10))


def test_M08_fires_without_antibacterial_prophylaxis() -> None:
    patient = record([*HT_HIGH, lab(ANC, 10, 300)])
    m08 = alert(run(patient, 10), "M08")
    assert "no antibacterial prophylaxis on record" in m08.rationale


def test_M08_quiet_with_levofloxacin_2_days_ago_fires_3_days_ago() -> None:
    assert "M08" not in _m08(given(8, "antibacterial_prophylaxis", "levofloxacin"))
    assert "M08" in _m08(given(7, "antibacterial_prophylaxis", "levofloxacin"))


def test_M08_quiet_with_an_active_order() -> None:
    assert "M08" not in _m08(ordered(0, "antibacterial_prophylaxis", "levofloxacin"))


# -- M09: corticosteroid factor, quiet on antifungal prophylaxis ----------------------------------


def _steroid_days(*study_days: int) -> tuple[DrugCourse, ...]:
    return tuple(given(d, "corticosteroid", "dexamethasone") for d in study_days)


def _m09(anc: float, steroids: tuple[DrugCourse, ...], *more: DrugCourse) -> list[str]:
    values = [lab(ANC, 0, 2000), lab(ANC, 12, anc)]  # early grade 0-1: no grade arm
    patient = record(values, supportive_drugs=STANDARD_PROPHYLAXIS + steroids + more, **NO_HISTORY)
    return ids(run(patient, 12))


def test_M09_fires_for_corticosteroids_on_4_days_not_3() -> None:
    assert "M09" in _m09(300, _steroid_days(3, 4, 5, 6))
    assert "M09" not in _m09(300, _steroid_days(4, 5, 6))


def test_M09_corticosteroid_window_is_the_last_14_days() -> None:
    # day 12: the window is days -1..12; a dose on day -2 is outside it
    assert "M09" in _m09(300, _steroid_days(-1, 4, 5, 6))
    assert "M09" not in _m09(300, _steroid_days(-2, 4, 5, 6))


def test_M09_corticosteroid_factor_needs_anc_500() -> None:
    assert "M09" in _m09(500, _steroid_days(3, 4, 5, 6))
    assert "M09" not in _m09(501, _steroid_days(3, 4, 5, 6))


def test_M09_steroid_card_says_why() -> None:
    values = [lab(ANC, 0, 2000), lab(ANC, 12, 300)]
    drugs = (*STANDARD_PROPHYLAXIS, ordered(5, "corticosteroid", "dexamethasone", 10))
    m09 = alert(run(record(values, supportive_drugs=drugs, **NO_HISTORY), 12), "M09")
    assert "corticosteroids on 6 of the last 14 days" in m09.rationale
    assert "MedicationRequest/dexamethasone" in m09.source_ids


def test_M09_quiet_with_antifungal_prophylaxis_on_record() -> None:
    steroids = _steroid_days(3, 4, 5, 6)
    assert "M09" not in _m09(300, steroids, given(11, "antifungal", "posaconazole"))
    assert "M09" in _m09(300, steroids, given(9, "antifungal", "posaconazole"))


def test_M09_history_arm_quiet_on_antifungal_order() -> None:
    patient = record(
        [lab(ANC, 20, 3000)],
        prior_allo_hct=True,
        supportive_drugs=(*STANDARD_PROPHYLAXIS, ordered(0, "antifungal", "posaconazole")),
    )
    assert "M09" not in ids(run(patient, 20))
    assert "M09" in ids(run(record([lab(ANC, 20, 3000)], prior_allo_hct=True), 20))


# -- M10: HSV/VZV prophylaxis from lymphodepletion to day +365 ------------------------------------


def _m10(day: int, *drugs: DrugCourse, **timeline: object) -> list[str]:
    return ids(run(record(supportive_drugs=drugs, **timeline), day))


def test_M10_fires_on_day_365_not_366() -> None:
    assert "M10" in _m10(365)
    assert "M10" not in _m10(366)


def test_M10_fires_from_the_lymphodepletion_day() -> None:
    assert "M10" in _m10(-5, lymphodepletion_start=on(-5))
    assert "M10" not in _m10(-6, lymphodepletion_start=on(-5))


def test_M10_quiet_with_a_dose_2_days_ago_fires_3_days_ago() -> None:
    assert "M10" not in _m10(100, given(98, "antiviral", "aciclovir"))
    assert "M10" in _m10(100, given(97, "antiviral", "aciclovir"))


def test_M10_quiet_with_an_open_statement_fires_after_the_order_ended() -> None:
    statement = DrugCourse(on(-5), None, "MedicationStatement/v", "antiviral", "valaciclovir")
    assert "M10" not in _m10(200, statement)
    assert "M10" in _m10(200, ordered(-5, "antiviral", "valaciclovir", last=180))


def test_M10_fires_for_a_course_in_preparation_from_its_lymphodepletion() -> None:
    prep = CoursePreparation(on(-5), "lymphodepletion", "MedicationAdministration/flu")
    assert "M10" in _m10(-3, infusions=(), preparation=prep)
    apheresis = CoursePreparation(on(-20), "apheresis", "Procedure/leuka")
    assert "M10" not in _m10(-3, infusions=(), preparation=apheresis)


# -- M11 patient view: PJP prophylaxis from day 28 to day 730 ------------------------------------


def _m11(day: int, *drugs: DrugCourse, labs: tuple[object, ...] = ()) -> list[str]:
    return ids(run(record(labs, supportive_drugs=drugs), day))  # type: ignore[arg-type]


def test_M11_fires_from_day_28_not_27() -> None:
    assert "M11" in _m11(28)
    assert "M11" not in _m11(27)


def test_M11_fires_to_day_730_not_731() -> None:
    assert "M11" in _m11(730)
    assert "M11" not in _m11(731)


def test_M11_quiet_with_cotrimoxazole_3_days_ago_fires_4_days_ago() -> None:
    assert "M11" not in _m11(60, given(57, "pjp", "co-trimoxazole"))
    assert "M11" in _m11(60, given(56, "pjp", "co-trimoxazole"))


def test_M11_pentamidine_covers_28_days() -> None:
    assert "M11" not in _m11(60, given(32, "pjp", "pentamidine"))
    assert "M11" in _m11(60, given(31, "pjp", "pentamidine"))


def test_M11_quiet_when_cd4_above_200_in_the_last_90_days() -> None:
    assert "M11" not in _m11(200, labs=(lab(Analyte.CD4, 150, 201),))
    assert "M11" in _m11(200, labs=(lab(Analyte.CD4, 150, 200),))  # not above 200
    assert "M11" in _m11(200, labs=(lab(Analyte.CD4, 109, 350),))  # 91 days old


# -- M12: infection status from the record ------------------------------------------------------


def test_M12_info_when_no_infection_on_record_warning_with_one() -> None:
    igg = [lab(Analyte.IGG, 60, 390)]
    assert alert(run(record(igg, infections=()), 90), "M12").severity == "info"
    old = infected(10, "pneumonia", end=20)  # abated on day 20
    assert alert(run(record(igg, infections=old), 90), "M12").severity == "info"
    assert alert(run(record(igg, infections=culture(88)), 90), "M12").severity == "warning"


# -- M14: the 11-20 band with fever, bleeding or infection ----------------------------------------

KNOWN = {"infections": (), "bleeding": ()}


def _m14(platelets: float, *temps: tuple[int, float], **timeline: object) -> list[str]:
    labs = [lab(PLT, 12, platelets), *(lab(Analyte.TEMPERATURE, d, t) for d, t in temps)]
    return ids(run(record(labs, **{**KNOWN, **timeline}), 12))


def test_M14_platelets_20_fires_with_fever_38_0_not_37_9() -> None:
    assert "M14" in _m14(20, (12, 38.0))
    assert "M14" not in _m14(20, (12, 37.9))


def test_M14_platelets_21_with_fever_quiet() -> None:
    assert "M14" not in _m14(21, (12, 39.0))


def test_M14_fever_yesterday_counts_two_days_ago_does_not() -> None:
    assert "M14" in _m14(15, (11, 38.4))
    assert "M14" not in _m14(15, (10, 38.4))


def test_M14_platelets_10_fires_without_risk_factors_11_does_not() -> None:
    assert "M14" in _m14(10, (12, 36.8))
    assert "M14" not in _m14(11, (12, 36.8))


def test_M14_rationale_names_the_risk_factor() -> None:
    labs = [lab(PLT, 12, 18), lab(Analyte.TEMPERATURE, 12, 38.6)]
    m14 = alert(run(record(labs, infections=infected(10), bleeding=()), 12), "M14")
    assert "fever (38.6 °C on day 12)" in m14.rationale
    assert "active infection (sepsis since day 10)" in m14.rationale
    assert "fever and active infection" in m14.summary


def test_M14_needs_only_what_is_really_unknown() -> None:
    # all known and none present: no card, nothing missing
    result = run(record([lab(PLT, 12, 15), lab(Analyte.TEMPERATURE, 12, 37.0)], **KNOWN), 12)
    assert "M14" not in ids(result) and "M14" not in needs(result)
    # no temperature today or yesterday: fever unknown, listed alone
    result = run(record([lab(PLT, 12, 15)], **KNOWN), 12)
    asked = needs(result)["M14"].split(" (platelets")[0]
    assert asked == "M14 needs a temperature (none today or yesterday)"
    # infections not known (None): listed, the rest not
    result = run(record([lab(PLT, 12, 15), lab(Analyte.TEMPERATURE, 12, 37.0)], bleeding=()), 12)
    assert needs(result)["M14"].split(" (platelets")[0] == "M14 needs the infection status"


def test_M14_open_bleeding_counts_28_days_then_not() -> None:
    assert "M14" in _m14(20, (12, 37.0), bleeding=bleeding(-16))
    assert "M14" not in _m14(20, (12, 37.0), bleeding=bleeding(-17))


# -- M15: TPO-RA from the supportive drugs --------------------------------------------------------


def _m15(*drugs: DrugCourse) -> list[str]:
    units = tuple(Transfusion(on(d), "platelets") for d in (33, 35))
    return ids(run(record(transfusions=units, supportive_drugs=STANDARD_PROPHYLAXIS + drugs), 35))


def test_M15_quiet_with_a_romiplostim_order_since_day_0() -> None:
    assert "M15" not in _m15(ordered(20, "tpo_ra", "romiplostim"))


def test_M15_fires_when_the_tpo_ra_ended_before_day_0() -> None:
    assert "M15" in _m15(ordered(-40, "tpo_ra", "eltrombopag", last=-1))
    assert "M15" not in _m15(ordered(-40, "tpo_ra", "eltrombopag", last=0))


# -- M24: before a planned infusion ---------------------------------------------------------------


def _planned(day: int, labs: list[object], **timeline: object) -> list[str]:
    timeline.setdefault("infusions", ())
    return ids(run(record(labs, **timeline), day))  # type: ignore[arg-type]


PLAN = PlannedInfusion(on(0), "axicabtagene ciloleucel", "ServiceRequest/car-t")


def test_M24_fires_the_day_before_a_planned_infusion_not_on_it() -> None:
    assert "M24" in _planned(-1, HT_HIGH, planned_infusion=PLAN)
    assert "M24" not in _planned(0, HT_HIGH, planned_infusion=PLAN)


def test_M24_card_names_the_planned_infusion() -> None:
    result = run(record(HT_HIGH, infusions=(), planned_infusion=PLAN), -3)
    m24 = alert(result, "M24")
    assert "CAR-T infusion planned on 2026-09-01 (in 3 days)" in m24.rationale
    assert "ServiceRequest/car-t" in m24.source_ids
    assert [a.rule_id for a in result.alerts] == ["M24"]  # no ICAHT rule runs before day 0


def test_M24_quiet_when_low_risk() -> None:
    assert "M24" not in _planned(-3, HT_LOW, planned_infusion=PLAN)


def test_M24_from_a_lymphodepletion_in_preparation() -> None:
    prep = CoursePreparation(on(-4), "lymphodepletion", "MedicationAdministration/flu")
    assert "M24" in _planned(-3, HT_HIGH, preparation=prep)


def test_M24_preparation_older_than_180_days_is_no_longer_watched() -> None:
    labs = [lab(PLT, -187, 50)]  # inside [LD - 7 d, LD]
    prep = CoursePreparation(on(-180), "lymphodepletion")
    assert "M24" in _planned(0, labs, preparation=prep)  # 180 days after the step
    assert "M24" not in _planned(1, labs, preparation=prep)


def test_M24_for_a_reinfusion_planned_after_a_course() -> None:
    previous = (CarTInfusion(on(-120)),)
    assert "M24" in _planned(-2, HT_HIGH, infusions=previous, planned_infusion=PLAN)


def test_M24_needs_a_date_for_an_apheresis_only_preparation() -> None:
    prep = CoursePreparation(on(-30), "apheresis", "Procedure/leuka")
    result = run(record(HT_HIGH, infusions=(), preparation=prep), -20)
    assert "M24" not in ids(result)
    assert "planned infusion date" in needs(result)["M24"]


def test_M24_needs_a_complete_baseline_when_indeterminate() -> None:
    labs = [lab(PLT, -7, 200)]  # 0 points, the rest missing: 0-5
    result = run(record(labs, infusions=(), planned_infusion=PLAN), -3)
    assert "complete CAR-HEMATOTOX baseline" in needs(result)["M24"]


# -- the scope note (§6.4) and the catalogue ------------------------------------------------------


def test_hematotox_phrase_says_when_the_disease_is_outside_its_scope() -> None:
    b_all = record([*HT_HIGH, lab(ANC, 10, 300)], disease="B-ALL")
    assert "; note: CAR-HEMATOTOX is validated in" in alert(run(b_all, 10), "M08").rationale
    assert "adapted score" in alert(run(b_all, 10), "M08").rationale
    lbcl = record([*HT_HIGH, lab(ANC, 10, 300)], disease="LBCL")
    assert "validated" not in alert(run(lbcl, 10), "M08").rationale


def test_no_rule_is_listed_as_unable_to_fire_for_lack_of_a_fhir_input() -> None:
    assert [r.id for r in RULES if r.configuration_gap] == ["M22"]
    text = format_catalogue()
    assert "limitation:" not in text
    assert "configuration: off until a centre configures" in text
    assert "configuration gap" not in RULES_BY_ID["M22"].trigger  # the row says it, not the text
    assert "off until configured" in RULES_BY_ID["M22"].trigger


def test_icaht_cds_rules_prints_configuration_gaps_not_limitations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "limitation:" not in out
    [m22_gap] = [line for line in out.splitlines() if "configuration:" in line]
    assert "RBC-unit threshold" in m22_gap
    assert all(f"{r.id} " in out for r in RULES)
