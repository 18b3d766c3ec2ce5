"""`evaluate_rules`: run the rules of one hook, keep one alert per concern, order them.

Precedence (docs/decisions/0005): when a rule fires, the rules in its catalogue `subsumes` list
are dropped (same concern, one card): M16 > M07 > M06 > M03 > M02 (G-CSF and refractory
neutropenia; M07 and M16 carry the marrow-biopsy suggestion, so they also drop M18); M18 > M19
(the marrow card includes the work-up). Alerts are then ordered critical > warning > info, then
by rule id. A rule whose data are missing does not fire; it is listed in `not_evaluable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from icaht.rules import neutrophils, supportive, transfusion
from icaht.rules.catalogue import RULES, RULES_BY_ID
from icaht.rules.model import SEVERITY_RANK, Alert, NotEvaluable, RuleInput, RulesResult


class Evaluator(NamedTuple):
    """The two pure functions of one rule: its check and the data it would need."""

    check: Callable[[RuleInput], Alert | None]
    needs: Callable[[RuleInput], tuple[str, ...]]


EVALUATORS: dict[str, Evaluator] = {
    "M01": Evaluator(transfusion.m01_irradiated_products, transfusion.m01_needs),
    "M02": Evaluator(neutrophils.m02_prophylactic_gcsf, neutrophils.m02_needs),
    "M03": Evaluator(neutrophils.m03_therapeutic_gcsf, neutrophils.m03_needs),
    "M04": Evaluator(supportive.m04_gcsf_in_crs, supportive.m04_needs),
    "M05": Evaluator(supportive.m05_avoid_gmcsf, neutrophils.none_needed),
    "M06": Evaluator(neutrophils.m06_biphasic, neutrophils.m06_needs),
    "M07": Evaluator(neutrophils.m07_gcsf_refractory, neutrophils.m07_needs),
    "M08": Evaluator(neutrophils.m08_antibacterial, neutrophils.m08_needs),
    "M09": Evaluator(neutrophils.m09_antifungal, neutrophils.m09_needs),
    "M10": Evaluator(supportive.m10_antiviral, supportive.m10_needs),
    "M11": Evaluator(supportive.m11_pjp, supportive.m11_needs),
    "M12": Evaluator(supportive.m12_ivig, supportive.m12_needs),
    "M13": Evaluator(transfusion.m13_rbc_threshold, transfusion.m13_needs),
    "M14": Evaluator(transfusion.m14_platelet_threshold, transfusion.m14_needs),
    "M15": Evaluator(transfusion.m15_tpo_ra, transfusion.m15_needs),
    "M16": Evaluator(neutrophils.m16_stem_cell_boost, neutrophils.m16_needs),
    "M17": Evaluator(neutrophils.m17_donor_search, neutrophils.m17_needs),
    "M18": Evaluator(supportive.m18_marrow, neutrophils.none_needed),
    "M19": Evaluator(supportive.m19_cytopenia_workup, supportive.m19_needs),
    "M20": Evaluator(supportive.m20_coagulopathy, supportive.m20_needs),
    "M21": Evaluator(supportive.m21_anticoagulation, supportive.m21_needs),
    "M22": Evaluator(transfusion.m22_iron_overload, transfusion.m22_needs),
    "M23": Evaluator(supportive.m23_iec_hs, supportive.m23_needs),
    "M24": Evaluator(neutrophils.m24_pre_infusion_risk, neutrophils.m24_needs),
    "M25": Evaluator(neutrophils.m25_low_dose_steroids, neutrophils.m25_needs),
    "M26": Evaluator(neutrophils.m26_high_dose_ivig, neutrophils.none_needed),
}


def _check_input(inp: RuleInput) -> None:
    """The assessment must describe the same patient on the same evaluation date."""
    if inp.assessment.patient_id != inp.record.patient_id:
        raise ValueError("assessment and record belong to different patients")
    if inp.assessment.evaluation_date != inp.evaluation_date:
        raise ValueError(
            "the assessment must be computed for the same evaluation date "
            f"({inp.assessment.evaluation_date} != {inp.evaluation_date})"
        )


# A course in preparation (apheresis or lymphodepletion, or a planned infusion, no infusion yet)
# has no day 0: only the irradiated-products window (docs/clinical §10 M01, CONS-T3), HSV/VZV
# prophylaxis from lymphodepletion (§10 M10) and the pre-infusion risk card (§10 M24: "before
# LD") reach before it; every other rule is about the days after an infusion.
PRE_INFUSION_RULES = frozenset({"M01", "M10", "M24"})


def _quiet(inp: RuleInput) -> bool:
    """No CAR-T on record, nor in preparation or planned (docs/design.md §4: most charts), or death
    on/before today."""
    death = inp.assessment.death_date
    if death is not None and death <= inp.evaluation_date:
        return True
    planned = inp.record.timeline.preparation is not None or inp.assessment.planned_day0
    return inp.assessment.day0 is None and not planned


def _applies(rule_id: str, inp: RuleInput) -> bool:
    return inp.assessment.day0 is not None or rule_id in PRE_INFUSION_RULES


def evaluate_rules(rule_input: RuleInput) -> RulesResult:
    """Fired alerts (one per concern, critical > warning > info, then id) and the rules of this
    hook that could not be evaluated for lack of data."""
    _check_input(rule_input)
    if _quiet(rule_input):
        return RulesResult((), ())
    fired: list[Alert] = []
    missing: list[NotEvaluable] = []
    for rule in RULES:
        if rule_input.hook not in rule.hooks or not _applies(rule.id, rule_input):
            continue
        evaluator = EVALUATORS[rule.id]
        alert = evaluator.check(rule_input)
        if alert is not None:
            fired.append(alert)
        missing += [NotEvaluable(rule.id, needs) for needs in evaluator.needs(rule_input)]
    dropped = {sub for a in fired for sub in RULES_BY_ID[a.rule_id].subsumes}
    kept = [a for a in fired if a.rule_id not in dropped]
    kept.sort(key=lambda a: (SEVERITY_RANK[a.severity], a.rule_id))
    fired_ids = {a.rule_id for a in fired}
    return RulesResult(
        alerts=tuple(kept),
        not_evaluable=tuple(m for m in missing if m.rule_id not in fired_ids),
        suppressed=tuple(sorted(fired_ids & dropped)),
    )
