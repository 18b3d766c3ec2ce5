"""Supportive-care rules: G-CSF/GM-CSF orders (M04, M05), infection prophylaxis and IVIG (M10,
M11, M12), marrow evaluation and cytopenia work-up (M18, M19), coagulation (M20, M21) and the
IEC-HS screen (M23). docs/clinical/10-management-rules.md §10."""

from __future__ import annotations

from datetime import date, timedelta

from icaht.clinical_status import UNKNOWN, on_supportive
from icaht.early import SEVERE_ANC
from icaht.iec_hs import SCREEN_FROM_DAY
from icaht.record import Analyte, Infection, LabValue, active_crs
from icaht.rules.base import (
    HIGH_GRADE,
    early_grade,
    early_phrase,
    grade_data,
    infection_phrase,
    infection_today,
    late_grade,
    make_alert,
    monitored,
    severe_anc_now,
    severe_icaht_now,
    t_icaht_data,
    with_t_icaht,
)
from icaht.rules.facts import (
    LabTest,
    above,
    active_period,
    at_or_below,
    below,
    current,
    day_label,
    describe,
    describe_run,
    run_ending_now,
    span_days,
    study_day,
    used,
)
from icaht.rules.model import ORDER_HOOKS, Alert, DataUsed, DraftOrder, RuleInput, Suggestion
from icaht.rules.neutrophils import LATE_DAY, MARROW_SUGGESTION

PERSISTING_PLATELETS = 50.0  # §10 M19: persisting cytopenia, platelets < 50 x10^9/L
PERSISTING_HB = 8.0  # §10 M19: persisting cytopenia, Hb < 8 g/dL
CYTOPENIA_TESTS: tuple[tuple[Analyte, str, LabTest], ...] = (
    # §10 M19: "ANC <= 500" (A1 inclusive), "platelets < 50 x10^9/L", "Hb < 8 g/dL"
    (Analyte.ANC, f"ANC <= {SEVERE_ANC}/µL", lambda v: at_or_below(v, SEVERE_ANC)),
    (
        Analyte.PLATELETS,
        f"platelets < {PERSISTING_PLATELETS:g} x10^9/L",
        lambda v: below(v, PERSISTING_PLATELETS),
    ),
    (Analyte.HEMOGLOBIN, f"Hb < {PERSISTING_HB:.1f} g/dL", lambda v: below(v, PERSISTING_HB)),
)
WORKUP_FROM_DAY = 21  # §17 C16: M19 needs day >= 21 ("beyond the expected 2-3 weeks", S-NONCAN)
PJP_FROM_DAY = 28  # §10 M11: "day >= ~28" (S-HIT "at day 30"; figure "day ~28")
PJP_LAST_DAY = 730  # §10 M11: stop when CD4 > 200/uL, "may take 1-2 years" [PROPOSED bound]
ANTIVIRAL_LAST_DAY = 365  # §10 M10 (CONS-T3): "until 1 year after infusion"
IGG_THRESHOLD = 400.0  # §10 M12: IgG < 400 mg/dL (4 g/L) [SEC tables; R-CONS UNVERIFIED]
FIBRINOGEN_THRESHOLD = 100.0  # §10 M20 (Buechner 2021 via S-NONCAN): fibrinogen < 1.0 g/L
SEVERE_CRS_GRADE = 3  # §10 M20: CRS grade 3-4
ANTICOAGULATION_PLATELETS = 50.0  # §10 M21 (S-NONCAN): platelets < 50 x10^9/L
TMP_SMX_NAMES = ("trimoxazole", "sulfamethoxazole", "bactrim", "septra")
# [PROPOSED] (docs/decisions/0022) a dose given this many days before the evaluation day still
# counts as prophylaxis on record: antivirals are given once or twice daily (today's dose may not
# be charted yet), co-trimoxazole for PJP often three times a week (Mon/Wed/Fri: 3 days apart).
# Pentamidine (every 4 weeks) covers 28 days (icaht.clinical_status.DOSE_INTERVAL_DAYS).
ANTIVIRAL_GRACE_DAYS = 2
PJP_GRACE_DAYS = 3
# [PROPOSED] §10 M11: "stop when CD4+ > 200/µL". A CD4 count > 200/µL from the last 90 days
# keeps the PJP reminder quiet (CD4 is checked every few months after CAR-T; an older count says
# little about today). Strictly above 200, as the source says.
PJP_STOP_CD4 = 200.0
PJP_CD4_MAX_AGE_DAYS = 90


