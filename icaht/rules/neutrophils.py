"""Neutropenia rules: G-CSF (M02, M03, M06, M07), prophylaxis by risk (M08, M09), refractory
neutropenia (M16, M17, M25, M26) and the pre-infusion risk card (M24). docs/clinical §10."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from icaht.clinical_status import corticosteroid_days, drugs_between, on_supportive
from icaht.early import EARLY_WINDOW_END, SEVERE_ANC
from icaht.hematotox import Baseline, HematotoxResult
from icaht.phenotype import (  # §5.1: M06 reads the phenotype's dip and recovery
    DIP_ANC,
    RECOVERY_ANC,
)
from icaht.record import (
    Analyte,
    DrugCourse,
    GcsfExposure,
    Infection,
    LabValue,
    StoredStemCells,
    SupportiveGroup,
    daily_lowest,
)
from icaht.rules.base import (
    HIGH_GRADE,
    crs_note,
    early_grade,
    early_phrase,
    grade_data,
    hematotox_data,
    hematotox_high,
    hematotox_phrase,
    hematotox_undecided,
    infection_phrase,
    infection_today,
    late_phrase,
    make_alert,
    missing_current,
    severe_anc_now,
)
from icaht.rules.facts import (
    above,
    at_or_below,
    below,
    current,
    day_span,
    describe,
    describe_gcsf,
    describe_run,
    gcsf_covering,
    gcsf_exposed_since_day_minus_7,
    gcsf_ongoing,
    gcsf_run_until,
    gcsf_used,
    known_values,
    run_ending_now,
    study_day,
    used,
)
from icaht.rules.model import Alert, DataUsed, RuleInput, Suggestion
from icaht.settings import LATE_WINDOW_END

PROPHYLACTIC_GCSF_FIRST_DAY = 2  # §10 M02, CONS-T3: "G-CSF from day +2"
# C15 (§17): M02 is not due when the current ANC is > 1500/uL
PROPHYLAXIS_ANC_ABOVE = 1500
THERAPEUTIC_GCSF_FROM_DAY = 7  # §10 M03, S-HIT: "not recovered to >500/mm3 by day 7 to 10"
BIPHASIC_ANC = 750  # §10 M06, S-HIT: "after a prior recovery, ANC < 750/uL"
BOOST_AFTER_DAY = 14  # §10 M16: "day > 14"
PERSISTING_GRADE = 4  # §10 M17: "Grade 4 ICAHT persisting beyond day +30"
LATE_DAY = EARLY_WINDOW_END  # §1.2: late ICAHT after the early window, day +30 (M17, M18, M25, M26)
ANTIFUNGAL_HISTORY_LAST_DAY = LATE_WINDOW_END  # §17 C16: M09's history arm runs day 0 to day +100
# §10 M09 (S-NONCAN: "prolonged corticosteroid exposure"; §10 "e.g. > 3 days"): more than 3
# distinct days covered by a corticosteroid record in the 14 days up to the evaluation day
# [PROPOSED window: the steroids given for CRS/ICANS in the first two weeks, or bridging
# steroids just before lymphodepletion, docs/decisions/0022].
PROLONGED_STEROID_DAYS = 3
STEROID_WINDOW_DAYS = 14
# [PROPOSED] a daily prophylactic dose (levofloxacin, posaconazole, micafungin) given in the last
# 2 days counts as on record (today's dose may not be charted yet), as for G-CSF and M10.
PROPHYLAXIS_GRACE_DAYS = 2

GCSF_SUGGESTION = Suggestion(
    "Order G-CSF (filgrastim 5 µg/kg once daily)", "create", "gcsf", product="filgrastim"
)
MARROW_SUGGESTION = Suggestion(
    "Order bone marrow aspirate and biopsy", "create", "marrow_biopsy", product=None
)


# C15: what "no G-CSF" means for M03 and M06
NOT_COVERED = (
    "no G-CSF coverage today (no short-acting dose today or yesterday, no long-acting dose in "
    "the last 14 days, no active order or statement)"
)


def _severe(value: LabValue) -> bool:
    return at_or_below(value, SEVERE_ANC)


# -- M02 ------------------------------------------------------------------------------------------


def _m02_window(inp: RuleInput) -> bool:
    """Days +2 .. `prophylactic_gcsf_last_day` (C15: +5; S-HAEM Table 3: day +2, or +5)."""
    day = study_day(inp)
    last = inp.settings.prophylactic_gcsf_last_day
    return day is not None and PROPHYLACTIC_GCSF_FIRST_DAY <= day <= last


def _m02_due(inp: RuleInput) -> bool:
    """In the window, no G-CSF since day -7 and the current ANC not above 1500/uL (C15). An
    unknown current ANC does not stop it: the card is a reminder, not an order."""
    if not _m02_window(inp) or gcsf_exposed_since_day_minus_7(inp):
        return False
    anc = current(inp, Analyte.ANC)
    return anc is None or not above(anc, PROPHYLAXIS_ANC_ABOVE)


def _anc_phrase(inp: RuleInput) -> str:
    anc = current(inp, Analyte.ANC)
    return (
        "no current ANC"
        if anc is None
        else f"{describe(inp, anc)} (not above {PROPHYLAXIS_ANC_ABOVE})"
    )


def _anc_context(anc: LabValue | None) -> list[DataUsed]:
    """The current ANC M02 checked, for the audit only: it moves from day to day, so it is no
    part of the card's concern (an overridden M02 stays away while the risk is unchanged)."""
    if anc is None:
        return []
    return [replace(used(anc), as_of_evaluation=True)]


