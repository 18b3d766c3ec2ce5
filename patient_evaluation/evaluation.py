"""One evaluation of a patient's FHIR resources: mapping, the engine, the management rules.

Under the CDS hooks, the assessment API and (mapping and grading) the batch tool, so the cards,
the SMART app and the cohort tables can never disagree. A hook call maps each resource once:
it adds stage 1 to a `PatientMapping`, reads the therapy timeline to decide whether to gather
stage 2, adds stage 2 and evaluates the mapping (`evaluate_mapping`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from typing import Any, TypedDict, Unpack

from fhir_mappings import MappingResult, PatientMapping
from icaht import Assessment, assess
from icaht.rules import (
    DraftOrder,
    Hook,
    RuleInput,
    RuleSettings,
    RulesResult,
    evaluate_rules,
)
from patient_evaluation.lookback import course_anchor

# `with phase("map"):` times a step (the hooks' per-phase timings); untimed by default
Phase = Callable[[str], AbstractContextManager[Any]]

_DEFAULT_RULE_SETTINGS = RuleSettings()


def _untimed(phase: str) -> AbstractContextManager[Any]:
    return nullcontext()


class EvaluationArguments(TypedDict, total=False):
    """What `evaluate` hands on to `evaluate_mapping` as it is (the defaults are the latter's)."""

    hook: Hook
    drafts: tuple[DraftOrder, ...]
    phase: Phase
    rule_settings: RuleSettings


@dataclass(frozen=True)
class Evaluation:
    mapped: MappingResult
    assessment: Assessment | None  # None: no CAR-T course on record (nothing to grade)
    rules: RulesResult | None


def evaluate(
    resources: Iterable[Any],
    *,
    patient_id: str,
    timezone: str,
    evaluation_date: date,
    **arguments: Unpack[EvaluationArguments],
) -> Evaluation:
    """Map all of `resources`, grade as of `evaluation_date`, run the rules (`arguments`: those
    of evaluate_mapping)."""
    mapping = PatientMapping(patient_id, tz=timezone)
    mapping.add(resources)
    return evaluate_mapping(mapping, evaluation_date=evaluation_date, **arguments)


def evaluate_mapping(
    mapping: PatientMapping,
    *,
    evaluation_date: date,
    hook: Hook = "patient-view",
    drafts: tuple[DraftOrder, ...] = (),
    phase: Phase = _untimed,
    rule_settings: RuleSettings = _DEFAULT_RULE_SETTINGS,
) -> Evaluation:
    """Finish `mapping` (the Observations are mapped here), grade, run the rules; `phase`
    times each step."""
    with phase("map"):
        mapped = mapping.result()
    if course_anchor(mapped.record.timeline) is None:
        return Evaluation(mapped, None, None)
    with phase("assess"):
        assessment = assess(mapped.record, evaluation_date=evaluation_date)
    with phase("rules"):
        rule_input = RuleInput(
            assessment, mapped.record, evaluation_date, hook, drafts, rule_settings
        )
        rules = evaluate_rules(rule_input)
    return Evaluation(mapped, assessment, rules)
