"""M01, M13, M14, M15, M22: blood-product rules, each with a firing case and a near miss."""

from __future__ import annotations

from rules_helpers import (
    HB,
    PLT,
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
    CarTInfusion,
    CoursePreparation,
    DrugCourse,
    PatientRecord,
    PlannedInfusion,
    Transfusion,
)
from icaht.rules import RuleSettings

PLATELETS_ORDER = order(
    "blood_product",
    "ServiceRequest/plt",
    product="platelets",
    display="Platelet concentrate",
    irradiated=False,
)


# -- M01 irradiated products ----------------------------------------------------------------------


def test_M01_fires_for_non_irradiated_platelets_on_day_10() -> None:
    result = run(record(), 10, "order-select", [PLATELETS_ORDER])
    m01 = alert(result, "M01")
    assert m01.severity == "critical"
    assert "day 10" in m01.rationale and "2026-11-30" in m01.rationale  # infusion + 90 d
    [suggestion] = m01.suggestions
    assert (suggestion.action, suggestion.replaces, suggestion.irradiated) == (
        "replace",
        "ServiceRequest/plt",
        True,
    )
    assert m01.source_ids == ("ServiceRequest/plt",)


def test_M01_fires_inside_day_90() -> None:
    assert "M01" in ids(run(record(), 90, "order-sign", [PLATELETS_ORDER]))


def test_M01_quiet_outside_day_90() -> None:
    assert "M01" not in ids(run(record(), 91, "order-sign", [PLATELETS_ORDER]))


def test_M01_fires_when_irradiation_not_stated() -> None:
    rbc = order("blood_product", product="rbc", display="Packed red cells")
    m01 = alert(run(record(), 5, "order-select", [rbc]), "M01")
    assert "not marked irradiated: check" in m01.summary
    assert "Packed red cells (not marked irradiated)" in m01.rationale
    assert "check the order with the blood bank" in m01.rationale


def test_M01_card_recommends_and_says_at_least_until_day_90() -> None:
    # §17 C16: "consider ..." form, "at least until day +90", a whole summary under 140 chars
    for irradiated in (False, None):
        plt = order("blood_product", product="platelets", display="Plt", irradiated=irradiated)
        m01 = alert(run(record(), 5, "order-sign", [plt]), "M01")
        assert m01.summary.startswith(
            "Consider irradiated blood products (at least until day +90 after CAR-T): order "
        )
        assert len(m01.summary) < 140 and not m01.summary.endswith("...")
        assert m01.recommendation.startswith("Consider irradiated cellular blood products")
        assert "at least until day +90 after CAR-T infusion" in m01.recommendation
        assert "required" not in m01.summary + m01.recommendation


def test_M01_explicit_negation_is_stated_as_such() -> None:
    m01 = alert(run(record(), 10, "order-select", [PLATELETS_ORDER]), "M01")
    assert m01.summary.endswith("order marked non-irradiated")
    assert "Platelet concentrate (marked non-irradiated)" in m01.rationale
    assert "check the order" not in m01.rationale


def test_M01_one_unknown_order_among_several_asks_to_check() -> None:
    unknown = order("blood_product", "ServiceRequest/rbc", product="rbc", display="RBC")
    m01 = alert(run(record(), 10, "order-select", [PLATELETS_ORDER, unknown]), "M01")
    assert m01.summary.endswith("orders not marked irradiated: check")
    assert "Platelet concentrate (marked non-irradiated); RBC (not marked irradiated)" in (
        m01.rationale
    )


def test_M01_quiet_for_irradiated_or_acellular_products() -> None:
    irradiated = order("blood_product", product="platelets", irradiated=True)
    plasma = order("blood_product", product="plasma", irradiated=False)
    assert ids(run(record(), 10, "order-select", [irradiated, plasma])) == []


def test_M01_window_starts_7_days_before_apheresis() -> None:
    patient = record(apheresis_day=on(-40))
    assert "M01" in ids(run(patient, -47, "order-select", [PLATELETS_ORDER]))
    assert "M01" not in ids(run(patient, -48, "order-select", [PLATELETS_ORDER]))


def test_M01_without_apheresis_window_starts_at_infusion_minus_30_days() -> None:
    patient = record(lymphodepletion_start=on(-5))
    assert "M01" in ids(run(patient, -30, "order-select", [PLATELETS_ORDER]))
    assert "M01" not in ids(run(patient, -31, "order-select", [PLATELETS_ORDER]))


def _planned(day: int, infusions: tuple[CarTInfusion, ...] = ()) -> PatientRecord:
    """A CAR-T infusion planned for a study day (a ServiceRequest), nothing else prepared."""
    planned = PlannedInfusion(on(day), "axicabtagene ciloleucel", "ServiceRequest/plan")
    return record(infusions=infusions, planned_infusion=planned)