def _orders(inp: RuleInput, kind: str) -> list[DraftOrder]:
    if inp.hook not in ORDER_HOOKS:
        return []
    return [o for o in inp.draft_orders if o.kind == kind]


def _names(orders: list[DraftOrder]) -> str:
    return ", ".join(o.display or o.product or o.reference for o in orders)


def _order_data(orders: list[DraftOrder]) -> list[DataUsed]:
    return [DataUsed("draft order", o.display or str(o.product), None, o.reference) for o in orders]


# -- M04, M05 -------------------------------------------------------------------------------------


def _infection_with_neutropenia(inp: RuleInput) -> bool:
    return isinstance(infection_today(inp), Infection) and severe_anc_now(inp) is not None


def m04_gcsf_in_crs(inp: RuleInput) -> Alert | None:
    orders = _orders(inp, "gcsf")
    crs = active_crs(inp.record.timeline, inp.evaluation_date)
    if not orders or crs is None or _infection_with_neutropenia(inp):
        return None
    grade = crs.grade
    return make_alert(
        inp,
        "M04",
        summary="G-CSF ordered during active CRS: consider holding it unless severe infection",
        rationale=(
            f"CRS active since day {study_day(inp, crs.start)}"
            + (f" (grade {grade})" if grade is not None else "")
            + f"; order(s): {_names(orders)}."
        ),
        recommendation=(
            "Consider holding G-CSF during ongoing CRS unless there is severe infection with "
            "neutropenia, as centres commonly do; early G-CSF did not increase severe CRS in "
            "reported series, but > 1,500 µg cumulative or > 5 days was associated with CRS in "
            "myeloma (Ma 2023)."
        ),
        data=[
            DataUsed("CRS period", f"from {crs.start.isoformat()}", crs.start, crs.source_id),
            *_order_data(orders),
        ],
    )


def m04_needs(inp: RuleInput) -> tuple[str, ...]:
    if _orders(inp, "gcsf") and not inp.record.timeline.crs_periods:
        return ("M04 needs the CRS status (no CRS record)",)
    return ()


def m05_avoid_gmcsf(inp: RuleInput) -> Alert | None:
    orders = _orders(inp, "gmcsf")
    day = study_day(inp)
    if not orders or day is None or day < 0:
        return None
    return make_alert(
        inp,
        "M05",
        summary="GM-CSF ordered after CAR-T: consider avoiding it (implicated in CRS and ICANS)",
        rationale=f"Day {day} after CAR-T infusion; order(s): {_names(orders)}.",
        recommendation="Consider avoiding GM-CSF (sargramostim, molgramostim) after CAR-T; "
        "consider G-CSF instead if a growth factor is indicated.",
        data=_order_data(orders),
        suggestions=[
            Suggestion(
                f"Remove {o.display or 'GM-CSF order'}",
                "remove",
                "gmcsf",
                product=o.product,
                replaces=o.reference,
            )
            for o in orders
        ],
    )


# -- M10, M11, M12 --------------------------------------------------------------------------------


