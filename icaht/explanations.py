"""The sentences that explain a grade or a score, in one wording for the status card, the SMART
assessment API and the cohort tables (issue 15: one home for each phrase; before, the card and
the API worded the same facts twice and drifted apart).

Pure: engine results in, plain text out (no markup: the card template escapes and formats it).
The early and late N-ICAHT sentences are the results' own `explanation()` (icaht/early.py,
icaht/late.py), which the alerts quote too; this module words everything else a reader is told
about a grade or a score, and says numbers with their units in one spelling.
"""

from __future__ import annotations

from icaht.assessment import Assessment
from icaht.ctcae import CtcaeGrade
from icaht.daygrid import FILLED, INTERPOLATED
from icaht.early import EARLY_WINDOW_END, EarlyResult
from icaht.easix import EasixResult
from icaht.hematotox import HematotoxResult
from icaht.neutropenia import NeutropeniaResult
from icaht.series import day_runs
from icaht.settings import PHENOTYPE_WINDOW_END
from icaht.thrombocytopenia import (
    BELOW_20,
    BELOW_50,
    BELOW_100,
    RECOVERY_PLATELETS,
    TEarlyResult,
    ThrombocytopeniaResult,
    TLateResult,
)

CTCAE_UNITS = {  # canonical units of the engine (icaht/record.py), as clinicians write them
    "Neutrophil count decreased": "/µL",
    "Platelet count decreased": "x10^9/L",
    "Anemia": "g/dL",
    "Lymphocyte count decreased": "/µL",
    "White blood cell decreased": "/µL",
}
CTCAE_NO_LLN = "grade 1 not assessable (no lower limit of normal)"
PLATELET_UNIT = "x10^9/L"
MAX_LISTED_RUNS = 3  # more runs of interpolated days than this are counted, not listed
CENSORING_WORDS = {  # icaht/assessment.py Censoring.reason -> words (§2.6, C3)
    "relapse": "relapse or progression",
    "next therapy": "next therapy",
    "allo-HCT": "allo-HCT",
    "new CAR-T infusion": "a new CAR-T infusion",
}
INDETERMINATE_PHENOTYPE = "recovery phenotype not yet determinable"


def number(value: float) -> str:
    """'480', '7.9': whole counts from 100 up, else three significant digits (unit conversions
    leave digits no analyser reports)."""
    return f"{round(value)}" if value >= 100 else f"{float(f'{value:.3g}'):g}"


def with_unit(value: float, unit: str, *, below: bool = False) -> str:
    """'480/µL', '35 x10^9/L', '7.9 g/dL', '<8 x10^9/L' (a value given as a bound, C6)."""
    return f"{'<' if below else ''}{number(value)}{'' if unit.startswith('/') else ' '}{unit}"


def sentence(text: str) -> str:
    """A clause as a sentence's start: first letter capital, no trailing full stop."""
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:]


def grade_text(grade: int | None, status: str, lower_bound: bool) -> str:
    """'3 (final)', '2+ (provisional)' (a lower bound), 'not graded'."""
    if grade is None:
        return "not graded"
    return f"{grade}{'+' if lower_bound else ''} ({status})"


def day_span(first: int, last: int) -> str:
    return f"day {first}" if first == last else f"days {first}-{last}"


def _days_list(days: list[int]) -> str:
    """'day 9', 'days 2-3, 5'."""
    spans = ", ".join(day_span(a, b).split(" ", 1)[1] for a, b in day_runs(days))
    return f"{'day' if len(days) == 1 else 'days'} {spans}"


