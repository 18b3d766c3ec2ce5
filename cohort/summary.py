"""summary.md: cohort size, incidences with 95 % CIs, phenotypes, durations, data quality."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from cohort.model import PatientGrading
from cohort.stats import quartiles, wilson
from cohort.trajectories import trajectories
from icaht import RULES_VERSION
from icaht.early import EARLY_WINDOW_END, SEVERE_ANC
from icaht.explanations import PLATELET_UNIT, day_span, with_unit
from icaht.late import LATE_WINDOW_START
from icaht.phenotype import Phenotype
from icaht.thrombocytopenia import BELOW_20, BELOW_50, BELOW_100, RECOVERY_PLATELETS
from icaht.thrombocytopenia import LATE_WINDOW_END as T_LATE_WINDOW_END

LISTED_WITHOUT_DAY0 = 100  # longer lists: patients.csv has every patient (day0 empty)
GRADES = (0, 1, 2, 3, 4)
NO_PLATELETS = (
    "Not graded: the Liang et al. CSV layout has no platelet counts, so the T-ICAHT columns of"
    " patients.csv are empty."
)
NO_T_GRADES = "No patient has a T-ICAHT grade."
PHENOTYPES: tuple[Phenotype, ...] = get_args(Phenotype)  # the engine's names, in its order
# the thresholds and windows the tables name, in the engine's spelling (icaht/explanations.py)
EARLY_DAYS = day_span(0, EARLY_WINDOW_END)  # "days 0-30"
SEVERE = with_unit(SEVERE_ANC, "/µL")  # "500/µL"
PLOTS = (
    ("grades.png", "Distribution of early and late ICAHT grades"),
    ("anc_trajectories.png", "ANC by day after infusion, median and IQR per phenotype"),
    (
        "recovery.png",
        f"Cumulative incidence of ANC recovery > {SEVERE} after the first severe episode of"
        f" {EARLY_DAYS} (the grading's own episodes) by phenotype, and of platelet recovery"
        f" (>= {with_unit(RECOVERY_PLATELETS, PLATELET_UNIT)}, transfusion-independent)",
    ),
)


@dataclass(frozen=True)
class SummaryContext:
    source: str
    kind: str
    evaluation: str  # the as-of date, or how the evaluation date was chosen
    reading: str  # "proposed reading (default)" or "Liang et al. preset"
    timezone: str
    engine: str
    rows: int
    unassigned: tuple[tuple[str, int], ...]


def render_summary(gradings: Sequence[PatientGrading], ctx: SummaryContext) -> str:
    graded = [o for o in gradings if o.day0 is not None]
    lines = [
        "# ICAHT cohort summary",
        "",
        f"Input: `{ctx.source}` ({_kind(ctx.kind)}, {ctx.rows} rows). "
        f"Evaluation date: {ctx.evaluation}. Grading: {ctx.reading}, knowledge version "
        f"{RULES_VERSION}, time zone {ctx.timezone}, engine {ctx.engine}.",
        "",
        "## Cohort",
        "",
        "| patients | n |",
        "| --- | ---: |",
        f"| in the input | {len(gradings)} |",
        f"| with a CAR-T infusion (day 0) | {len(graded)} |",
        f"| without day 0 (not graded, listed below) | {len(gradings) - len(graded)} |",
        "",
        *_incidence(graded),
        *_t_icaht_incidence(graded, ctx),
        *_grades(graded),
        *_concordance(graded, ctx),
        *_phenotypes(graded),
        *_durations(graded),
        *_data_quality(gradings, ctx),
        *_plots(graded),
    ]
    return "\n".join(lines)


def _plots(graded: Sequence[PatientGrading]) -> list[str]:
    """The plot list; what a plot leaves out is said under it (issue 16)."""
    notes = {"anc_trajectories.png": trajectories(graded).not_drawn}
    lines = ["## Plots", ""]
    for name, title in PLOTS:
        lines.append(f"- [{title}]({name})")
        lines += [f"  - {note}" for note in notes.get(name, ())]
    return [*lines, ""]


def _kind(kind: str) -> str:
    return "FHIR Bulk Data NDJSON" if kind == "fhir" else "CSV in the Liang et al. layout"


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _incidence(graded: Sequence[PatientGrading]) -> list[str]:
    early = [o.early_grade for o in graded if o.early_grade is not None]
    late = [o.late_grade for o in graded if o.late_grade is not None]
    rows = []
    for label, grades in (
        ("early N-ICAHT grade >= 3", early),
        ("late N-ICAHT grade >= 3", late),
    ):
        rows.append(_incidence_row(label, grades, 3))
    return [
        "## Incidence",
        "",
        "N-ICAHT: the neutrophil grading (ANC). Denominator: patients with that grade (the early"
        f" window needs ANC values, the late one a value after day +{EARLY_WINDOW_END}). 95 %"
        " confidence interval:"
        " Wilson score.",
        "",
        "| | patients | incidence | 95 % CI |",
        "| --- | ---: | ---: | --- |",
        *rows,
        "",
    ]


def _incidence_row(label: str, grades: Sequence[int], at_least: int) -> str:
    """`| label | events / total | incidence | Wilson 95 % CI |` for grades >= `at_least`."""
    share = wilson(sum(1 for g in grades if g >= at_least), len(grades))
    if not share.total:
        return f"| {label} | 0 / 0 | - | - |"
    ci = f"{_percent(share.low)} - {_percent(share.high)}"
    return f"| {label} | {share.events} / {share.total} | {_percent(share.value)} | {ci} |"


def _t_icaht_incidence(graded: Sequence[PatientGrading], ctx: SummaryContext) -> list[str]:
    """T-ICAHT (docs/clinical §18) incidences, any grade and grade >= 3, early and late."""
    head = ["### T-ICAHT (platelets)", ""]
    if ctx.kind == "liang":
        return [*head, NO_PLATELETS, ""]
    early = [o.t_early_grade for o in graded if o.t_early_grade is not None]
    late = [o.t_late_grade for o in graded if o.t_late_grade is not None]
    rows = [
        _incidence_row("early T-ICAHT any grade (>= 1)", early, 1),
        _incidence_row("early T-ICAHT grade >= 3", early, 3),
        _incidence_row("late T-ICAHT any grade (>= 1)", late, 1),
        _incidence_row("late T-ICAHT grade >= 3", late, 3),
    ]
    none = [] if early or late else [NO_T_GRADES, ""]
    return [
        *head,
        *none,
        "T-ICAHT: the platelet grading of Rejeski et al., Blood 2025 (cumulative days"
        f" < {BELOW_50:g} and < {with_unit(BELOW_20, PLATELET_UNIT)} in {EARLY_DAYS}; late:"
        f" platelets < {BELOW_100:g}, < {BELOW_50:g}, < {with_unit(BELOW_20, PLATELET_UNIT)} in"
        f" {day_span(LATE_WINDOW_START, T_LATE_WINDOW_END)})."
        " Denominator: patients with that T-ICAHT grade. 95 % confidence interval: Wilson score.",
        "",
        "| | patients | incidence | 95 % CI |",
        "| --- | ---: | ---: | --- |",
        *rows,
        "",
    ]


def _concordance(graded: Sequence[PatientGrading], ctx: SummaryContext) -> list[str]:
    """Early N-ICAHT (rows) x early T-ICAHT (columns), patients graded by both."""
    head = ["## Concordance: early N-ICAHT x early T-ICAHT", ""]
    if ctx.kind == "liang":
        return [*head, NO_PLATELETS, ""]
    pairs = Counter(
        (o.early_grade, o.t_early_grade)
        for o in graded
        if o.early_grade is not None and o.t_early_grade is not None
    )
    total = sum(pairs.values())
    same = sum(count for (n, t), count in pairs.items() if n == t)
    rows = [
        f"| N-ICAHT {n} | " + " | ".join(str(pairs.get((n, t), 0)) for t in GRADES) + " |"
        for n in GRADES
    ]
    agreement = f"{same} of {total} ({_percent(same / total)})" if total else "-"
    return [
        *head,
        "Patients with both early grades (counts). Rows: N-ICAHT (neutrophils), columns: T-ICAHT"
        " (platelets).",
        "",
        "| early grade | " + " | ".join(f"T-ICAHT {t}" for t in GRADES) + " |",
        "| --- |" + " ---: |" * len(GRADES),
        *rows,
        "",
        f"Same grade: {agreement}.",
        "",
    ]


def _grades(graded: Sequence[PatientGrading]) -> list[str]:
    early = Counter(o.early_grade for o in graded)
    late = Counter(o.late_grade for o in graded)
    status = Counter(o.early_status for o in graded if o.early_grade is not None)
    t_early = Counter(o.t_early_grade for o in graded)
    t_late = Counter(o.t_late_grade for o in graded)
    t_status = Counter(o.t_early_status for o in graded if o.t_early_grade is not None)
    keys: list[int | None] = [*GRADES, None]
    rows = [
        f"| {'not graded' if g is None else g} | {early.get(g, 0)} | {late.get(g, 0)} "
        f"| {t_early.get(g, 0)} | {t_late.get(g, 0)} |"
        for g in keys
    ]
    return [
        "## Grades",
        "",
        "| grade | early N-ICAHT | late N-ICAHT | early T-ICAHT | late T-ICAHT |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Early N-ICAHT grade status: {_statuses(status)}.",
        f"Early T-ICAHT grade status: {_statuses(t_status)}.",
        "",
    ]


def _statuses(counts: Counter[str | None]) -> str:
    ordered = sorted(counts.items(), key=lambda item: str(item[0]))
    return ", ".join(f"{name} {count}" for name, count in ordered) or "none"


def _phenotypes(graded: Sequence[PatientGrading]) -> list[str]:
    counts = Counter(o.phenotype for o in graded if o.phenotype)
    total = sum(counts.values())
    rows = [
        f"| {name} | {counts.get(name, 0)} | {_percent(counts.get(name, 0) / total)} |"
        for name in PHENOTYPES
        if total
    ]
    return [
        "## Recovery phenotype",
        "",
        "| phenotype | patients | share |",
        "| --- | ---: | ---: |",
        *rows,
        "",
    ]


def _durations(graded: Sequence[PatientGrading]) -> list[str]:
    days = [float(o.days_anc_le_500) for o in graded if o.days_anc_le_500 is not None]
    severe = [d for d in days if d > 0]
    lines = [f"## Severe neutropenia (ANC <= {SEVERE}, longest episode, {EARLY_DAYS})", ""]
    for label, values in (("all graded patients", days), ("patients with >= 1 day", severe)):
        q = quartiles(values)
        text = "-" if q is None else f"median {q[1]:g} days (IQR {q[0]:g}-{q[2]:g})"
        lines.append(f"- {label} (n = {len(values)}): {text}")
    return [*lines, ""]


def _data_quality(gradings: Sequence[PatientGrading], ctx: SummaryContext) -> list[str]:
    without = [o.patient_id for o in gradings if o.day0 is None]
    listed = ", ".join(f"`{pid}`" for pid in without[:LISTED_WITHOUT_DAY0])
    if len(without) > LISTED_WITHOUT_DAY0:
        listed += f" and {len(without) - LISTED_WITHOUT_DAY0} more (patients.csv: day0 empty)"
    reasons: Counter[str] = Counter()
    for grading in gradings:
        reasons.update(dict(grading.left_out))
    lines = [
        "## Data quality",
        "",
        f"Patients without day 0 (no CAR-T infusion on record): {len(without)}"
        + (f": {listed}." if without else "."),
        "",
        "Observations and records left out, by reason (per patient in patients.csv):",
        "",
        "| reason | n |",
        "| --- | ---: |",
        *[f"| {reason} | {count} |" for reason, count in sorted(reasons.items())],
    ]
    if not reasons:
        lines.append("| (none) | 0 |")
    lines += ["", "Resources not linked to a patient (not graded):", ""]
    if ctx.unassigned:
        lines += [f"- {kind}: {count}" for kind, count in ctx.unassigned]
    else:
        lines.append("- none")
    return [*lines, ""]