def m02_prophylactic_gcsf(inp: RuleInput) -> Alert | None:
    if not (_m02_due(inp) and hematotox_high(inp)):
        return None
    anc = current(inp, Analyte.ANC)
    return make_alert(
        inp,
        "M02",
        summary="High ICAHT risk (CAR-HEMATOTOX high): consider prophylactic G-CSF from day +2",
        rationale=(
            f"{hematotox_phrase(inp)}; day {study_day(inp)}; {_anc_phrase(inp)}; no G-CSF since "
            "day -7 on record (given, active order or statement)."
        ),
        recommendation=(
            "Consider G-CSF from day +2 (5 µg/kg once daily; day +5 is an alternative start) in "
            "patients at high risk of ICAHT; probably not necessary when the risk is low."
            + crs_note(inp)
        ),
        data=[*hematotox_data(inp), *_anc_context(anc)],
        suggestions=(GCSF_SUGGESTION,),
    )


def m02_needs(inp: RuleInput) -> tuple[str, ...]:
    undecided = hematotox_undecided(inp)
    if _m02_due(inp) and undecided:
        return (f"M02 needs a {undecided}",)
    return ()


# -- M03 ------------------------------------------------------------------------------------------


def m03_therapeutic_gcsf(inp: RuleInput) -> Alert | None:
    anc = severe_anc_now(inp)
    if anc is None or gcsf_ongoing(inp) is not None:
        return None
    anc_day = study_day(inp, anc.day)
    status = infection_today(inp)
    infection = status if isinstance(status, Infection) else None
    early = anc_day is not None and anc_day < THERAPEUTIC_GCSF_FROM_DAY
    if anc_day is None or anc_day < 0 or (early and infection is None):
        return None
    run = run_ending_now(inp, Analyte.ANC, _severe)
    why = describe_run(inp, run) + (
        f"; active infection: {infection_phrase(inp, infection)}" if infection else ""
    )
    return make_alert(
        inp,
        "M03",
        summary=f"Severe neutropenia (ANC {run[-1].value:g}/µL, day {anc_day}): consider G-CSF",
        rationale=f"{why}; {early_phrase(inp)}; {NOT_COVERED}.",
        recommendation=(
            "Consider G-CSF 5 µg/kg/day until ANC > 500/µL; consider a dose increase if there "
            "is no response." + crs_note(inp)
        ),
        data=[*map(used, run), *grade_data(inp), *_infection_data(infection)],
        suggestions=(GCSF_SUGGESTION,),
    )


def _infection_data(infection: Infection | None) -> list[DataUsed]:
    if infection is None:
        return []
    return [DataUsed("active infection", infection.kind, infection.start, infection.source_id)]


def m03_needs(inp: RuleInput) -> tuple[str, ...]:
    return missing_current(inp, "M03", Analyte.ANC, "ANC")


# -- M06 ------------------------------------------------------------------------------------------


