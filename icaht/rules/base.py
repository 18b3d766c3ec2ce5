"""Shared pieces of the rule functions: alert construction and evidence phrases."""

from __future__ import annotations

from collections.abc import Sequence

from icaht.clinical_status import Unknown, active_infection
from icaht.early import SEVERE_ANC  # §2.1 / A1: ANC <= 500/uL; also §10 M03
from icaht.hematotox import Baseline, HematotoxResult
from icaht.record import Analyte, Infection, LabValue, active_crs
from icaht.rules.catalogue import RULES_BY_ID
from icaht.rules.facts import (
    at_or_below,
    current,
    day_label,
    study_day,
)
from icaht.rules.model import Alert, DataUsed, RuleInput, Severity, Suggestion
from icaht.settings import LATE_WINDOW_END

SUMMARY_MAX = 139  # CDS Hooks card summary: "<140 characters"
# [PROPOSED] day range in which a missing current count is reported as "not evaluable": day 0
# to the end of the default late-ICAHT window (§3.2: day 100).
MONITORING_LAST_DAY = LATE_WINDOW_END
HIGH_GRADE = 3  # §10 M09, M11/M19 orders, M16, M26: ICAHT grade >= 3


def make_alert(
    inp: RuleInput,
    rule_id: str,
    *,
    summary: str,
    rationale: str,
    recommendation: str,
    data: Sequence[DataUsed],
    suggestions: Sequence[Suggestion] = (),
    severity: Severity | None = None,
) -> Alert:
    """An alert carrying the rule's source and evidence level from the catalogue."""
    rule = RULES_BY_ID[rule_id]
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 3].rstrip() + "..."
    return Alert(
        rule_id=rule_id,
        severity=severity or rule.severity,
        summary=summary,
        rationale=rationale,
        recommendation=recommendation,
        source=rule.source,
        evidence_level=rule.evidence_level,
        data_used=tuple(data),
        suggestions=tuple(suggestions),
    )


def monitored(inp: RuleInput) -> bool:
    """Day 0..100: a missing current count is worth reporting as not evaluable."""
    day = study_day(inp)
    return day is not None and 0 <= day <= MONITORING_LAST_DAY


def missing_current(inp: RuleInput, rule_id: str, analyte: Analyte, label: str) -> tuple[str, ...]:
    """'M03 needs a current ANC (none in the last 2 days)' when absent in days 0..100."""
    if not monitored(inp) or current(inp, analyte) is not None:
        return ()
    age = inp.settings.current_count_max_age_days
    return (f"{rule_id} needs a current {label} (none on the evaluation day or {age} days before)",)


def severe_anc_now(inp: RuleInput) -> LabValue | None:
    """The current ANC when it is <= 500/uL (A1 inclusive reading)."""
    anc = current(inp, Analyte.ANC)
    return anc if anc is not None and at_or_below(anc, SEVERE_ANC) else None


def hematotox_phrase(inp: RuleInput, ht: HematotoxResult | None = None) -> str:
    """'CAR-HEMATOTOX 3, high risk' of the current course (or of `ht`), with the §6.4 scope
    note when the disease is outside the score's validated scope."""
    ht = ht or inp.assessment.hematotox
    scope = inp.assessment.hematotox_scope
    note = f"; note: {scope}" if scope else ""
    if ht is None:
        return "CAR-HEMATOTOX not computed"
    if ht.missing:
        return (
            f"CAR-HEMATOTOX {ht.lower}-{ht.upper} (missing {', '.join(ht.missing)}), {ht.risk} "
            f"risk{note}"
        )
    return f"CAR-HEMATOTOX {ht.score}, {ht.risk} risk{note}"


def hematotox_data(
    inp: RuleInput, ht: HematotoxResult | None = None, baseline: Baseline | None = None
) -> list[DataUsed]:
    if ht is None:
        ht, baseline = inp.assessment.hematotox, inp.assessment.baseline
    data = [DataUsed("CAR-HEMATOTOX", f"{ht.score} ({ht.risk})" if ht else "none")]
    if baseline is not None:
        data += [
            DataUsed(f"baseline {a.value}", f"{v.value:g}", v.day, v.source_id)
            for a, v in baseline.values.items()
        ]
    return data


def hematotox_high(inp: RuleInput) -> bool:
    ht = inp.assessment.hematotox
    return ht is not None and ht.risk == "high"


def hematotox_undecided(inp: RuleInput) -> str | None:
    """'CAR-HEMATOTOX baseline ferritin, crp' when the risk is indeterminate."""
    ht = inp.assessment.hematotox
    if ht is not None and ht.risk == "indeterminate":
        return "complete CAR-HEMATOTOX baseline (missing " + ", ".join(ht.missing) + ")"
    return None


def early_grade(inp: RuleInput) -> int | None:
    n = inp.assessment.neutropenia
    return None if n is None else n.early.grade


def late_grade(inp: RuleInput) -> int | None:
    n = inp.assessment.neutropenia
    return None if n is None else n.late.grade