def _antiviral_window(inp: RuleInput) -> tuple[date, str] | None:
    """§10 M10 (CONS-T3): "all patients, from lymphodepletion ... until 1 year after infusion".
    The current course: its lymphodepletion (else day 0) to day +365. A course in preparation
    whose lymphodepletion is on record: from that day on, for up to `preparation_lookback_days`
    (as M01's window: a lymphodepletion never followed by an infusion is not watched for ever).
    Returns the window's start and what it is, when today is inside it."""
    today, timeline = inp.evaluation_date, inp.record.timeline
    prep, day0 = timeline.preparation, inp.assessment.day0
    if prep is not None and prep.step == "lymphodepletion" and (day0 is None or prep.day > day0):
        age = (today - prep.day).days
        if 0 <= age <= inp.settings.preparation_lookback_days:
            return prep.day, f"lymphodepletion on {prep.day.isoformat()} (course in preparation)"
    if day0 is None:
        return None
    ld = timeline.lymphodepletion_start
    start = ld or day0
    if start <= today <= day0 + timedelta(days=ANTIVIRAL_LAST_DAY):
        what = f"lymphodepletion on {day_label(inp, ld)}" if ld else "infusion on day 0"
        return start, what
    return None


def _none_on_record(group: str, grace: int) -> str:
    return (
        f"no {group} on record covering today (no dose in the last {grace} days, no active order "
        "or statement)"
    )


def m10_antiviral(inp: RuleInput) -> Alert | None:
    """§10 M10: every patient from lymphodepletion to 1 year after infusion; quiet when an
    antiviral (aciclovir, valaciclovir, famciclovir) covers today (docs/decisions/0022)."""
    window = _antiviral_window(inp)
    if window is None or inp.hook != "patient-view":
        return None
    timeline = inp.record.timeline
    if on_supportive(timeline, "antiviral", inp.evaluation_date, ANTIVIRAL_GRACE_DAYS):
        return None
    start, what = window
    day = study_day(inp)
    today = f"Day {day}" if day is not None and day >= 0 else "Before infusion"
    return make_alert(
        inp,
        "M10",
        summary="No HSV/VZV prophylaxis on record: consider aciclovir or valaciclovir",
        rationale=(
            f"{today}; prophylaxis is due from lymphodepletion to 1 year after infusion "
            f"(from {what}); {_none_on_record('antiviral', ANTIVIRAL_GRACE_DAYS)}."
        ),
        recommendation=(
            "Consider HSV/VZV prophylaxis (e.g. valaciclovir 500 mg twice daily or aciclovir "
            "800 mg twice daily) until 1 year after infusion and/or until CD4+ > 200/µL; if it "
            "is given but not on record, consider recording it."
        ),
        data=[
            DataUsed("antiviral prophylaxis", "none on record"),
            DataUsed("prophylaxis window start", what, start),
        ],
    )


def m10_needs(inp: RuleInput) -> tuple[str, ...]:
    return ()


def _latest_cd4_above(inp: RuleInput) -> LabValue | None:
    cd4 = current(inp, Analyte.CD4, PJP_CD4_MAX_AGE_DAYS)
    return cd4 if cd4 is not None and above(cd4, PJP_STOP_CD4) else None


def _pjp_window(inp: RuleInput) -> bool:
    day = study_day(inp)
    return day is not None and PJP_FROM_DAY <= day <= PJP_LAST_DAY


def _m11_patient_view(inp: RuleInput) -> Alert | None:
    """§10 M11: from day ~28 (S-HIT "at day 30"; figure "day ~28") to day +730 [PROPOSED], when
    no PJP agent covers today and no CD4 > 200/µL in the last 90 days (the stop criterion)."""
    if not _pjp_window(inp) or _latest_cd4_above(inp) is not None:
        return None
    if on_supportive(inp.record.timeline, "pjp", inp.evaluation_date, PJP_GRACE_DAYS):
        return None
    return make_alert(
        inp,
        "M11",
        summary="No PJP prophylaxis on record after day +28: consider co-trimoxazole",
        rationale=(
            f"Day {study_day(inp)} (PJP prophylaxis from day ~28 until CD4+ > 200/µL); "
            f"{_none_on_record('PJP prophylaxis', PJP_GRACE_DAYS)}; no CD4+ count > 200/µL in "
            f"the last {PJP_CD4_MAX_AGE_DAYS} days."
        ),
        recommendation=(
            "Consider co-trimoxazole PJP prophylaxis until CD4+ > 200/µL (may take 1-2 years); "
            "consider pentamidine or atovaquone with cytopenias or allergy; if it is given but "
            "not on record, consider recording it."
        ),
        data=[DataUsed("PJP prophylaxis", "none on record")],
    )