def _prior_recovery(inp: RuleInput, before: LabValue) -> tuple[LabValue, LabValue] | None:
    """Measured dip < 1000/uL then recovery > 1500/uL (day >= 0), both before `before`."""
    day0 = inp.assessment.day0
    values = [
        v
        for v in daily_lowest(known_values(inp, Analyte.ANC))
        if day0 is not None and day0 <= v.day < before.day
    ]
    dip = next((v for v in values if below(v, DIP_ANC)), None)
    if dip is None:
        return None
    recovery = next((v for v in values if v.day > dip.day and above(v, RECOVERY_ANC)), None)
    return None if recovery is None else (dip, recovery)


def m06_biphasic(inp: RuleInput) -> Alert | None:
    anc = current(inp, Analyte.ANC)
    if anc is None or not below(anc, BIPHASIC_ANC) or gcsf_ongoing(inp) is not None:
        return None
    phases = _prior_recovery(inp, anc)
    if phases is None:
        return None
    dip, recovery = phases
    return make_alert(
        inp,
        "M06",
        summary=f"Second neutrophil dip after recovery (ANC {anc.value:g}/µL): consider daily "
        "G-CSF",
        rationale=(
            f"{describe(inp, dip)}, recovery to {describe(inp, recovery)}, now {describe(inp, anc)}"
            f" (below {BIPHASIC_ANC}): late biphasic neutropenia; {NOT_COVERED}."
        ),
        recommendation=(
            "Consider daily G-CSF until ANC > 1500/µL (a common approach); transient responses "
            "are common." + crs_note(inp)
        ),
        data=[used(dip), used(recovery), used(anc)],
        suggestions=(GCSF_SUGGESTION,),
    )


def m06_needs(inp: RuleInput) -> tuple[str, ...]:
    return missing_current(inp, "M06", Analyte.ANC, "ANC")


# -- M07 and the refractory family ----------------------------------------------------------------


def refractory(inp: RuleInput) -> tuple[LabValue, str, list[DataUsed]] | None:
    """M07 definition: current ANC <= 500/uL after >= 7 consecutive G-CSF-covered days (day 0
    on) ending on the ANC day or the day before. A long-acting dose covers 14 days (C15), so one
    pegfilgrastim dose followed by ANC <= 500/uL 6 or more days later is non-response too
    (docs/decisions/0014). Returns the ANC, a phrase and the data used."""
    anc = severe_anc_now(inp)
    if anc is None:
        return None
    run = gcsf_run_until(inp, anc.day)
    if len(run) < inp.settings.gcsf_refractory_days:
        return None
    exposures = _exposures_over(inp, run)
    # single short-acting doses speak for themselves (the day span); courses and long-acting
    # doses say what covered the days
    details = [
        describe_gcsf(inp, e) for e in exposures if e.acting == "long" or e.last_dose != e.start
    ]
    phrase = (
        f"{describe(inp, anc)} after G-CSF on {day_span(inp, run)} ({len(run)} consecutive days"
        + "".join(f"; {d}" for d in details)
        + ")"
    )
    data = [
        used(anc),
        DataUsed("G-CSF days", str(len(run)), run[-1]),
        *(gcsf_used(inp, e) for e in exposures),
    ]
    return anc, phrase, data


def _exposures_over(inp: RuleInput, run: tuple[date, ...]) -> list[GcsfExposure]:
    """The G-CSF records covering a run of days, oldest first, each once."""
    found = (gcsf_covering(inp, day) for day in run)
    return list(dict.fromkeys(e for e in found if e is not None))


def stored_cells(inp: RuleInput) -> tuple[StoredStemCells, ...]:
    """Stored stem cells on record that are still available (M16, M17; issue 14)."""
    return tuple(s for s in inp.record.timeline.stored_stem_cells if s.available)


def _describe_cells(inp: RuleInput, cells: StoredStemCells) -> str:
    """'stored CD34+ stem cells on record (BiologicallyDerivedProduct/7, collected 2026-07-03)'."""
    details = [
        *([cells.source_id] if cells.source_id else []),
        *([f"collected {cells.day.isoformat()}"] if cells.day else []),
    ]
    return "stored CD34+ stem cells on record" + (f" ({', '.join(details)})" if details else "")