def test_M01_a_planned_infusion_opens_the_window_30_days_before_it() -> None:
    patient = _planned(0)
    m01 = alert(run(patient, -30, "order-sign", [PLATELETS_ORDER]), "M01")
    assert "(planned infusion - 30 d)" in m01.rationale
    assert "M01" not in ids(run(patient, -31, "order-sign", [PLATELETS_ORDER]))


def test_M01_a_plan_never_carried_out_stops_after_180_days() -> None:
    patient = _planned(0)
    assert "M01" in ids(run(patient, 180, "order-sign", [PLATELETS_ORDER]))
    assert "M01" not in ids(run(patient, 181, "order-sign", [PLATELETS_ORDER]))


def test_M01_a_reinfusion_plan_opens_before_the_old_window_ends() -> None:
    """Day +200 of a first course (outside its day +90 window), a second infusion planned on
    day +220: irradiated products again from day +190."""
    patient = _planned(220, infusions=(CarTInfusion(on(0)),))
    assert "M01" in ids(run(patient, 190, "order-sign", [PLATELETS_ORDER]))
    assert "M01" not in ids(run(patient, 189, "order-sign", [PLATELETS_ORDER]))


def test_M01_a_plan_on_or_before_the_last_infusion_is_no_plan() -> None:
    patient = _planned(0, infusions=(CarTInfusion(on(0)),))
    assert "M01" not in ids(run(patient, 100, "order-sign", [PLATELETS_ORDER]))


def _preparing(step: str, day: int, infusions: tuple[CarTInfusion, ...] = ()) -> PatientRecord:
    """A patient whose next CAR-T course is being prepared: no infusion after `day`."""
    preparation = CoursePreparation(on(day), step, "Procedure/aph")  # type: ignore[arg-type]
    return record(infusions=infusions, preparation=preparation)


def test_M01_fires_after_apheresis_before_any_infusion() -> None:
    m01 = alert(run(_preparing("apheresis", -20), -10, "order-sign", [PLATELETS_ORDER]), "M01")
    assert m01.severity == "critical"
    assert "in preparation (no infusion on record yet)" in m01.rationale
    assert f"from {on(-27)} (apheresis - 7 d) until infusion + 90 d" in m01.rationale


def test_M01_preparation_window_opens_7_days_before_the_step() -> None:
    # the boundary itself (7 days before the step; 8 days before, not yet), as for the apheresis
    # of a course on record; in practice the step is in the past when the service learns of it
    patient = _preparing("lymphodepletion", -3)
    assert "M01" in ids(run(patient, -10, "order-select", [PLATELETS_ORDER]))
    assert "M01" not in ids(run(patient, -11, "order-select", [PLATELETS_ORDER]))


def test_M01_preparation_counts_for_180_days() -> None:
    patient = _preparing("apheresis", -200)
    assert "M01" in ids(run(patient, -20, "order-select", [PLATELETS_ORDER]))  # 180 days on
    assert "M01" not in ids(run(patient, -19, "order-select", [PLATELETS_ORDER]))  # 181


def test_M01_stale_preparation_falls_back_to_the_last_course() -> None:
    # an apheresis 181 days ago for a course never infused; the last infusion was day 0
    patient = _preparing("apheresis", 10, infusions=(CarTInfusion(on(0)),))
    assert "M01" in ids(run(patient, 90, "order-select", [PLATELETS_ORDER]))  # day 0 + 90
    assert "M01" not in ids(run(patient, 191, "order-select", [PLATELETS_ORDER]))


def test_M01_quiet_on_patient_view_and_for_unrelated_orders() -> None:
    assert ids(run(record(), 10)) == []
    assert ids(run(record(), 10, "order-select", [order("other", display="Chest X-ray")])) == []


# -- M13 RBC threshold ----------------------------------------------------------------------------


def test_M13_fires_at_hb_6_9() -> None:
    m13 = alert(run(record([lab(HB, 10, 6.9)]), 10), "M13")
    assert m13.severity == "warning"
    assert "Hb 6.9 g/dL on day 10" in m13.rationale
    assert m13.suggestions[0].product == "rbc" and m13.suggestions[0].irradiated is True


def test_M13_quiet_at_hb_7_0() -> None:
    assert "M13" not in ids(run(record([lab(HB, 10, 7.0)], cardiovascular_disease=False), 10))


def test_M13_fires_at_hb_7_9_with_cardiovascular_disease() -> None:
    patient = record([lab(HB, 10, 7.9)], cardiovascular_disease=True)
    assert "cardiovascular" in alert(run(patient, 10), "M13").summary


def test_M13_quiet_at_hb_8_0_with_cardiovascular_disease() -> None:
    assert "M13" not in ids(run(record([lab(HB, 10, 8.0)], cardiovascular_disease=True), 10))


def test_M13_not_evaluable_between_7_and_8_without_cardiovascular_status() -> None:
    result = run(record([lab(HB, 10, 7.5)]), 10)
    assert "M13" not in ids(result)
    assert "cardiovascular" in needs(result)["M13"]


