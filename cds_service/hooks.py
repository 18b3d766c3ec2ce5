"""One hook call as one pipeline: its inputs in (`HookCall`, read once by the route), its
result out (`HookResult`: the cards shown, the cards withheld, the audit rows, the facts for
the log and metrics). JSON, log lines, metrics and the audit write happen at the edge
(cds_service/routes/cds_hooks.py).

Flow (docs/design.md §2): stage 1 gathers what says whether the patient has a CAR-T course
at all, given or planned (patient_evaluation/reads.py, docs/decisions/0023) and maps it; without
a course the answer is `{"cards": []}` and no lab is fetched. Stage 2 gathers labs, vital signs,
conditions and medication statements (labs and vital signs bounded, when the service fetches
them itself, to the days from LAB_LOOKBACK_DAYS before the course's anchor) and maps only them;
then the engine, the rules, the cards, and the overrides (a pure step over the cards and the
overridden concern keys, which the store gives once, and only when an alert card is shown).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cds_service.cards import Card, CardInputs, alert_card, order_cards, status_card
from cds_service.discovery import PREFETCH, HookService
from cds_service.fhir_client import Deadline, FhirClient, FhirTarget
from cds_service.gather import GatherContext, Gathered, gather_stage
from cds_service.logs import log_event
from cds_service.overrides import withhold
from cds_service.store import AuditRecord
from fhir_mappings import MappingResult, map_draft_orders
from fhir_mappings.orders import selected_orders
from icaht import RULES_VERSION, Assessment
from icaht.rules import Alert, DraftOrder, RuleSettings
from patient_evaluation import (
    MONITORING_DAYS,
    PatientMapping,
    course_anchor,
    evaluate_mapping,
    fallback_since,
)

STAGE1 = tuple(template for template in PREFETCH if template.stage == 1)
STAGE2 = tuple(template for template in PREFETCH if template.stage == 2)
# the overridden concern keys of this call's client, patient and scope (read at most once)
OverrideLookup = Callable[[], frozenset[str]]


@dataclass(frozen=True)
class HookSettings:
    timezone: str
    deadline_seconds: float
    smart_launch_url: str | None = None  # the status card links to the SMART app when set
    # the centre's configured rule numbers (M22's threshold)
    rule_settings: RuleSettings = field(default_factory=RuleSettings)


@dataclass(frozen=True)
class HookCall:
    """A validated hook request's inputs, read once."""

    service: HookService
    body: Mapping[str, Any]
    patient_id: str
    hook_instance: str
    now: datetime  # in the centre's time zone: "today" of the evaluation is its date
    client: str  # who the cards are issued to: the JWT issuer, or ANONYMOUS_CLIENT (0017)
    target: FhirTarget | None  # where to fetch what the prefetch lacks

    @property
    def today(self) -> date:
        return self.now.date()


@dataclass(frozen=True)
class HookFacts:
    """What the log line and the metrics say about a call: ids, counts and timings only."""

    timings_ms: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)  # prefetch key -> where from
    resources: Mapping[str, int] = field(default_factory=dict)  # resources gathered per key
    observations: int = 0
    left_out: int = 0
    early_grade: int | None = None
    late_grade: int | None = None


@dataclass(frozen=True)
class HookResult:
    cards: tuple[Card, ...]  # shown
    withheld: tuple[Card, ...]  # alert cards whose concern was overridden (0007)
    facts: HookFacts
    audit: tuple[AuditRecord, ...]

    def response(self) -> dict[str, Any]:
        return {"cards": [card.as_json() for card in self.cards]}

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Per card shown, "" for the status card."""
        return tuple(card.rule_id or "" for card in self.cards)


def run_hook(
    call: HookCall, fhir: FhirClient, settings: HookSettings, overridden: OverrideLookup
) -> HookResult:
    """Run one validated hook call. Raises DataUnavailableError (-> 412)."""
    cards, facts = _assess(call, fhir, settings)
    shown, withheld = cards, tuple[Card, ...]()
    if any(card.concern_key for card in cards):  # no alert card: nothing to look up
        shown, withheld = withhold(cards, overridden())
    return HookResult(shown, withheld, facts, _audit_rows(call, shown, withheld, facts))


def _assess(
    call: HookCall, fhir: FhirClient, settings: HookSettings
) -> tuple[tuple[Card, ...], HookFacts]:
    """The cards of the call, before overrides, and the call's facts."""
    deadline = Deadline(settings.deadline_seconds)
    drafts = _draft_orders(call.body, call.service.hook)
    if call.service.hook == "order-select" and not drafts:
        return (), HookFacts()  # no draft order to judge: no FHIR read
    prefetch = call.body.get("prefetch") or {}
    gathering = _Gathering(
        GatherContext(prefetch, call.patient_id, fhir, call.target, deadline),
        PatientMapping(call.patient_id, tz=settings.timezone),
    )
    anchor = gathering.stage1()
    if anchor is None:  # no CAR-T on record (nor in preparation, for an order): quiet, no lab
        return (), gathering.facts()
    gathering.stage2(fallback_since(anchor, call.today))
    evaluation = evaluate_mapping(
        gathering.mapping,
        evaluation_date=call.today,
        hook=call.service.hook,
        drafts=drafts,
        phase=gathering.clock,
        rule_settings=settings.rule_settings,
    )
    mapped, assessment, rules = evaluation.mapped, evaluation.assessment, evaluation.rules
    if assessment is None or rules is None:
        return (), gathering.facts()  # stage 1 found the course: for the type checker
    with gathering.clock("cards"):
        inputs = CardInputs(
            service_id=call.service.id,
            patient_id=mapped.record.patient_id,
            assessment=assessment,
            left_out=mapped.left_out,
            unavailable=gathering.unavailable(),
            today=call.today,
            not_evaluable=tuple(item.needs for item in rules.not_evaluable),
            smart_launch_url=settings.smart_launch_url,
            hook_instance=call.hook_instance,
        )
        cards = _cards(call.service, inputs, rules.alerts)
    return cards, gathering.facts(mapped, assessment)