def _boost_phrase(inp: RuleInput) -> str:
    cells = stored_cells(inp)
    if cells:
        return f" {_describe_cells(inp, cells[-1]).capitalize()}: consider a stem-cell boost (M16)."
    return (
        " No stored stem cells on record (check with the cell-processing laboratory); if "
        "cryopreserved CD34+ cells are available, consider a stem-cell boost (M16)."
    )


def m07_gcsf_refractory(inp: RuleInput) -> Alert | None:
    found = refractory(inp)
    if found is None:
        return None
    anc, phrase, data = found
    return make_alert(
        inp,
        "M07",
        summary=f"No response to 7+ days of G-CSF (ANC {anc.value:g}/µL): consider marrow "
        "evaluation",
        rationale=f"{phrase}; {early_phrase(inp)}.",
        recommendation=(
            "Consider bone-marrow evaluation (cellularity, morphology, cytogenetics) after "
            "reversible causes (drugs, infection, deficiencies) are checked: lack of G-CSF "
            "response suggests an aplastic phenotype." + _boost_phrase(inp) + " There are no "
            "data on stopping G-CSF after 7-10 days of non-response."
        ),
        data=[*data, *grade_data(inp)],
        suggestions=(MARROW_SUGGESTION,),
    )


def m07_needs(inp: RuleInput) -> tuple[str, ...]:
    return missing_current(inp, "M07", Analyte.ANC, "ANC")


def _m16_candidate(inp: RuleInput) -> tuple[LabValue, str, list[DataUsed]] | None:
    day = study_day(inp)
    if day is None or day <= BOOST_AFTER_DAY or (early_grade(inp) or 0) < HIGH_GRADE:
        return None
    return refractory(inp)


def m16_stem_cell_boost(inp: RuleInput) -> Alert | None:
    found = _m16_candidate(inp)
    cells = stored_cells(inp)
    if found is None or not cells:
        return None
    product = cells[-1]  # the latest collection on record
    _, phrase, data = found
    return make_alert(
        inp,
        "M16",
        summary="G-CSF-refractory ICAHT grade >= 3 with stored CD34+ cells: consider stem-cell "
        "boost",
        rationale=f"{early_phrase(inp)}; {phrase}; {_describe_cells(inp, product)}.",
        recommendation=(
            "Consider an autologous (or donor) CD34+ stem-cell boost without conditioning (median "
            "CD34+ dose 2.75-6.75 x10^6/kg; responses within 7-21 days), with a bone-marrow "
            "evaluation of cellularity beforehand."
        ),
        data=[
            *data,
            *grade_data(inp),
            DataUsed("stored stem cells", "available", product.day, product.source_id),
        ],
        suggestions=(MARROW_SUGGESTION,),
    )


def m16_needs(inp: RuleInput) -> tuple[str, ...]:
    return ()  # () = none on record: M16 stays quiet and M17 says so


def _persisting_grade4(inp: RuleInput) -> LabValue | None:
    """Day > 30, ANC still <= 500/uL, uncensored, and early grade 4 without ANC > 500 after day
    30, or a confirmed late grade 4 (§10 M17 proposed computable form)."""
    day, n, anc = study_day(inp), inp.assessment.neutropenia, severe_anc_now(inp)
    censoring = inp.assessment.censoring
    if day is None or day <= LATE_DAY or n is None or anc is None:
        return None
    if censoring is not None and censoring.day <= inp.evaluation_date:
        return None
    day0 = inp.assessment.day0
    late_values = [
        v for v in known_values(inp, Analyte.ANC) if (study_day(inp, v.day) or 0) > LATE_DAY
    ]
    early4 = n.early.grade == PERSISTING_GRADE and not any(
        above(v, SEVERE_ANC) for v in late_values
    )
    late4 = n.late.grade == PERSISTING_GRADE and n.late.confirmed
    return anc if day0 is not None and (early4 or late4) else None