def _is_cotrimoxazole(order: DraftOrder) -> bool:
    text = f"{order.product or ''} {order.display}".lower()
    return any(name in text for name in TMP_SMX_NAMES)


def _drug_orders(inp: RuleInput, cotrimoxazole: bool) -> list[DraftOrder]:
    orders = _orders(inp, "myelosuppressive_drug")
    return [o for o in orders if _is_cotrimoxazole(o) == cotrimoxazole]


def _drug_in_severe_icaht(inp: RuleInput, rule_id: str, cotrimoxazole: bool) -> Alert | None:
    orders = _drug_orders(inp, cotrimoxazole)
    severe = severe_icaht_now(inp)
    if not orders or severe is None:
        return None
    grade, anc = severe
    if cotrimoxazole:
        advice = (
            "Consider pentamidine or atovaquone for PJP prophylaxis instead: co-trimoxazole is "
            "myelosuppressive"
        )
    else:
        advice = (
            "Consider reviewing the indication: myelosuppressive drugs (e.g. valganciclovir, "
            "ganciclovir, co-trimoxazole, beta-lactams) can prolong cytopenia; the rules name no "
            "specific alternative for this drug"
        )
    return make_alert(
        inp,
        rule_id,
        summary=f"Myelosuppressive drug ordered during {grade} (ANC {anc.value:g}/µL): consider "
        "an alternative",
        rationale=f"{grade}; {describe(inp, anc)}; order(s): {_names(orders)}.",
        recommendation=advice,
        data=[used(anc), *grade_data(inp), *_order_data(orders)],
    )


def _drug_needs(inp: RuleInput, rule_id: str, cotrimoxazole: bool) -> tuple[str, ...]:
    high = max(early_grade(inp) or 0, late_grade(inp) or 0) >= HIGH_GRADE
    if _drug_orders(inp, cotrimoxazole) and high and current(inp, Analyte.ANC) is None:
        return (f"{rule_id} needs a current ANC to check the ICAHT grade >= 3 drug caution",)
    return ()


def m11_pjp(inp: RuleInput) -> Alert | None:
    if inp.hook in ORDER_HOOKS:
        return _drug_in_severe_icaht(inp, "M11", cotrimoxazole=True)
    return _m11_patient_view(inp)


def m11_needs(inp: RuleInput) -> tuple[str, ...]:
    if inp.hook in ORDER_HOOKS:
        return _drug_needs(inp, "M11", cotrimoxazole=True)
    return ()


def _low_igg(inp: RuleInput) -> LabValue | None:
    igg = current(inp, Analyte.IGG, inp.settings.igg_max_age_days)
    return igg if igg is not None and below(igg, IGG_THRESHOLD) else None


def m12_ivig(inp: RuleInput) -> Alert | None:
    igg = _low_igg(inp)
    status = infection_today(inp)
    if igg is None or status is UNKNOWN:
        return None
    infection = status if isinstance(status, Infection) else None
    if infection is not None:
        summary = f"IgG {igg.value:g} mg/dL with active infection: consider IVIG replacement"
        why = f"active infection: {infection_phrase(inp, infection)}"
    else:
        summary = (
            f"IgG {igg.value:g} mg/dL (< {IGG_THRESHOLD:g}): hypogammaglobulinemia, no infection "
            "recorded"
        )
        why = "no active infection recorded"
    return make_alert(
        inp,
        "M12",
        summary=summary,
        rationale=f"{describe(inp, igg)} < {IGG_THRESHOLD:g} mg/dL; {why}.",
        recommendation=(
            "Consider IVIG replacement (0.4-0.5 g/kg, reassessed monthly) with serious or "
            "recurrent (sinopulmonary) infections; consider checking IgG at ~day 30, then every "
            "3-6 months."
        ),
        data=[used(igg), _infection_used(infection)],
        severity="warning" if infection else "info",
    )