def test_M13_quiet_when_hb_is_not_current() -> None:
    result = run(record([lab(HB, 7, 6.0)]), 10)  # 3 days old
    assert "M13" not in ids(result)
    assert "current Hb" in needs(result)["M13"]


# -- M14 platelet threshold -----------------------------------------------------------------------


def test_M14_fires_at_platelets_10() -> None:
    m14 = alert(run(record([lab(PLT, 12, 10)]), 12), "M14")
    assert m14.severity == "critical"
    assert "platelets 10 x10^9/L on day 12" in m14.rationale


def test_M14_quiet_at_platelets_11() -> None:
    result = run(record([lab(PLT, 12, 11)]), 12)
    assert "M14" not in ids(result)
    assert "fever" in needs(result)["M14"]  # no temperature, infections and bleeding unknown


def test_M14_fires_at_platelets_20_with_bleeding() -> None:
    m14 = alert(run(record([lab(PLT, 12, 20)], bleeding=bleeding(11)), 12), "M14")
    assert "active bleeding" in m14.summary
    assert "with active bleeding (since day 11)" in m14.rationale


def test_M14_fires_at_platelets_20_with_infection() -> None:
    m14 = alert(run(record([lab(PLT, 12, 20)], infections=infected(10)), 12), "M14")
    assert "active infection (sepsis since day 10)" in m14.rationale


def test_M14_quiet_at_platelets_21_with_bleeding() -> None:
    assert "M14" not in ids(run(record([lab(PLT, 12, 21)], bleeding=bleeding(11)), 12))


def test_M14_below_5_counts_as_at_or_below_10() -> None:
    assert "M14" in ids(run(record([lab(PLT, 12, 5, comparator="<")]), 12))


def test_M14_order_above_threshold_is_info_threshold_not_reached() -> None:
    result = run(record([lab(PLT, 12, 21)]), 12, "order-select", [PLATELETS_ORDER])
    m14 = alert(result, "M14")
    assert m14.severity == "info" and "not reached" in m14.summary


def test_M14_order_quiet_at_platelets_20() -> None:
    result = run(record([lab(PLT, 12, 20)]), 12, "order-select", [PLATELETS_ORDER])
    assert "M14" not in ids(result)


def test_M14_order_quiet_with_active_bleeding() -> None:
    patient = record([lab(PLT, 12, 60)], bleeding=bleeding(11))
    assert "M14" not in ids(run(patient, 12, "order-select", [PLATELETS_ORDER]))


# -- M15 TPO-RA -----------------------------------------------------------------------------------


def _platelet_units(*study_days: int) -> tuple[Transfusion, ...]:
    return tuple(
        Transfusion(on(d), "platelets", source_id=f"Procedure/plt-{d}") for d in study_days
    )


def test_M15_fires_for_2_platelet_units_in_7_days_after_day_30() -> None:
    m15 = alert(run(record(transfusions=_platelet_units(33, 35)), 35), "M15")
    assert "days 33, 35" in m15.rationale
    assert m15.source_ids == ("Procedure/plt-33", "Procedure/plt-35")


def test_M15_quiet_for_units_8_days_apart() -> None:
    assert "M15" not in ids(run(record(transfusions=_platelet_units(28, 35)), 35))


def test_M15_quiet_on_day_30() -> None:
    assert "M15" not in ids(run(record(transfusions=_platelet_units(29, 30)), 30))


def test_M15_quiet_when_a_tpo_ra_was_given() -> None:
    eltrombopag = DrugCourse(on(34), on(34), "MedicationAdministration/e", "tpo_ra", "eltrombopag")
    patient = record(transfusions=_platelet_units(33, 35), supportive_drugs=(eltrombopag,))
    assert "M15" not in ids(run(patient, 35))


def test_M15_not_evaluable_without_transfusion_records() -> None:
    assert needs(run(record(), 35))["M15"] == "M15 needs transfusion records"


# -- M22 iron overload ----------------------------------------------------------------------------


def _rbc_units(n: int) -> tuple[Transfusion, ...]:
    return tuple(Transfusion(on(d), "rbc", source_id=f"Procedure/rbc-{d}") for d in range(n))


def test_M22_fires_at_the_configured_threshold() -> None:
    result = run(
        record(transfusions=_rbc_units(10)), 40, settings=RuleSettings(iron_overload_rbc_units=10)
    )
    assert alert(result, "M22").severity == "info"


def test_M22_quiet_below_the_configured_threshold() -> None:
    result = run(
        record(transfusions=_rbc_units(9)), 40, settings=RuleSettings(iron_overload_rbc_units=10)
    )
    assert "M22" not in ids(result)


def test_M22_not_evaluable_until_a_threshold_is_configured() -> None:
    result = run(record(transfusions=_rbc_units(40)), 40)
    assert "M22" not in ids(result)
    assert "configured RBC-unit threshold" in needs(result)["M22"]