def m17_donor_search(inp: RuleInput) -> Alert | None:
    anc = _persisting_grade4(inp)
    if anc is None or stored_cells(inp):
        return None
    return make_alert(
        inp,
        "M17",
        summary="Grade 4 ICAHT beyond day +30, no stored stem cells on record: consider a donor "
        "search",
        rationale=(
            f"{early_phrase(inp)}; {late_phrase(inp)}; now {describe(inp, anc)}; "
            "no stored (cryopreserved) stem cells on record: check with the cell-processing "
            "laboratory whether any are stored (a boost, M16, would come first)."
        ),
        recommendation=(
            "Consider checking for stored autologous or donor CD34+ cells (boost, M16) and "
            "initiating an allogeneic donor search; allo-HCT is an ultima ratio, typically 3-6 "
            "months after infusion, and an individual decision."
        ),
        data=[used(anc), *grade_data(inp), DataUsed("stored stem cells", "none on record")],
    )


def m17_needs(inp: RuleInput) -> tuple[str, ...]:
    return ()  # () = none on record: M17 fires and asks to check


def _late_refractory(inp: RuleInput) -> tuple[LabValue, str, list[DataUsed]] | None:
    day = study_day(inp)
    return refractory(inp) if day is not None and day > LATE_DAY else None


def m25_low_dose_steroids(inp: RuleInput) -> Alert | None:
    found = _late_refractory(inp)
    if found is None or inp.record.timeline.disease != "B-ALL":
        return None
    _, phrase, data = found
    return make_alert(
        inp,
        "M25",
        summary="B-ALL with G-CSF-refractory cytopenia after day +30: consider low-dose steroids",
        rationale=f"B-ALL; {phrase}.",
        recommendation=(
            "Consider low-dose prednisone (0.5 mg/kg/day), reported for refractory cytopenia "
            "after day +30 in B-ALL (lower level of evidence)."
        ),
        data=[*data, DataUsed("disease", "B-ALL")],
    )


def m25_needs(inp: RuleInput) -> tuple[str, ...]:
    if _late_refractory(inp) and inp.record.timeline.disease is None:
        return ("M25 needs the disease (B-ALL or not)",)
    return ()


def m26_high_dose_ivig(inp: RuleInput) -> Alert | None:
    found = _late_refractory(inp)
    n = inp.assessment.neutropenia
    if found is None or n is None or (n.late.grade or 0) < HIGH_GRADE or not n.late.confirmed:
        return None
    _, phrase, data = found
    return make_alert(
        inp,
        "M26",
        summary="Late refractory high-grade ICAHT: consider high-dose IVIG (reported)",
        rationale=f"{late_phrase(inp)}; {phrase}.",
        recommendation=(
            "Consider high-dose IVIG (2 g/kg over 4-5 days), reported for late refractory "
            "high-grade ICAHT (lower level of evidence)."
        ),
        data=[*data, *grade_data(inp)],
    )


def none_needed(inp: RuleInput) -> tuple[str, ...]:
    return ()


# -- M08, M09: prophylaxis by risk ----------------------------------------------------------------


def _severe_after_infusion(inp: RuleInput) -> LabValue | None:
    anc = severe_anc_now(inp)
    day = None if anc is None else study_day(inp, anc.day)
    return anc if day is not None and day >= 0 else None


def on_prophylaxis(inp: RuleInput, group: SupportiveGroup) -> DrugCourse | None:
    """M08, M09: the prophylaxis of `group` covering today (a dose in the last 2 days, an active
    order or a statement): the reminder stays quiet (docs/decisions/0022)."""
    return on_supportive(inp.record.timeline, group, inp.evaluation_date, PROPHYLAXIS_GRACE_DAYS)


def m08_antibacterial(inp: RuleInput) -> Alert | None:
    anc = _severe_after_infusion(inp)
    if anc is None or not hematotox_high(inp):
        return None
    if on_prophylaxis(inp, "antibacterial_prophylaxis") is not None:
        return None
    return make_alert(
        inp,
        "M08",
        summary=f"Severe neutropenia (ANC {anc.value:g}/µL), high risk: consider antibacterial "
        "prophylaxis",
        rationale=f"{describe(inp, anc)}; {hematotox_phrase(inp)}; no antibacterial "
        f"prophylaxis on record covering today (no dose in the last {PROPHYLAXIS_GRACE_DAYS} "
        "days, no active order or statement).",
        recommendation=(
            "Consider antibacterial prophylaxis (e.g. levofloxacin or ciprofloxacin) per "
            "institutional standards, with caution in MDR colonisation or high local MDR-GNB "
            "prevalence; not recommended in low-risk patients."
        ),
        data=[used(anc), *hematotox_data(inp), DataUsed("antibacterial prophylaxis", "none")],
    )