def times(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"


# ---- N-ICAHT: what a grade rests on -----------------------------------------------------------


def early_rests_on(early: EarlyResult) -> str:
    """What the early grade rests on besides measured values (C16): days of its episodes that
    were carried forward / filled back from a measured day, or interpolated between two.
    E.g. "days 24-30 carried forward from day 23; days 12-13 interpolated"."""
    counted = {d for e in early.episodes_500 for d in range(e.start_day, e.end_day + 1)}
    kinds = early.grid.kinds
    parts = []
    filled = [d for d in sorted(counted) if d < len(kinds) and kinds[d] == FILLED]
    for first, last in day_runs(filled):
        before = next((d for d in range(first - 1, -1, -1) if kinds[d] != FILLED), None)
        if before is not None:  # §2.3 step 5: carry-forward of the last value
            parts.append(f"{day_span(first, last)} carried forward from day {before}")
        else:  # §2.3 step 4: back-fill of days 0.. from the first value
            after = next(d for d in range(last + 1, len(kinds)) if kinds[d] != FILLED)
            parts.append(f"{day_span(first, last)} filled back from day {after}")
    interpolated = [d for d in sorted(counted) if d < len(kinds) and kinds[d] == INTERPOLATED]
    if len(day_runs(interpolated)) > MAX_LISTED_RUNS:  # sparse sampling: a count, not a list
        parts.append(f"{len(interpolated)} days interpolated between measured values")
    elif interpolated:
        parts.append(f"{_days_list(interpolated)} interpolated")
    return "; ".join(parts)


def censoring_text(assessment: Assessment) -> str:
    """'Censored on day 12 by relapse or progression: ...' when a grade is censored (§2.6, C3)."""
    result, censoring = assessment.neutropenia, assessment.censoring
    if result is None or censoring is None or assessment.day0 is None:
        return ""
    if "censored" not in (result.early.status, result.late.status):
        return ""
    day = (censoring.day - assessment.day0).days
    which = CENSORING_WORDS.get(censoring.reason, censoring.reason)
    return f"Censored on day {day} by {which}: later counts do not change the grade."


def preliminary_text(result: NeutropeniaResult) -> str:
    """Preliminary results used for a provisional grade (§1.1): the days they were on."""
    if not result.preliminary_values_used or result.daily is None:
        return ""
    days = sorted(d for d in result.daily.preliminary_days if d >= 0)
    if not days:
        return ""
    used = f"Preliminary results are used ({_days_list(days)})"
    return f"{used}: check the grade when they are final."


def phenotype_text(result: NeutropeniaResult) -> str:
    """'quick', 'quick so far (may change until day 60)': a phenotype named before the end of
    its window may still change (docs/decisions/0002, C7)."""
    if result.phenotype == "indeterminate":
        return INDETERMINATE_PHENOTYPE
    detail = result.phenotype_detail
    if detail.window_complete:
        return str(result.phenotype)
    return f"{result.phenotype} so far (may change until day {PHENOTYPE_WINDOW_END})"


# ---- T-ICAHT (§18, issue 19) ------------------------------------------------------------------


def t_icaht_summary(result: ThrombocytopeniaResult | None) -> str:
    """'T-ICAHT early 3, late 2' for a one-line summary."""
    if result is None or (result.early.grade is None and result.late.grade is None):
        return ""
    early, late = result.early, result.late
    parts = []
    if early.grade is not None:
        parts.append(f"early {early.grade}{'+' if early.lower_bound else ''}")
    if late.grade is not None:
        parts.append(f"late {late.grade}")
    return "T-ICAHT " + ", ".join(parts)


def t_icaht_text(result: ThrombocytopeniaResult | None) -> str:
    """The T-ICAHT line: early grade with its cumulative days < 50 and < 20 x10^9/L, late grade
    with its nadir and confirmation, platelet recovery, and whether the grade rests on counts
    measured right after a platelet transfusion ([PROPOSED]: the line says so)."""
    if result is None:
        return ""
    parts = [t_early_text(result.early), t_late_text(result.late)]
    recovery = t_recovery_text(result)
    if recovery:
        parts.append(recovery)
    text = "; ".join(parts) + "."
    if result.post_transfusion_values_used:
        text += (
            " The T-ICAHT grade rests on counts measured within 24 h after a platelet transfusion "
            "(counted as measured)."
        )
    return text


def t_early_text(early: TEarlyResult) -> str:
    """'early 3 (final): platelets < 50 x10^9/L on 16 days, < 20 x10^9/L on 9 days
    (cumulative, days 0-30)'."""
    if early.grade is None:
        return f"early not graded ({early.reason or _no_platelets_early()})"
    end = early.window_end_day
    window = day_span(0, EARLY_WINDOW_END if end is None else end)
    text = (
        f"early {grade_text(early.grade, early.status, early.lower_bound)}: platelets "
        f"< {with_unit(BELOW_50, PLATELET_UNIT)} on {times(early.days_below_50)}, "
        f"< {with_unit(BELOW_20, PLATELET_UNIT)} on {times(early.days_below_20)} "
        f"(cumulative, {window})"
    )
    if early.lower_bound:
        text += ", a lower bound (days without a count)"
    return text


def _no_platelets_early() -> str:
    return f"no platelet count in {day_span(0, EARLY_WINDOW_END)}"


def t_late_text(late: TLateResult) -> str:
    """'late 2 (provisional), confirmed: lowest 35 x10^9/L on day 40', or unconfirmed with what
    to do; grade 0 with its lowest count."""
    after = f"after day {EARLY_WINDOW_END}"
    if late.grade is None:
        return f"late not graded ({late.reason or f'no platelet count {after} yet'})"
    text = f"late {grade_text(late.grade, late.status, False)}"
    if late.nadir is None or late.nadir_day is None:
        return text
    lowest = with_unit(late.nadir, PLATELET_UNIT, below=late.nadir_below)
    nadir = f"{lowest} on day {late.nadir_day}"
    if late.grade == 0:
        if late.transient:
            return (
                f"{text}: the dip to {nadir} was followed by platelets "
                f">= {with_unit(BELOW_100, PLATELET_UNIT)} (transient)"
            )
        return f"{text}: lowest platelets {after} {nadir}"
    text += (
        f", confirmed: lowest {nadir}" if late.confirmed else f", unconfirmed: one count, {nadir}"
    )
    if late.days_below_20:
        text += f", < {with_unit(BELOW_20, PLATELET_UNIT)} on {times(late.days_below_20)}"
    if not late.confirmed:
        text += ", repeat the platelet count to confirm"
    return text


def t_recovery_text(result: ThrombocytopeniaResult) -> str:
    """§18: first of 3 consecutive days >= 20 x10^9/L with no platelet transfusion in the 7
    days before. Named when reached; 'not yet' only after a count < 20 x10^9/L."""
    level = f">= {with_unit(RECOVERY_PLATELETS, PLATELET_UNIT)}"
    if result.recovery_day is not None:
        return f"platelet recovery ({level} without transfusion) on day {result.recovery_day}"
    if result.early.days_below_20 or result.late.days_below_20:
        return f"no platelet recovery yet (3 days {level} without transfusion)"
    return ""


# ---- scores and single-value grades -----------------------------------------------------------


def _points(n: int) -> str:
    return f"{n} point" if n == 1 else f"{n} points"


def hematotox_text(score: HematotoxResult, scope: str | None = None) -> str:
    """'1 point, low risk', '2-4 points, risk unknown (missing: ferritin)', with the note when
    the disease is outside the score's validated scope (§6.4)."""
    tail = f"; {scope}" if scope else ""
    if score.missing:
        text = f"{score.lower}-{score.upper} points, risk {score.risk}"
        return text + f" (missing: {', '.join(score.missing)}){tail}"
    return f"{_points(score.score)}, {score.risk} risk{tail}"


def easix_text(result: EasixResult) -> str | None:
    """'EASIX 2.31 (log2 1.21), not above the Korell cut-off'; None without a value."""
    if result.value is None:
        return None
    text = f"EASIX {result.value:.2f}"
    if result.log2 is not None:
        text += f" (log2 {result.log2:.2f})"
    if result.above_korell_cutoff is not None:
        text += ", above" if result.above_korell_cutoff else ", not above"
        text += " the Korell cut-off"
    return text


def ctcae_text(grade: CtcaeGrade) -> str:
    """'Anemia: grade 2 (9.1 g/dL on 2026-01-22)', 'Platelet count decreased: grade 4 (<8
    x10^9/L on ...)', 'Anemia: grade 1 not assessable (no lower limit of normal; 11.2 g/dL on
    ...)': the term once (issue 16), a lower-bound value with its '<'."""
    value = with_unit(grade.value, CTCAE_UNITS[grade.term], below=grade.lower_bound)
    when = f" on {grade.day.isoformat()}" if grade.day else ""
    if grade.grade is None:
        return f"{grade.term}: {CTCAE_NO_LLN[:-1]}; {value}{when})"
    return f"{grade.term}: grade {grade.grade} ({value}{when})"
