"""summary.md: cohort size, incidences with 95 % CIs, phenotypes, durations, data quality."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cohort.model import PatientOutcome
from cohort.stats import quartiles, wilson
from icaht import RULES_VERSION

LISTED_WITHOUT_DAY0 = 100  # longer lists: patients.csv has every patient (day0 empty)
PHENOTYPES = ("quick", "intermittent", "aplastic", "unclassified", "indeterminate")
PLOTS = (
    ("grades.png", "Distribution of early and late ICAHT grades"),
    ("anc_trajectories.png", "ANC by day after infusion, median and IQR per phenotype"),
    ("recovery.png", "Cumulative incidence of ANC recovery > 500/µL by phenotype"),
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


def render_summary(outcomes: Sequence[PatientOutcome], ctx: SummaryContext) -> str:
    graded = [o for o in outcomes if o.day0 is not None]
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
        f"| in the input | {len(outcomes)} |",
        f"| with a CAR-T infusion (day 0) | {len(graded)} |",
        f"| without day 0 (not graded, listed below) | {len(outcomes) - len(graded)} |",
        "",
        *_incidence(graded),
        *_grades(graded),
        *_phenotypes(graded),
        *_durations(graded),
        *_data_quality(outcomes, ctx),
        "## Plots",
        "",
        *[f"- [{title}]({name})" for name, title in PLOTS],
        "",
    ]
    return "\n".join(lines)


def _kind(kind: str) -> str:
    return "FHIR Bulk Data NDJSON" if kind == "fhir" else "CSV in the Liang et al. layout"


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _incidence(graded: Sequence[PatientOutcome]) -> list[str]:
    early = [o.early_grade for o in graded if o.early_grade is not None]
    late = [o.late_grade for o in graded if o.late_grade is not None]
    rows = []
    for label, grades in (("early ICAHT grade >= 3", early), ("late ICAHT grade >= 3", late)):
        share = wilson(sum(1 for g in grades if g >= 3), len(grades))
        if share.total:
            ci = f"{_percent(share.low)} - {_percent(share.high)}"
            rows.append(
                f"| {label} | {share.events} / {share.total} | {_percent(share.value)} | {ci} |"
            )
        else:
            rows.append(f"| {label} | 0 / 0 | - | - |")
    return [
        "## Incidence",
        "",
        "Denominator: patients with that grade (the early window needs ANC values, the late one a"
        " value after day +30). 95 % confidence interval: Wilson score.",
        "",
        "| | patients | incidence | 95 % CI |",
        "| --- | ---: | ---: | --- |",
        *rows,
        "",
    ]


def _grades(graded: Sequence[PatientOutcome]) -> list[str]:
    early = Counter(o.early_grade for o in graded)
    late = Counter(o.late_grade for o in graded)
    status = Counter(o.early_status for o in graded if o.early_grade is not None)
    rows = [f"| {g} | {early.get(g, 0)} | {late.get(g, 0)} |" for g in range(5)]
    rows.append(f"| not graded | {early.get(None, 0)} | {late.get(None, 0)} |")
    statuses = ", ".join(f"{name} {count}" for name, count in sorted(status.items()))
    return [
        "## Grades",
        "",
        "| grade | early ICAHT | late ICAHT |",
        "| --- | ---: | ---: |",
        *rows,
        "",
        f"Early grade status: {statuses or 'none'}.",
        "",
    ]


def _phenotypes(graded: Sequence[PatientOutcome]) -> list[str]:
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


def _durations(graded: Sequence[PatientOutcome]) -> list[str]:
    days = [float(o.days_anc_le_500) for o in graded if o.days_anc_le_500 is not None]
    severe = [d for d in days if d > 0]
    lines = ["## Severe neutropenia (ANC <= 500/µL, longest episode, days 0-30)", ""]
    for label, values in (("all graded patients", days), ("patients with >= 1 day", severe)):
        q = quartiles(values)
        text = "-" if q is None else f"median {q[1]:g} days (IQR {q[0]:g}-{q[2]:g})"
        lines.append(f"- {label} (n = {len(values)}): {text}")
    return [*lines, ""]


def _data_quality(outcomes: Sequence[PatientOutcome], ctx: SummaryContext) -> list[str]:
    without = [o.patient_id for o in outcomes if o.day0 is None]
    listed = ", ".join(f"`{pid}`" for pid in without[:LISTED_WITHOUT_DAY0])
    if len(without) > LISTED_WITHOUT_DAY0:
        listed += f" and {len(without) - LISTED_WITHOUT_DAY0} more (patients.csv: day0 empty)"
    reasons: Counter[str] = Counter()
    for outcome in outcomes:
        reasons.update(dict(outcome.left_out))
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