def m08_needs(inp: RuleInput) -> tuple[str, ...]:
    undecided = hematotox_undecided(inp)
    if _severe_after_infusion(inp) is not None and undecided:
        return (f"M08 needs a {undecided}",)
    if hematotox_high(inp):
        return missing_current(inp, "M08", Analyte.ANC, "ANC")
    return ()


def _history_risks(inp: RuleInput) -> list[str]:
    """§10 M09 / §17 C16: mould-risk history that calls for prophylaxis whatever the ANC."""
    timeline = inp.record.timeline
    risks = []
    if timeline.prior_allo_hct is True:
        risks.append("prior allo-HCT")
    if timeline.prior_invasive_mould_infection is True:
        risks.append("prior invasive mould infection")
    return risks


def _history_data(inp: RuleInput) -> list[DataUsed]:
    return [DataUsed(item, "yes") for item in _history_risks(inp)]


def _in_antifungal_window(inp: RuleInput) -> bool:
    """§17 C16: the history arm of M09 runs from day 0 to day +100."""
    day = study_day(inp)
    return day is not None and 0 <= day <= ANTIFUNGAL_HISTORY_LAST_DAY


def _prolonged_steroids(inp: RuleInput) -> tuple[int, tuple[DrugCourse, ...]] | None:
    """§10 M09 "prolonged corticosteroids (e.g. > 3 days)": > 3 distinct days covered in the 14
    days up to the evaluation day; the count and the records, or None."""
    until = inp.evaluation_date
    since = until - timedelta(days=STEROID_WINDOW_DAYS - 1)
    timeline = inp.record.timeline
    count = corticosteroid_days(timeline, since, until)
    if count <= PROLONGED_STEROID_DAYS:
        return None
    return count, drugs_between(timeline, "corticosteroid", since, until)


def _m09_reasons(
    inp: RuleInput,
) -> tuple[LabValue | None, list[str], list[DataUsed]]:
    """(current severe ANC or None, the reasons M09 fires for, their steroid data); no reasons:
    it does not fire.

    §17 C16: prior allo-HCT or prior invasive mould infection on days 0..+100 whatever the ANC;
    early ICAHT grade >= 3 with the current ANC <= 500/µL (day >= 0) as before; §10 M09:
    prolonged corticosteroids (> 3 days in the last 14) with the current ANC <= 500/µL."""
    anc = _severe_after_infusion(inp)
    reasons = _history_risks(inp) if _in_antifungal_window(inp) else []
    steroid_data: list[DataUsed] = []
    if anc is not None and (early_grade(inp) or 0) >= HIGH_GRADE:
        reasons.insert(0, early_phrase(inp))
    steroids = _prolonged_steroids(inp) if anc is not None else None
    if steroids is not None:
        count, courses = steroids
        reasons.append(
            f"corticosteroids on {count} of the last {STEROID_WINDOW_DAYS} days (more than "
            f"{PROLONGED_STEROID_DAYS})"
        )
        steroid_data = [
            DataUsed("corticosteroid", c.name or "corticosteroid", c.start, c.source_id)
            for c in courses
        ]
        steroid_data.append(
            DataUsed(
                "corticosteroid days", f"{count} of {STEROID_WINDOW_DAYS}", as_of_evaluation=True
            )
        )
    return anc, reasons, steroid_data


def m09_antifungal(inp: RuleInput) -> Alert | None:
    anc, risks, steroid_data = _m09_reasons(inp)
    if not risks or on_prophylaxis(inp, "antifungal") is not None:
        return None
    none_on_record = (
        f"no antifungal prophylaxis on record covering today (no dose in the last "
        f"{PROPHYLAXIS_GRACE_DAYS} days, no active order or statement)"
    )
    if anc is not None:
        summary = (
            f"Severe neutropenia (ANC {anc.value:g}/µL) with mould risk: consider antifungal "
            "prophylaxis"
        )
        rationale = f"{describe(inp, anc)}; {'; '.join(risks)}; {none_on_record}."
    else:
        summary = f"Mould risk after CAR-T ({', '.join(risks)}): consider antifungal prophylaxis"
        rationale = f"Day {study_day(inp)}; {'; '.join(risks)}; {none_on_record}."
    return make_alert(
        inp,
        "M09",
        summary=summary,
        rationale=rationale,
        recommendation=(
            "Consider antifungal prophylaxis with micafungin or posaconazole (or another "
            "mould-active azole); consider fluconazole when the risk is yeast only."
        ),
        data=[
            *([used(anc)] if anc is not None else []),
            *grade_data(inp),
            *_history_data(inp),
            *steroid_data,
        ],
    )