def _infection_used(infection: Infection | None) -> DataUsed:
    if infection is None:
        return DataUsed("active infection", "none on record")
    return DataUsed("active infection", infection.kind, infection.start, infection.source_id)


def m12_needs(inp: RuleInput) -> tuple[str, ...]:
    if _low_igg(inp) is not None and infection_today(inp) is UNKNOWN:
        return ("M12 needs infection status (serious or recurrent infections)",)
    return ()


# -- M18, M19 -------------------------------------------------------------------------------------


def persistent_cytopenias(inp: RuleInput) -> list[tuple[str, tuple[LabValue, ...]]]:
    """Lineages below the §10 M19 thresholds for >= 14 days (runs after day 0)."""
    found = []
    for analyte, label, test in CYTOPENIA_TESTS:
        run = run_ending_now(inp, analyte, test)
        if span_days(run) >= inp.settings.cytopenia_persistence_days:
            found.append((label, run))
    return found


def _run_text(inp: RuleInput, found: list[tuple[str, tuple[LabValue, ...]]]) -> str:
    return "; ".join(f"{describe_run(inp, run)} ({span_days(run)} days)" for _, run in found)


def _m18_reasons(inp: RuleInput) -> tuple[list[str], list[DataUsed]]:
    day = study_day(inp)
    if day is None or day <= LATE_DAY:
        return [], []
    reasons: list[str] = []
    data: list[DataUsed] = []
    anc = severe_anc_now(inp)
    if (early_grade(inp) or 0) >= HIGH_GRADE and anc is not None:
        reasons.append(f"{early_phrase(inp)}, still {describe(inp, anc)}")
        data += [used(anc), *grade_data(inp)]
    persistent = persistent_cytopenias(inp)
    if len(persistent) >= 2:
        reasons.append("multilineage cytopenia: " + _run_text(inp, persistent))
        data += [used(run[-1]) for _, run in persistent]
    return reasons, data


def m18_marrow(inp: RuleInput) -> Alert | None:
    reasons, data = _m18_reasons(inp)
    if not reasons:
        return None
    return make_alert(
        inp,
        "M18",
        summary=f"Cytopenia persisting beyond day +30 (day {study_day(inp)}): consider bone-marrow "
        "evaluation",
        rationale="; ".join(reasons) + ".",
        recommendation=(
            "Consider bone-marrow aspirate and biopsy (morphology, cellularity, cytogenetics, and "
            "NGS for a myeloid neoplasm in profound persistent aplasia; relapse) after reversible "
            "causes are checked (drugs, infection, B12/folate, IEC-HS: M19 checklist)."
        ),
        data=data,
        suggestions=(MARROW_SUGGESTION,),
    )


def _workup_due(inp: RuleInput) -> bool:
    """§17 C16: the work-up is for cytopenia "beyond the expected 2-3 weeks": day >= 21."""
    day = study_day(inp)
    return day is not None and day >= WORKUP_FROM_DAY