class _Gathering:
    """The two stages of one call's data: each gathered, then added to the patient's mapping
    (each resource mapped once), under the call's stopwatch."""

    def __init__(self, ctx: GatherContext, mapping: PatientMapping) -> None:
        self.ctx = ctx
        self.mapping = mapping
        self.gathered = Gathered()
        self.timings: dict[str, float] = {}
        self.clock = _Stopwatch(self.timings)

    def stage1(self) -> date | None:
        """Gather and map stage 1; the course's anchor (None: no CAR-T course on record)."""
        with self.clock("gather_stage1"):
            gather_stage(self.ctx, STAGE1, self.gathered)
        with self.clock("map_stage1"):
            self.mapping.add(self.gathered.resources)
            return course_anchor(self.mapping.timeline())

    def stage2(self, since: date) -> None:
        """Gather stage 2 (what the service fetches itself bounded from `since`) and add it to
        the mapping: only stage 2's resources, stage 1 is mapped already."""
        stage1_count = len(self.gathered.resources)
        with self.clock("gather_stage2"):
            bounds = {t.key: f"&date=ge{since.isoformat()}" for t in STAGE2 if t.date_bounded}
            gather_stage(self.ctx, STAGE2, self.gathered, bounds)
        with self.clock("map"):
            self.mapping.add(self.gathered.resources[stage1_count:])

    def unavailable(self) -> tuple[str, ...]:
        """Optional data the FHIR server could not give, with why."""
        return tuple(f"{key} ({why})" for key, why in self.gathered.failures.items())

    def facts(
        self, mapped: MappingResult | None = None, assessment: Assessment | None = None
    ) -> HookFacts:
        gathered = self.gathered
        sources, counts = dict(gathered.sources), dict(gathered.counts)
        if mapped is None:
            return HookFacts(self.timings, sources, counts)
        result = None if assessment is None else assessment.neutropenia
        return HookFacts(
            self.timings,
            sources,
            counts,
            observations=len(mapped.record.labs),
            left_out=len(mapped.left_out),
            early_grade=None if result is None else result.early.grade,
            late_grade=None if result is None else result.late.grade,
        )


def _draft_orders(body: Mapping[str, Any], hook: str) -> tuple[DraftOrder, ...]:
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


def _cards(service: HookService, inputs: CardInputs, alerts: tuple[Alert, ...]) -> tuple[Card, ...]:
    """patient-view: the status card (quiet at grade 0 without alerts) and one card per alert;
    order hooks: only the alerts about the draft orders (issue 6)."""
    cards = [alert_card(inputs, alert) for alert in alerts]
    if service.hook == "patient-view" and _worth_a_status_card(
        inputs.assessment, alerts, inputs.today
    ):
        cards.insert(0, status_card(inputs))
    return order_cards(cards)


def _worth_a_status_card(assessment: Assessment, alerts: tuple[Alert, ...], today: date) -> bool:
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


def _audit_rows(
    call: HookCall, shown: tuple[Card, ...], withheld: tuple[Card, ...], facts: HookFacts
) -> tuple[AuditRecord, ...]:
    """One audit row per card shown (or one for a call that showed none), and one per alert
    card withheld because its concern was overridden; each names the client it went to."""
    common: dict[str, Any] = {
        "client": call.client,
        "hook_instance": call.hook_instance,
        "service_id": call.service.id,
        "hook": call.service.hook,
        "rules_version": RULES_VERSION,
        "patient_id": call.patient_id,
        "early_grade": _text(facts.early_grade),
        "late_grade": _text(facts.late_grade),
        "timings_ms": facts.timings_ms,
    }
    rows = [_audit_row(card, common) for card in shown] or [AuditRecord(**common)]
    return (*rows, *(_audit_row(card, common, withheld=True) for card in withheld))


def _audit_row(card: Card, common: Mapping[str, Any], *, withheld: bool = False) -> AuditRecord:
    rule_ids = (card.rule_id,) if card.rule_id else ()
    return AuditRecord(
        card_uuid=card.uuid,
        rule_ids=rule_ids,
        concern_key=card.concern_key,
        withheld=withheld,
        **common,
    )


def _text(grade: int | None) -> str | None:
    return None if grade is None else str(grade)


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
        self.timings[self.phase] = round(self.timings.get(self.phase, 0.0) + elapsed, 2)