def m09_needs(inp: RuleInput) -> tuple[str, ...]:
    timeline = inp.record.timeline
    if _severe_after_infusion(inp) is None or _m09_reasons(inp)[1]:
        return ()
    if on_prophylaxis(inp, "antifungal") is not None:
        return ()
    unknown = [
        name
        for name, value in (
            ("prior allo-HCT", timeline.prior_allo_hct),
            ("prior invasive mould infection", timeline.prior_invasive_mould_infection),
        )
        if value is None
    ]
    if not unknown:
        return ()
    return ("M09 needs the mould risk factors " + ", ".join(unknown) + " (yes or no)",)


# -- M24 ------------------------------------------------------------------------------------------


PreInfusion = tuple[str, list[DataUsed], HematotoxResult | None, Baseline | None]


def _pre_infusion_course(inp: RuleInput) -> PreInfusion | None:
    """The course before its infusion on the evaluation day: what it is, its data, and its
    pre-infusion CAR-HEMATOTOX with the baseline (icaht.assessment, §6.3). A planned infusion
    later than today (issue 14); else a leukapheresis/lymphodepletion after the last infusion,
    for up to `preparation_lookback_days` (as M01); else, retrospectively, a recorded infusion
    whose day 0 is after the evaluation day."""
    a, today, timeline = inp.assessment, inp.evaluation_date, inp.record.timeline
    planned = timeline.planned_infusion
    if a.planned_day0 is not None and planned is not None:
        if today >= a.planned_day0:
            return None  # day 0 reached: "before infusion" is over
        days = (a.planned_day0 - today).days
        what = f"CAR-T infusion planned on {a.planned_day0.isoformat()} (in {days} days)"
        product = planned.product or "CAR-T"
        data = [DataUsed("planned infusion", product, a.planned_day0, planned.source_id)]
        return what, data, a.planned_hematotox, a.planned_baseline
    prep = timeline.preparation
    lookback = inp.settings.preparation_lookback_days
    if (
        prep is not None
        and (a.day0 is None or prep.day > a.day0)
        and 0 <= (today - prep.day).days <= lookback
    ):
        what = f"course in preparation ({prep.step} on {prep.day.isoformat()}, no infusion yet)"
        data = [DataUsed(prep.step, "course in preparation", prep.day, prep.source_id)]
        return what, data, a.planned_hematotox, a.planned_baseline
    day = study_day(inp)
    if day is not None and day < 0:
        return f"day {day} (before infusion)", [], a.hematotox, a.baseline
    return None


def m24_pre_infusion_risk(inp: RuleInput) -> Alert | None:
    course = _pre_infusion_course(inp)
    if course is None:
        return None
    what, data, ht, baseline = course
    if ht is None or ht.risk != "high":
        return None
    return make_alert(
        inp,
        "M24",
        summary="CAR-HEMATOTOX high before infusion: consider measures against ICAHT and "
        "infections",
        rationale=f"{hematotox_phrase(inp, ht)}; {what}.",
        recommendation=(
            "Consider the options for a high risk of ICAHT and infections: G-CSF from day +2 "
            "(M02), a baseline bone-marrow evaluation, a back-up stem-cell collection, and "
            "bendamustine lymphodepletion (less myelosuppressive in some series)."
        ),
        data=[*hematotox_data(inp, ht, baseline), *data],
    )


def m24_needs(inp: RuleInput) -> tuple[str, ...]:
    course = _pre_infusion_course(inp)
    if course is None:
        return ()
    ht = course[2]
    if ht is None:
        return ("M24 needs a lymphodepletion or planned infusion date (CAR-HEMATOTOX baseline)",)
    if ht.risk == "indeterminate":
        return (f"M24 needs a complete CAR-HEMATOTOX baseline (missing {', '.join(ht.missing)})",)
    return ()
