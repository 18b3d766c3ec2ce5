"""One hook call from validated request to response: gather, map, grade, cards.

Flow (DESIGN.md section 2): stage 1 gathers what says whether the patient has a CAR-T course
at all, given or planned (patient, procedures, medication administrations and requests, service
requests, appointments: docs/decisions/0023); without one the answer is `{"cards": []}` and no
lab is fetched. Stage 2 gathers labs, vital signs, conditions and medication statements, labs and
vital signs bounded in the fallback to the days from 14 days before day 0. Then mapping, the
engine, and the cards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cds_service.cards import RULE_KEY, CardInputs, alert_card, order_cards, status_card
from cds_service.discovery import PREFETCH, HookService
from cds_service.evaluation import course_anchor, evaluate
from cds_service.fhir_client import Deadline, FhirClient, FhirTarget
from cds_service.gather import GatherContext, Gathered, gather_stage
from cds_service.logs import log_event
from fhir_mappings import MappingResult, map_draft_orders, map_patient
from fhir_mappings.orders import selected_orders
from icaht.rules import Alert, DraftOrder, RuleOptions

log = logging.getLogger(__name__)
MONITORING_DAYS = 100  # the late ICAHT window ends on day +100 (clinical-rules 3.2)
LAB_LOOKBACK_DAYS = 14  # baseline neutropenia flag looks at days -14..-1 (clinical-rules 2.6)
# the fallback's Observation searches, bounded from LAB_LOOKBACK_DAYS before day 0: a patient's
# counts and temperatures of earlier years are many pages the rules never read
DATE_BOUNDED_KEYS = ("labs", "vitals")


@dataclass
class HookOutcome:
    response: dict[str, Any]
    timings_ms: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)  # resources gathered per key
    early_grade: int | None = None
    late_grade: int | None = None
    observations: int = 0
    left_out: int = 0
    rule_ids: tuple[str, ...] = ()  # per card, "" for the status card
    # alert cards taken out because their concern was overridden: (card, rule id) (0007)
    withheld: list[tuple[dict[str, Any], str]] = field(default_factory=list)


@dataclass(frozen=True)
class HookSettings:
    timezone: str
    deadline_seconds: float
    smart_launch_url: str | None = None  # the status card links to the SMART app when set
    # the centre's configured rule numbers (M22's threshold)
    rule_options: RuleOptions = field(default_factory=RuleOptions)


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
    drafts = _draft_orders(body, service.hook)
    if service.hook == "order-select" and not drafts:
        return outcome  # no draft order to judge: no FHIR read
    patient_id = str(body["context"]["patientId"])
    ctx = GatherContext(body.get("prefetch") or {}, patient_id, client, target, deadline)
    gathered = Gathered()
    clock = _Stopwatch(outcome.timings_ms)

    with clock("gather_stage1"):
        stage1 = [t for t in PREFETCH if t.stage == 1]
        gather_stage(ctx, stage1, gathered)
    with clock("map_stage1"):
        first = map_patient(gathered.resources, patient_id=patient_id, tz=settings.timezone)
    outcome.sources, outcome.resources = dict(gathered.sources), dict(gathered.counts)
    anchor = course_anchor(first.record.timeline, service.hook)
    if anchor is None:
        return outcome  # no CAR-T on record (nor in preparation, for an order): quiet, no lab

    today = now(ZoneInfo(settings.timezone)).date()
    with clock("gather_stage2"):
        since = fallback_since(anchor, today).isoformat()
        stage2 = [t for t in PREFETCH if t.stage == 2]
        bounds = {key: f"&date=ge{since}" for key in DATE_BOUNDED_KEYS}
        gather_stage(ctx, stage2, gathered, bounds)
    outcome.sources, outcome.resources = dict(gathered.sources), dict(gathered.counts)
    evaluation = evaluate(
        gathered.resources,
        patient_id=patient_id,
        timezone=settings.timezone,
        evaluation_date=today,
        hook=service.hook,
        drafts=drafts,
        phase=clock,
        options=settings.rule_options,
    )
    mapped, assessment, rules = evaluation.mapped, evaluation.assessment, evaluation.rules
    if assessment is None or rules is None:
        return outcome  # stage 1 found the course; kept for the type checker
    with clock("cards"):
        inputs = CardInputs(
            service_id=service.id,
            patient_id=mapped.record.patient_id,
            assessment=assessment,
            left_out=mapped.left_out,
            unavailable=tuple(f"{k} ({why})" for k, why in gathered.failures.items()),
            today=today,
            not_evaluable=tuple(item.needs for item in rules.not_evaluable),
            smart_launch_url=settings.smart_launch_url,
            hook_instance=str(body["hookInstance"]),
        )
        cards = _cards(service, inputs, rules.alerts)
        outcome.response = {"cards": cards}
    outcome.rule_ids = tuple(card["extension"].get(RULE_KEY, "") for card in cards)
    _summarise(outcome, mapped, assessment)
    return outcome


def fallback_since(anchor: date, today: date) -> date:
    """The first day the fallback asks labs and vital signs for: LAB_LOOKBACK_DAYS before the
    course's anchor, or before today when the anchor is still ahead (a planned infusion,
    issue 14: its baseline counts are today's, not those 14 days before a future day 0)."""
    return min(anchor, today) - timedelta(days=LAB_LOOKBACK_DAYS)


def _draft_orders(body: dict[str, Any], hook: str) -> tuple[DraftOrder, ...]:
    """The draft orders the rules judge: on order-select only those `context.selections`
    names (the others were selected earlier and are context: no card of their own); on
    order-sign all of them. Selections that name none of the drafts are an EHR error: then
    every draft is judged, so that a safety alert is never silenced by a bad reference
    (docs/decisions/0026)."""
    draft = body["context"].get("draftOrders")
    if draft is None:
        return ()
    intents = map_draft_orders(draft)
    if hook == "order-select":
        selected = selected_orders(intents, body["context"].get("selections") or ())
        if intents and not selected:
            log_event("selections_unmatched", drafts=len(intents))
        intents = selected or intents
    return tuple(intent.as_draft_order() for intent in intents)


def _cards(service: HookService, inputs: CardInputs, alerts: tuple[Alert, ...]) -> list[Any]:
    """patient-view: the status card (quiet at grade 0 without alerts) and one card per alert;
    order hooks: only the alerts about the draft orders (issue 6)."""
    cards = [alert_card(inputs, alert) for alert in alerts]
    if service.hook == "patient-view" and _worth_a_status_card(
        inputs.assessment, alerts, inputs.today
    ):
        cards.insert(0, status_card(inputs))
    return order_cards(cards)


def _worth_a_status_card(assessment: Any, alerts: tuple[Alert, ...], today: date) -> bool:
    """Quiet by design: no status card at grade 0 without alerts; an ungraded patient in the
    monitoring period (days 0-100) gets one saying what is missing."""
    result = assessment.neutropenia
    if result is None:
        return False
    grades = [g for g in (result.early.grade, result.late.grade) if g is not None]
    if alerts or (grades and max(grades) >= 1):
        return True
    in_monitoring = 0 <= (today - result.infusion_date).days <= MONITORING_DAYS
    return result.early.grade is None and in_monitoring


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
