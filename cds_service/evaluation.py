"""One evaluation of a patient's FHIR resources: mapping, the engine, the management rules.

Shared by the CDS hooks (cds_service/hooks.py) and the assessment API
(cds_service/assessment_api.py), so the SMART app and the cards can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_mappings import MappingResult, map_patient
from icaht import Assessment, assess
from icaht.record import TherapyTimeline
from icaht.rules import (
    DraftOrder,
    Hook,
    RuleInput,
    RuleOptions,
    RulesResult,
    evaluate_rules,
)

Phase = Callable[[str], AbstractContextManager[Any]]


_DEFAULT_RULE_OPTIONS = RuleOptions()


def _untimed(phase: str) -> AbstractContextManager[Any]:
    return nullcontext()


@dataclass(frozen=True)
class Evaluation:
    mapped: MappingResult
    assessment: Assessment | None  # None: no CAR-T infusion on record (nothing to grade)
    rules: RulesResult | None


def evaluate(
    resources: Iterable[Any],
    *,
    patient_id: str,
    timezone: str,
    evaluation_date: date,
    hook: Hook = "patient-view",
    drafts: tuple[DraftOrder, ...] = (),
    phase: Phase = _untimed,
    options: RuleOptions = _DEFAULT_RULE_OPTIONS,
) -> Evaluation:
    """Map, grade as of `evaluation_date`, run the rules; `phase` times each step."""
    with phase("map"):
        mapped = map_patient(resources, patient_id=patient_id, tz=timezone)
    if course_anchor(mapped.record.timeline, hook) is None:
        return Evaluation(mapped, None, None)
    with phase("assess"):
        assessment = assess(mapped.record, evaluation_date=evaluation_date)
    with phase("rules"):
        inp = RuleInput(assessment, mapped.record, evaluation_date, hook, drafts, options)
        rules = evaluate_rules(inp)
    return Evaluation(mapped, assessment, rules)


def course_anchor(timeline: TherapyTimeline, hook: Hook) -> date | None:
    """The day the patient's CAR-T care is anchored on: day 0 of the current course; before the
    first infusion, the earliest of its planned day and the first step of a course in
    preparation (apheresis or lymphodepletion, no infusion yet): M01 guards blood-product orders
    before day 0, and on patient-view M10 (antivirals from lymphodepletion) and M24 (issue 14)
    speak before it. None: nothing to say about this patient."""
    if timeline.day0 is not None:
        return timeline.day0
    days = [] if timeline.planned_infusion is None else [timeline.planned_infusion.day]
    if timeline.preparation is not None:
        days.append(timeline.preparation.day)
    return min(days, default=None)