def m19_cytopenia_workup(inp: RuleInput) -> Alert | None:
    if inp.hook in ORDER_HOOKS:
        return _drug_in_severe_icaht(inp, "M19", cotrimoxazole=False)
    found = persistent_cytopenias(inp) if _workup_due(inp) else []
    if not found:
        return None
    drug = active_period(inp.record.timeline.myelosuppressive_drug_periods, inp.evaluation_date)
    drug_text = "; a myelosuppressive drug is active" if drug else ""
    days = max(span_days(run) for _, run in found)
    # the platelet lineage is among the persisting cytopenias: its T-ICAHT grade (§18) says
    # how severe and how long beyond the single run
    platelets = any(run and run[0].analyte is Analyte.PLATELETS for _, run in found)
    rationale = _run_text(inp, found) + drug_text + "."
    if platelets:
        rationale = with_t_icaht(inp, rationale)
    return make_alert(
        inp,
        "M19",
        summary=f"Cytopenia persisting {days} days ({', '.join(lab for lab, _ in found)}): "
        "consider a work-up",
        rationale=rationale,
        recommendation=(
            "Consider a work-up of the causes: myelosuppressive drugs (e.g. co-trimoxazole, "
            "valganciclovir, beta-lactams); B12 and folate; infections incl. viral PCR (CMV, EBV, "
            "HHV-6, parvovirus B19); inflammation (CRP, ferritin; IEC-HS); relapse or marrow "
            "involvement; secondary myeloid neoplasm."
        ),
        data=[used(v) for _, run in found for v in (run[0], run[-1])]
        + (
            [DataUsed("myelosuppressive drug", "active", drug.start, drug.source_id)]
            if drug
            else []
        )
        + (t_icaht_data(inp) if platelets else []),
    )


def m19_needs(inp: RuleInput) -> tuple[str, ...]:
    if inp.hook in ORDER_HOOKS:
        return _drug_needs(inp, "M19", cotrimoxazole=False)
    if not monitored(inp) or not _workup_due(inp):
        return ()
    if any(current(inp, a) is not None for a, _, _ in CYTOPENIA_TESTS):
        return ()
    return ("M19 needs a current ANC, platelet count or Hb",)


# -- M20, M21 -------------------------------------------------------------------------------------


def _low_fibrinogen(inp: RuleInput) -> LabValue | None:
    fibrinogen = current(inp, Analyte.FIBRINOGEN)
    return (
        fibrinogen if fibrinogen is not None and below(fibrinogen, FIBRINOGEN_THRESHOLD) else None
    )


def m20_coagulopathy(inp: RuleInput) -> Alert | None:
    fibrinogen = _low_fibrinogen(inp)
    # C16: the grade of the CRS period active today in the current course, not the highest
    # grade ever recorded; an open record older than 21 days is not active (icaht.record)
    crs = active_crs(inp.record.timeline, inp.evaluation_date)
    grade = crs.grade if crs is not None else None
    if fibrinogen is None or crs is None or grade is None or grade < SEVERE_CRS_GRADE:
        return None
    return make_alert(
        inp,
        "M20",
        summary=f"Fibrinogen {fibrinogen.value:g} mg/dL (< 1.0 g/L) in grade {grade} CRS: "
        "consider cryoprecipitate",
        rationale=f"{describe(inp, fibrinogen)} < {FIBRINOGEN_THRESHOLD:g} mg/dL; CRS active since "
        f"day {study_day(inp, crs.start)}, grade {grade}.",
        recommendation=(
            "Consider cryoprecipitate to keep fibrinogen > 1.5 g/L (150 mg/dL) until CRS "
            "resolves; fibrinogen nadir is typically around days 12-14."
        ),
        data=[used(fibrinogen), DataUsed("CRS grade", str(grade), crs.start, crs.source_id)],
        suggestions=[
            Suggestion(
                "Order cryoprecipitate", "create", "blood_product", product="cryoprecipitate"
            )
        ],
    )


def m20_needs(inp: RuleInput) -> tuple[str, ...]:
    if _low_fibrinogen(inp) is None:
        return ()
    if not inp.record.timeline.crs_periods:
        return (
            f"M20 needs the CRS status and grade (fibrinogen < {FIBRINOGEN_THRESHOLD:g} mg/dL)",
        )
    crs = active_crs(inp.record.timeline, inp.evaluation_date)
    if crs is not None and crs.grade is None:
        return (
            f"M20 needs the grade of the active CRS (fibrinogen < {FIBRINOGEN_THRESHOLD:g} mg/dL)",
        )
    return ()


