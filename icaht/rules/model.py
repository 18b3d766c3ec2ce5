"""Input and output values of the management rules (docs/design.md §2 step 5).

Pure frozen values: no FHIR JSON, no clock. `DraftOrder` is the engine-side twin of the mapping
layer's order intent (`icaht` must not import `fhir_mappings`; the transport layer converts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from icaht.assessment import Assessment
from icaht.record import Analyte, GcsfExposure, LabValue, PatientRecord

Severity = Literal["critical", "warning", "info"]
Hook = Literal["patient-view", "order-select", "order-sign"]
EvidenceLevel = Literal["EO", "RS", "EXT", "LOW"]  # docs/clinical §10 evidence codes
OrderKind = Literal[
    "blood_product",
    "gcsf",
    "gmcsf",
    "tpo_ra",
    "anticoagulant",
    "myelosuppressive_drug",
    "marrow_biopsy",
    "other",
]
SuggestionAction = Literal["create", "replace", "remove"]

SEVERITY_RANK: dict[Severity, int] = {"critical": 0, "warning": 1, "info": 2}
ORDER_HOOKS: frozenset[Hook] = frozenset({"order-select", "order-sign"})


@dataclass(frozen=True, slots=True)
class DraftOrder:
    """One draft order of an order-select / order-sign request, in the engine's words.

    kind: as the mapping layer's OrderIntent. product: for blood products rbc / platelets /
    plasma / cryoprecipitate / granulocytes / other; for drugs the ingredient (e.g.
    "co-trimoxazole"). irradiated: True/False when the order says so, None when it does not.
    reference: e.g. "ServiceRequest/12", used by a suggestion that replaces or removes it.
    """

    kind: OrderKind
    reference: str
    display: str = ""
    product: str | None = None
    irradiated: bool | None = None


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """The configurable numbers of the rules. Defaults and their sources: docs/decisions/0005."""

    # M01 (§10, CONS-T3): irradiated products until >= 90 days after infusion (may be extended).
    irradiation_days_after_infusion: int = 90
    # M01 (§10, CONS-T3): from 7 days before leukapheresis.
    irradiation_days_before_apheresis: int = 7
    # M01 [PROPOSED] fallbacks when the apheresis date is unknown: the earlier of
    # lymphodepletion start - 7 d and infusion - 30 d (wider window = safer).
    irradiation_days_before_lymphodepletion: int = 7
    irradiation_days_before_infusion: int = 30
    # M01 [PROPOSED]: a leukapheresis or lymphodepletion after the last infusion (or with none on
    # record) opens the window before day 0 exists; it stays open until an infusion is on record,
    # at most this many days after that step (vein-to-vein times with bridging are weeks to a
    # few months; a collection never infused should not flag orders for ever).
    preparation_lookback_days: int = 180
    # [PROPOSED] a count older than this many days before the evaluation date is not "current"
    # for same-day thresholds (M03, M06-M09, M11, M13, M14, M18-M21).
    current_count_max_age_days: int = 2
    # [PROPOSED] a short-acting G-CSF dose on the evaluation day or the day before = G-CSF
    # ongoing (M03, M06 stay quiet: the patient already receives it; today's dose may not be
    # charted yet). Long-acting doses cover 14 days themselves (C15, icaht.gcsf).
    gcsf_ongoing_days: int = 1
    # M07 [PROPOSED in §10]: ANC <= 500 after >= 7 consecutive days of G-CSF = refractory.
    gcsf_refractory_days: int = 7
    # M19 [PROPOSED in §10]: cytopenia persisting >= 14 days ("beyond the expected 2-3 weeks").
    cytopenia_persistence_days: int = 14
    # M19 [PROPOSED]: measured values more than this many days apart break a cytopenia run
    # (the 7-day interpolation limit of §2.3 step 3).
    cytopenia_max_gap_days: int = 7
    # M15 (§10, S-HAEM Table 3): >= 2 platelet units within a 7-day timespan, day > 30.
    tpo_ra_platelet_units: int = 2
    tpo_ra_window_days: int = 7
    tpo_ra_after_day: int = 30
    # M22 (§10: "configurable threshold (no source number)"): cumulative RBC units. None = not
    # configured: M22 never fires and is listed as not evaluable when RBC units are on record.
    iron_overload_rbc_units: int | None = None
    # M12 [PROPOSED]: an IgG older than this is not current (§10: IgG every 3-6 months).
    igg_max_age_days: int = 180
    # M02 (C15, docs/clinical §17; S-HAEM Table 3 / CONS-T3: "G-CSF from day +2", day +5 the
    # alternative start): prophylactic G-CSF is proposed on days +2 .. this day.
    prophylactic_gcsf_last_day: int = 5


@dataclass(frozen=True, slots=True)
class RuleInput:
    """Everything one rules evaluation sees. `evaluation_date` is today, passed in."""

    assessment: Assessment
    record: PatientRecord
    evaluation_date: date
    hook: Hook
    draft_orders: tuple[DraftOrder, ...] = ()
    settings: RuleSettings = RuleSettings()
    # what icaht.rules.facts works out from the fields above, once per input: the rules ask
    # for the current value of an analyte 22 times and for G-CSF coverage on a day about 10
    # times per evaluation (issue 20). Not part of the value (no init, comparison or repr);
    # filled only from this input's own fields, which cannot change.
    _current: dict[tuple[Analyte, int], LabValue | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _gcsf_covering: dict[date, GcsfExposure | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


@dataclass(frozen=True, slots=True)
class DataUsed:
    """One datum an alert rests on (audit): what, its value, its day and its source id."""

    item: str  # e.g. "ANC", "early ICAHT grade", "draft order"
    value: str  # e.g. "300 /uL", "3 (provisional)"
    day: date | None = None
    source_id: str | None = None  # e.g. "Observation/12", "ServiceRequest/3"
    # True for what the engine computes as of the evaluation date (a grade with its status and
    # lower-bound flag): it moves from day to day on the same data, so it is audit context
    # but no part of the alert's concern (docs/decisions/0007)
    as_of_evaluation: bool = False


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An order intent for the card layer to turn into a FHIR suggestion."""

    label: str  # e.g. "Order irradiated platelets instead"
    action: SuggestionAction
    order_kind: OrderKind
    product: str | None = None
    irradiated: bool | None = None
    replaces: str | None = None  # reference of the draft order to replace / remove


@dataclass(frozen=True, slots=True)
class Alert:
    """One fired rule: what to tell the clinician, why (evidence), and from which source."""

    rule_id: str
    severity: Severity
    summary: str  # plain text, < 140 characters
    rationale: str  # built from the evidence: values, days, grades
    recommendation: str
    source: str
    evidence_level: tuple[EvidenceLevel, ...]
    data_used: tuple[DataUsed, ...]
    suggestions: tuple[Suggestion, ...] = ()

    @property
    def source_ids(self) -> tuple[str, ...]:
        """Source ids of the data used, for the audit record (rule id is `rule_id`)."""
        return tuple(dict.fromkeys(d.source_id for d in self.data_used if d.source_id))


@dataclass(frozen=True, slots=True)
class NotEvaluable:
    """A rule that could not be decided because data were missing; it did not fire."""

    rule_id: str
    needs: str  # e.g. "M15 needs transfusion records"


@dataclass(frozen=True, slots=True)
class RulesResult:
    """Fired alerts (critical > warning > info, then rule id) and rules that lacked data."""

    alerts: tuple[Alert, ...]
    not_evaluable: tuple[NotEvaluable, ...]
    suppressed: tuple[str, ...] = ()  # rule ids that fired but were subsumed (precedence)
