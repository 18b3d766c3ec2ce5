"""One hook call from validated request to response: gather, map, grade, cards.

Flow (DESIGN.md section 2): stage 1 gathers what says whether the patient had CAR-T at all
(patient, procedures, medication administrations); without an infusion on record the answer is
`{"cards": []}` and no lab is fetched. Stage 2 gathers labs and conditions, bounded in the
fallback to the days from 14 days before day 0. Then mapping, the engine, and the cards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cds_service.cards import CardInputs, status_card
from cds_service.discovery import PREFETCH, HookService
from cds_service.fhir_client import Deadline, FhirClient, FhirTarget
from cds_service.gather import GatherContext, Gathered, gather_stage
from fhir_mappings import MappingResult, map_patient
from icaht import assess

log = logging.getLogger(__name__)
LAB_LOOKBACK_DAYS = 14  # baseline neutropenia flag looks at days -14..-1 (clinical-rules 2.6)


@dataclass
class HookOutcome:
    response: dict[str, Any]
    timings_ms: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    early_grade: int | None = None
    late_grade: int | None = None
    observations: int = 0
    left_out: int = 0


@dataclass(frozen=True)
class HookSettings:
    timezone: str
    deadline_seconds: float


def handle_hook(
    service: HookService,
    body: dict[str, Any],
    target: FhirTarget | None,
    client: FhirClient,
    settings: HookSettings,
    *,
    now: Callable[[ZoneInfo], datetime] = datetime.now,
) -> HookOutcome:
    """Run one validated hook request. Raises DataUnavailableError (-> 412)."""
    deadline = Deadline(settings.deadline_seconds)
    outcome = HookOutcome(response={"cards": []})
    patient_id = str(body["context"]["patientId"])
    ctx = GatherContext(body.get("prefetch") or {}, patient_id, client, target, deadline)
    gathered = Gathered()
    clock = _Stopwatch(outcome.timings_ms)

    with clock("gather_stage1"):
        stage1 = [t for t in PREFETCH if t.stage == 1]
        gather_stage(ctx, stage1, gathered)
    with clock("map_stage1"):
        first = map_patient(gathered.resources, patient_id=patient_id, tz=settings.timezone)
    day0 = first.record.timeline.day0
    outcome.sources = dict(gathered.sources)
    if day0 is None:
        return outcome  # no CAR-T infusion on record: quiet, and no lab fetched

    with clock("gather_stage2"):
        since = (day0 - timedelta(days=LAB_LOOKBACK_DAYS)).isoformat()
        stage2 = [t for t in PREFETCH if t.stage == 2]
        bounds = {"labs": f"&date=ge{since}"}
        gather_stage(ctx, stage2, gathered, bounds)
    outcome.sources = dict(gathered.sources)
    with clock("map"):
        mapped = map_patient(gathered.resources, patient_id=patient_id, tz=settings.timezone)
    today = now(ZoneInfo(settings.timezone)).date()
    with clock("assess"):
        assessment = assess(mapped.record, evaluation_date=today)
    with clock("cards"):
        outcome.response = {"cards": _cards(service, mapped, assessment, gathered, today)}
    _summarise(outcome, mapped, assessment)
    return outcome


def _cards(
    service: HookService,
    mapped: MappingResult,
    assessment: Any,
    gathered: Gathered,
    today: date,
) -> list[dict[str, Any]]:
    if assessment.neutropenia is None:
        return []
    unavailable = tuple(f"{key} ({reason})" for key, reason in gathered.failures.items())
    inputs = CardInputs(
        service_id=service.id,
        patient_id=mapped.record.patient_id,
        assessment=assessment,
        left_out=mapped.left_out,
        unavailable=unavailable,
        today=today,
    )
    return [status_card(inputs)]


def _summarise(outcome: HookOutcome, mapped: MappingResult, assessment: Any) -> None:
    outcome.observations = len(mapped.record.labs)
    outcome.left_out = len(mapped.left_out)
    if assessment.neutropenia is not None:
        outcome.early_grade = assessment.neutropenia.early.grade
        outcome.late_grade = assessment.neutropenia.late.grade


class _Stopwatch:
    """`with clock("phase"):` adds the phase's milliseconds to `timings`."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.phase = ""
        self.started = 0.0

    def __call__(self, phase: str) -> _Stopwatch:
        self.phase = phase
        return self

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = (time.perf_counter() - self.started) * 1000
        self.timings[self.phase] = round(elapsed, 2)