def early_phrase(inp: RuleInput) -> str:
    n = inp.assessment.neutropenia
    return "early ICAHT not graded" if n is None else n.early.explanation()


def late_phrase(inp: RuleInput) -> str:
    n = inp.assessment.neutropenia
    return "late ICAHT not graded" if n is None else n.late.explanation()


def grade_data(inp: RuleInput) -> list[DataUsed]:
    n = inp.assessment.neutropenia
    if n is None:
        return []
    early = f"{n.early.grade} ({n.early.status}{', lower bound' if n.early.lower_bound else ''})"
    late = f"{n.late.grade} ({n.late.status}{'' if n.late.confirmed else ', unconfirmed'})"
    return [
        DataUsed("early ICAHT grade", early, as_of_evaluation=True),
        DataUsed("late ICAHT grade", late, as_of_evaluation=True),
    ]


def _t_grade(grade: int, status: str, lower_bound: bool = False) -> str:
    return f"{grade}{'+' if lower_bound else ''} ({status})"


def t_icaht_phrase(inp: RuleInput) -> str | None:
    """'T-ICAHT early grade 3 (final), late grade 2 (provisional, unconfirmed)' of the course
    (docs/clinical §18, issue 19), for the platelet rules' rationale (M14, M15, M19); None when
    the platelets have no T-ICAHT grade. Built from the result's fields (one short clause; the
    status card carries the evidence)."""
    result = inp.assessment.thrombocytopenia
    if result is None:
        return None
    early, late = result.early, result.late
    parts = []
    if early.grade is not None:
        parts.append(f"early grade {_t_grade(early.grade, early.status, early.lower_bound)}")
    if late.grade is not None:
        unconfirmed = not late.confirmed and late.grade > 0
        confirmation = ", unconfirmed" if unconfirmed else ""
        parts.append(f"late grade {late.grade} ({late.status}{confirmation})")
    return "T-ICAHT " + ", ".join(parts) if parts else None


def with_t_icaht(inp: RuleInput, rationale: str) -> str:
    """The rationale with the course's T-ICAHT grade appended when it has one:
    'Platelets 8 x10^9/L on day 40 <= 10 x10^9/L; T-ICAHT early grade 4 (final).'"""
    phrase = t_icaht_phrase(inp)
    if phrase is None:
        return rationale
    return f"{rationale.rstrip().removesuffix('.')}; {phrase}."


def t_icaht_data(inp: RuleInput) -> list[DataUsed]:
    """The T-ICAHT grades a platelet rule cites, as of the evaluation date (not in the concern
    key: the same counts on another day keep the key, docs/decisions/0007)."""
    result = inp.assessment.thrombocytopenia
    if result is None:
        return []
    early, late = result.early, result.late
    data = []
    if early.grade is not None:
        value = _t_grade(early.grade, early.status, early.lower_bound)
        data.append(DataUsed("early T-ICAHT grade", value, as_of_evaluation=True))
    if late.grade is not None:
        unconfirmed = not late.confirmed and late.grade > 0
        value = _t_grade(late.grade, late.status) + (", unconfirmed" if unconfirmed else "")
        data.append(DataUsed("late T-ICAHT grade", value, as_of_evaluation=True))
    return data


def severe_icaht_now(inp: RuleInput) -> tuple[str, LabValue] | None:
    """ICAHT grade >= 3 (early or late) with the current ANC still <= 500/uL."""
    early, late = early_grade(inp) or 0, late_grade(inp) or 0
    anc = severe_anc_now(inp)
    if max(early, late) < HIGH_GRADE or anc is None:
        return None
    which = f"early ICAHT grade {early}" if early >= late else f"late ICAHT grade {late}"
    return which, anc


def crs_note(inp: RuleInput) -> str:
    """Reminder of M04 when CRS is active today."""
    period = active_crs(inp.record.timeline, inp.evaluation_date)
    if period is None:
        return ""
    return (
        " CRS is active: centres commonly avoid G-CSF during ongoing CRS unless there is severe"
        " infection with neutropenia (M04)."
    )


def infection_today(inp: RuleInput) -> Infection | Unknown | None:
    """The infection active on the evaluation day (icaht.clinical_status.active_infection)."""
    return active_infection(inp.record.timeline, inp.evaluation_date)


INFECTION_WORDS = {
    "sepsis": "sepsis",
    "bacteraemia": "bacteraemia",
    "pneumonia": "pneumonia",
    "febrile_neutropenia": "febrile neutropenia",
    "invasive_fungal": "invasive fungal infection",
    "viral": "viral infection",
    "positive_blood_culture": "positive blood culture",
    "other": "infection",
}


def infection_phrase(inp: RuleInput, infection: Infection) -> str:
    """'sepsis since day 9', 'positive blood culture on day 12'."""
    words = INFECTION_WORDS[infection.kind]
    if infection.kind == "positive_blood_culture":
        return f"{words} on {day_label(inp, infection.start)}"
    return f"{words} since {day_label(inp, infection.start)}"