def _low_platelets(inp: RuleInput) -> LabValue | None:
    platelets = current(inp, Analyte.PLATELETS)
    return platelets if platelets and below(platelets, ANTICOAGULATION_PLATELETS) else None


def _anticoagulation(inp: RuleInput) -> tuple[str, list[DataUsed]] | None:
    """A draft anticoagulant order (order hooks) or an active anticoagulant (patient view)."""
    orders = _orders(inp, "anticoagulant")
    if orders:
        return f"order(s): {_names(orders)}", _order_data(orders)
    if inp.hook != "patient-view":
        return None
    period = active_period(inp.record.timeline.anticoagulant_periods, inp.evaluation_date)
    if period is None:
        return None
    since = f"anticoagulant active since day {study_day(inp, period.start)}"
    return since, [DataUsed("anticoagulant", "active", period.start, period.source_id)]


def m21_anticoagulation(inp: RuleInput) -> Alert | None:
    platelets = _low_platelets(inp)
    anticoagulation = _anticoagulation(inp)
    if platelets is None or anticoagulation is None:
        return None
    what, data = anticoagulation
    return make_alert(
        inp,
        "M21",
        summary=f"Anticoagulation with platelets {platelets.value:g} x10^9/L "
        f"(< {ANTICOAGULATION_PLATELETS:g}): consider the "
        "bleeding risk",
        rationale=f"{describe(inp, platelets)} < {ANTICOAGULATION_PLATELETS:g} x10^9/L; {what}.",
        recommendation="Consider weighing the indication for anticoagulation against the "
        "bleeding risk with platelets < 50 x10^9/L (50,000/µL).",
        data=[used(platelets), *data],
    )


def m21_needs(inp: RuleInput) -> tuple[str, ...]:
    if current(inp, Analyte.PLATELETS) is None and _anticoagulation(inp) is not None:
        return ("M21 needs a current platelet count (anticoagulation)",)
    return ()


# -- M23 ------------------------------------------------------------------------------------------


def m23_iec_hs(inp: RuleInput) -> Alert | None:
    """C13: the screen (icaht.iec_hs) positive on the evaluation day; a warning, never critical."""
    screen = inp.assessment.iec_hs
    if screen is None or not screen.positive or screen.day != inp.evaluation_date:
        return None
    ferritin = screen.ferritin_findings[-1]
    shown = screen.associated_findings[-3:]
    return make_alert(
        inp,
        "M23",
        summary="Possible IEC-HS: evaluate",
        rationale=(
            f"Ferritin {ferritin.value:g} ng/mL on day {study_day(inp, ferritin.day)} "
            f"({ferritin.criterion}), not explained by an active CRS; "
            + "; ".join(f"{a.criterion} on day {study_day(inp, a.day)}" for a in shown)
            + ". Screening only, not a diagnosis."
        ),
        recommendation=(
            "Consider evaluating against the ASTCT IEC-HS criteria (Hines 2023). If the ASTCT "
            "criteria are confirmed, consider anakinra plus corticosteroids; if refractory, "
            "consider ruxolitinib or emapalumab (case series)."
        ),
        data=[
            DataUsed("ferritin", f"{ferritin.value:g} ng/mL", ferritin.day, ferritin.source_id),
            *(DataUsed(a.analyte.value, f"{a.value:g}", a.day, a.source_id) for a in shown),
        ],
    )


def m23_needs(inp: RuleInput) -> tuple[str, ...]:
    """Only when more data could make the screen positive today: a rising ferritin with the
    timing met and ALT/AST results in the window that have no upper limit of normal."""
    screen = inp.assessment.iec_hs
    day = study_day(inp)
    if screen is None or screen.positive or not screen.ferritin_findings:
        return ()
    if day is None or day < SCREEN_FROM_DAY:
        return ()
    if screen.not_assessable:
        return ("M23 needs the upper limit of normal of ALT/AST results",)
    return ()
