"""Therapy timeline (docs/clinical §1.2, docs/design.md §5): Procedure, MedicationAdministration,
MedicationRequest, MedicationStatement, Condition, ServiceRequest, Appointment,
BiologicallyDerivedProduct and Patient -> icaht.record.TherapyTimeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, cast

from fhir_mappings import findings
from fhir_mappings.irradiation import irradiated
from fhir_mappings.observations import Sink
from fhir_mappings.resources import (
    as_dict,
    as_list,
    normalise_reference,
    owner_of,
    reference_of,
)
from fhir_mappings.times import parse_when
from fhir_mappings.valuesets import Concept, ValueSets
from icaht.gcsf import acting_class
from icaht.record import (
    CarTInfusion,
    CoursePreparation,
    CrsPeriod,
    DrugCourse,
    GcsfExposure,
    Period,
    PlannedInfusion,
    StoredStemCells,
    SupportiveGroup,
    TherapyTimeline,
    Transfusion,
)

DONE = frozenset({"completed", "in-progress"})
REQUEST_OK = frozenset({"active", "completed"})
IGNORED_CONDITION = frozenset({"entered-in-error", "refuted"})
# C15: G-CSF counts from an *active* MedicationRequest (ordered now), and from a MedicationStatement
# that says it is taken (active) or was taken (completed) in its effective period; stopped,
# not-taken, intended, on-hold, unknown and entered-in-error statements do not count.
GCSF_REQUEST_OK = frozenset({"active"})
STATEMENT_OK = frozenset({"active", "completed"})
# Supportive drugs (issue 14, docs/decisions/0020): given (MedicationAdministration), ordered
# (an active MedicationRequest that is an order, not a proposal or a plan) or taken
# (MedicationStatement active/completed), as G-CSF under C15. TPO-RA is one of them.
SUPPORTIVE: frozenset[str] = frozenset(
    {
        "antiviral",
        "pjp",
        "antifungal",
        "antibacterial_prophylaxis",
        "corticosteroid",
        "ivig",
        "tpo_ra",
    }
)
SUPPORTIVE_INTENTS = frozenset({"order", "original-order", "instance-order", "filler-order"})
MED_GROUPS = (
    frozenset(
        {
            "car_t",
            "lymphodepletion",
            "gcsf",
            "gmcsf",
            "anticoagulant",
            "myelosuppressive_drug",
            "next_therapy",
            "transfusion",  # a blood product given as a MedicationAdministration
        }
    )
    | SUPPORTIVE
)
PROC_GROUPS = frozenset(
    {"car_t", "apheresis", "transfusion", "allo_hct", "next_therapy", "stem_cell_collection"}
)
# A planned CAR-T infusion (M24, docs/decisions/0020): a request that is still to be carried
# out (active; draft = written, not yet signed; on-hold = suspended, expected to resume) with an
# intent that is an order or a plan (a proposal, e.g. from decision support, is no plan); an
# Appointment not yet held or cancelled (R4 Appointment.status; checked-in is R4's "arrived").
PLAN_STATUS = frozenset({"active", "draft", "on-hold"})
PLAN_INTENTS = frozenset(
    {"plan", "order", "original-order", "reflex-order", "filler-order", "instance-order"}
)
APPOINTMENT_PLANNED = frozenset({"proposed", "pending", "booked", "arrived", "checked-in"})
PLAN = "car_t_plan"  # event group of a planned infusion (not a value-set group)
# Blood-product units stated by a MedicationAdministration's dose (dosage.dose.unit or .code):
# UCUM annotations and the words EHRs use; anything else (mL) leaves one unit per record.
BLOOD_UNIT_WORDS = frozenset({"{unit}", "{units}", "unit", "units", "u", "{bag}", "bag", "bags"})
MAX_UNITS_PER_RECORD = 10  # more in one administration record is not believed: 1 and a warning
COND_GROUPS = (
    frozenset({"crs", "cardiovascular", "mould", "relapse", "allo_hct_history"})
    | findings.FINDING_GROUPS
)
ProductName = Literal["rbc", "platelets", "plasma", "cryoprecipitate", "granulocytes", "other"]
PRODUCTS: frozenset[str] = frozenset(
    {"rbc", "platelets", "plasma", "cryoprecipitate", "granulocytes", "other"}
)


@dataclass(frozen=True, slots=True)
class Event:
    """One dated therapy fact."""

    group: str
    name: str | None
    day: date
    source_id: str
    end: date | None = None  # for periods (requests, conditions)
    grade: int | None = None
    irradiated: bool | None = None
    ongoing: bool = False  # a request or condition without an end
    recorded: Literal["given", "ordered", "taken"] = "given"  # administration/request/statement
    units: int = 1  # blood-product units of a transfusion record


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    value_sets: ValueSets
    tz: str
    split_dose_window_days: int = 14
    lymphodepletion_window_days: int = 14


# -- dates ---------------------------------------------------------------------------------------


def _day(text: Any, tz: str) -> date | None:
    if not isinstance(text, str):
        return None
    when = parse_when(text, tz)
    return None if when is None else when.day


def _start(res: Mapping[str, Any], field: str, tz: str) -> date | None:
    """<field>DateTime, else <field>Period.start."""
    day = _day(res.get(f"{field}DateTime"), tz)
    if day is None:
        period = res.get(f"{field}Period")
        if isinstance(period, Mapping):
            day = _day(period.get("start"), tz)
    return day


# -- resources -> events ---------------------------------------------------------------------------


class EventReader:
    """Turns therapy resources into Events; Medication resources are resolved by reference."""

    def __init__(
        self,
        settings: ReaderSettings,
        medications: Mapping[str, Mapping[str, Any]],
        products: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.s = settings
        self.medications = medications
        # BiologicallyDerivedProduct by reference key; the caller's table itself, even empty:
        # TimelineReader adds to it as resources arrive
        self.products = {} if products is None else products
        self.stored: list[StoredStemCells] = []  # read by stem_cells()

    def medication_concepts(
        self, res: Mapping[str, Any], groups: frozenset[str]
    ) -> tuple[Concept, ...]:
        vs = self.s.value_sets
        direct = res.get("medicationCodeableConcept")
        if direct is not None:
            return vs.match(direct, groups)
        ref = reference_of(res.get("medicationReference"))
        med = self._medication(res, ref) if ref else None
        if med is None:
            return ()
        found = vs.match(med.get("code"), groups)
        if found:
            return found
        out: list[Concept] = []
        for ing in as_list(med.get("ingredient")):
            if isinstance(ing, Mapping):
                out.extend(vs.match(ing.get("itemCodeableConcept"), groups))
        return tuple(dict.fromkeys(out))

    def _medication(self, res: Mapping[str, Any], ref: str) -> Mapping[str, Any] | None:
        if ref.startswith("#"):
            for c in as_list(res.get("contained")):
                if isinstance(c, Mapping) and f"#{c.get('id')}" == ref:
                    return c
            return None
        return self.medications.get(ref) or self.medications.get(normalise_reference(ref))

    def administration(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        concepts = self.medication_concepts(res, MED_GROUPS)
        if not concepts:
            return []
        if _status(res) not in DONE:
            _status_out(res, rid, sink)
            return []
        day = _start(res, "effective", self.s.tz)
        if day is None:
            sink.out(rid, "no-time", "administration without effective time")
            return []
        if not any(c.group == "transfusion" for c in concepts):
            return [Event(c.group, c.name, day, rid) for c in concepts]
        irr = irradiated(res, res.get("medicationCodeableConcept"))
        units = _units(res, rid, sink)
        return [
            Event(c.group, c.name, day, rid, irradiated=irr, units=units)
            if c.group == "transfusion"
            else Event(c.group, c.name, day, rid)
            for c in concepts
        ]

    def request(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        planned = self._planned_product(res, rid, sink)
        groups = frozenset({"anticoagulant", "myelosuppressive_drug", "gcsf"}) | SUPPORTIVE
        concepts = self.medication_concepts(res, groups)
        if _status(res) not in GCSF_REQUEST_OK:
            # a completed G-CSF order is no dose (C15); a supportive drug counts while its
            # order is active, as G-CSF does (issue 14)
            concepts = tuple(c for c in concepts if c.group != "gcsf" and c.group not in SUPPORTIVE)
        if _intent(res) not in SUPPORTIVE_INTENTS:  # a proposal or plan is no order
            concepts = tuple(c for c in concepts if c.group not in SUPPORTIVE)
        if not concepts:
            return planned
        if _status(res) not in REQUEST_OK or res.get("intent") in ("proposal", "plan"):
            return planned
        start, end = self._request_period(res)
        if start is None:
            sink.out(rid, "no-time", "medication request without start")
            return planned
        return planned + [
            Event(c.group, c.name, start, rid, end=end, ongoing=end is None, recorded="ordered")
            for c in concepts
        ]

    def _planned_product(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        """A MedicationRequest for a CAR-T product: a planned infusion on the day its dosage
        says (timing.event, else the repeat bounds' start); its authoredOn is the day it was
        written, not the infusion day, and is not used."""
        concepts = self.medication_concepts(res, frozenset({"car_t"}))
        if not concepts:
            return []
        day = None
        for dose in as_list(res.get("dosageInstruction")):
            day = _timing_day(as_dict(dose).get("timing"), self.s.tz)
            if day is not None:
                break
        return _plan(res, rid, sink, concepts, day)

    def service_request(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        """A ServiceRequest for a CAR-T infusion (car_t codes: CPT 38228, ICD-10-PCS, product
        codes): a planned infusion on its occurrence day."""
        concepts = self.s.value_sets.match(res.get("code"), frozenset({"car_t"}))
        if not concepts:
            return []
        day = _start(res, "occurrence", self.s.tz) or _timing_day(
            res.get("occurrenceTiming"), self.s.tz
        )
        return _plan(res, rid, sink, concepts, day)

    def appointment(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        """An Appointment for a CAR-T infusion: its service type, reason, appointment type,
        specialty, category or description names a CAR-T code or product; its start is the
        planned day."""
        fields: list[Any] = [res.get("appointmentType")]
        for key in ("serviceType", "reasonCode", "specialty", "serviceCategory", "reason"):
            for item in as_list(res.get(key)):
                # R5 makes serviceType and reason CodeableReferences ({"concept": ...})
                fields.append(item.get("concept", item) if isinstance(item, Mapping) else item)
        if isinstance(res.get("description"), str):
            fields.append({"text": res["description"]})
        found: list[Concept] = []
        for concept in fields:
            found.extend(self.s.value_sets.match(concept, frozenset({"car_t"})))
        concepts = tuple(dict.fromkeys(found))
        if not concepts:
            return []
        status = _status(res)
        if status == "entered-in-error":
            _status_out(res, rid, sink)
            return []
        if status not in APPOINTMENT_PLANNED:
            return []  # held (fulfilled), cancelled, no-show, waitlisted: no plan
        day = _day(res.get("start"), self.s.tz)
        if day is None:
            sink.out(rid, "no-time", "CAR-T appointment without start")
            return []
        return [Event(PLAN, c.name, day, rid, recorded="ordered") for c in concepts]

    def stem_cells(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        """A BiologicallyDerivedProduct of haematopoietic progenitor (CD34+) cells collected
        from this patient -> StoredStemCells (docs/decisions/0020). R4 `status` available /
        unavailable (R5 `productStatus`); the collection day from collection.collected[x]."""
        concepts = self.s.value_sets.match(res.get("productCode"), frozenset({"stem_cell_product"}))
        if not concepts or _product_category(res) not in (None, "cells"):
            return []
        if owner_of(res) is None:  # R4 has no patient element: collection.source must name one
            sink.out(rid, "no-patient", "stem-cell product without collection.source patient")
            return []
        status = _status(res) or _code(res.get("productStatus"))
        if status not in ("available", "unavailable"):
            sink.out(rid, "status-not-usable", f"stem-cell product status {status!r}")
            return []
        collection = as_dict(res.get("collection"))
        day = _start(collection, "collected", self.s.tz)
        self.stored.append(StoredStemCells(status == "available", day, rid))
        return []

    def statement(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        """MedicationStatement: G-CSF (C15) or a supportive drug taken over its effective
        period. Active and no end: still taken (open); completed and no end: taken on its
        start day."""
        concepts = self.medication_concepts(res, frozenset({"gcsf"}) | SUPPORTIVE)
        if not concepts:
            return []
        if _status(res) not in STATEMENT_OK:
            _status_out(res, rid, sink)
            return []
        start = _start(res, "effective", self.s.tz) or _day(res.get("dateAsserted"), self.s.tz)
        if start is None:
            sink.out(rid, "no-time", "medication statement without effective time")
            return []
        period = res.get("effectivePeriod")
        end = _day(period.get("end"), self.s.tz) if isinstance(period, Mapping) else None
        if end is None and _status(res) == "completed":
            end = start
        return [
            Event(c.group, c.name, start, rid, end=end, ongoing=end is None, recorded="taken")
            for c in concepts
        ]

    def _request_period(self, res: Mapping[str, Any]) -> tuple[date | None, date | None]:
        for dose in as_list(res.get("dosageInstruction")):
            repeat = as_dict(as_dict(as_dict(dose).get("timing")).get("repeat"))
            bounds = repeat.get("boundsPeriod")
            if isinstance(bounds, Mapping) and bounds.get("start"):
                return _day(bounds.get("start"), self.s.tz), _day(bounds.get("end"), self.s.tz)
        start = _day(res.get("authoredOn"), self.s.tz)
        end = start if _status(res) == "completed" else None
        return start, end

    def procedure(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        concepts = self.s.value_sets.match(res.get("code"), PROC_GROUPS)
        product = None
        if not concepts:  # e.g. a generic transfusion code: the product used names the kind
            concepts, product = self._used_blood_product(res)
        if not concepts:
            return []
        if _status(res) not in DONE:
            _status_out(res, rid, sink)
            return []
        if _status(res) != "completed":  # cells stored only once the collection is done
            concepts = tuple(c for c in concepts if c.group != "stem_cell_collection")
        day = _start(res, "performed", self.s.tz)
        if day is None:
            sink.out(rid, "no-time", "procedure without performed time")
            return []
        irr = irradiated(res, res.get("code"))
        if product is not None:
            irr = irr if irr is not None else irradiated(product, product.get("productCode"))
        return [Event(c.group, c.name, day, rid, irradiated=irr) for c in concepts]

    def _used_blood_product(
        self, res: Mapping[str, Any]
    ) -> tuple[tuple[Concept, ...], Mapping[str, Any] | None]:
        """Blood-product concepts of a BiologicallyDerivedProduct the Procedure used (R4
        `usedReference`, R5 `used[].reference`): R4 has no dispense of a product, so only a
        Procedure dates its use (docs/decisions/0020)."""
        refs = [reference_of(r) for r in as_list(res.get("usedReference"))]
        refs += [reference_of(as_dict(u).get("reference")) for u in as_list(res.get("used"))]
        for ref in refs:
            product = self.products.get(normalise_reference(ref)) if ref else None
            if product is None:
                continue
            found = self.s.value_sets.match(product.get("productCode"), frozenset({"transfusion"}))
            if found:
                return found, product
        return (), None

    def condition(self, res: Mapping[str, Any], rid: str, sink: Sink) -> list[Event]:
        concepts = self.s.value_sets.match(res.get("code"), COND_GROUPS)
        if not concepts:
            return []
        if _code(res.get("verificationStatus")) in IGNORED_CONDITION:
            sink.out(rid, "entered-in-error", "condition refuted or entered in error")
            return []
        onset = _start(res, "onset", self.s.tz)
        day = onset or _day(res.get("recordedDate"), self.s.tz)
        if day is None:
            sink.out(rid, "no-time", "condition without onset or recorded date")
            return []
        if onset is None and any(c.group == "relapse" for c in concepts):
            # an "in relapse" code is the reason for CAR-T and is re-entered at later visits:
            # only a stated onset dates a relapse (a recorded date would censor on a re-entry)
            sink.out(rid, "no-time", "relapse or progression without an onset date")
            concepts = tuple(c for c in concepts if c.group != "relapse")
        end = _day(res.get("abatementDateTime"), self.s.tz)
        if end is None and isinstance(res.get("abatementPeriod"), Mapping):
            end = _day(res["abatementPeriod"].get("end"), self.s.tz)
        status = _code(res.get("clinicalStatus"))
        # infections and bleeding: open only while active (issue 14, findings.finding_end)
        finding_end = findings.finding_end(status, day, end)
        resolved = ("resolved", "inactive", "remission")
        if end is None and status in resolved:
            end = day  # resolved without a date: at least the onset day
        return [
            Event(
                c.group,
                c.name,
                day,
                rid,
                end=finding_end if c.group in findings.FINDING_GROUPS else end,
                grade=c.grade,
            )
            for c in concepts
        ]


def _status(res: Mapping[str, Any]) -> str | None:
    status = res.get("status")
    return status if isinstance(status, str) else None


def _intent(res: Mapping[str, Any]) -> str | None:
    intent = res.get("intent")
    return intent if isinstance(intent, str) else None


def _status_out(res: Mapping[str, Any], rid: str, sink: Sink) -> None:
    status = res.get("status")
    reason = "entered-in-error" if status == "entered-in-error" else "status-not-usable"
    sink.out(rid, reason, f"{res.get('resourceType')} status {status!r} is not counted")


def _plan(
    res: Mapping[str, Any],
    rid: str,
    sink: Sink,
    concepts: Sequence[Concept],
    day: date | None,
) -> list[Event]:
    """A request for a CAR-T infusion that is still a plan (PLAN_STATUS, PLAN_INTENTS) ->
    planned-infusion events; completed, revoked, entered-in-error requests are no plan."""
    status = _status(res)
    if status == "entered-in-error":
        _status_out(res, rid, sink)
        return []
    if status not in PLAN_STATUS or _intent(res) not in PLAN_INTENTS:
        return []
    if day is None:
        sink.out(rid, "no-time", f"{res.get('resourceType')} for CAR-T without a planned date")
        return []
    return [Event(PLAN, c.name, day, rid, recorded="ordered") for c in concepts]


def _timing_day(timing: Any, tz: str) -> date | None:
    """A Timing's first event, else its repeat bounds' start."""
    t = as_dict(timing)
    for event in as_list(t.get("event")):
        day = _day(event, tz)
        if day is not None:
            return day
    bounds = as_dict(as_dict(t.get("repeat")).get("boundsPeriod"))
    return _day(bounds.get("start"), tz)


def _product_category(res: Mapping[str, Any]) -> str | None:
    """R4 productCategory is a code, R5 a CodeableConcept."""
    category = res.get("productCategory")
    return category if isinstance(category, str) else _code(category)


def _units(res: Mapping[str, Any], rid: str, sink: Sink) -> int:
    """Blood-product units a MedicationAdministration states (dosage.dose in units or bags),
    else 1 per record (docs/decisions/0020)."""
    dose = as_dict(as_dict(res.get("dosage")).get("dose"))
    value = dose.get("value")
    words = {str(dose[k]).strip().lower() for k in ("unit", "code") if isinstance(dose.get(k), str)}
    if not words & BLOOD_UNIT_WORDS or isinstance(value, bool):
        return 1
    if not isinstance(value, int | float) or value != int(value) or value < 1:
        return 1
    if value > MAX_UNITS_PER_RECORD:
        sink.warn(rid, "implausible-units", f"{value} units in one record: counted as 1")
        return 1
    return int(value)


def _code(concept: Any) -> str | None:
    if isinstance(concept, Mapping):
        for c in as_list(concept.get("coding")):
            if isinstance(c, Mapping) and c.get("code"):
                return str(c["code"])
    return None


# -- events -> timeline ----------------------------------------------------------------------------


def courses(events: Sequence[Event], window_days: int) -> tuple[CarTInfusion, ...]:
    """Group CAR-T infusions: same product within the window -> one course (split dosing)."""
    out: list[tuple[date, str | None, list[date], list[str]]] = []
    for ev in sorted(events, key=lambda e: (e.day, e.name is None)):
        if out:
            day0, product, days, ids = out[-1]
            same = ev.name is None or product is None or ev.name == product
            if same and (ev.day - day0).days <= window_days:
                if product is None and ev.name is not None:
                    out[-1] = (day0, ev.name, days, ids)
                days.append(ev.day)
                ids.append(ev.source_id)
                continue
        out.append((ev.day, ev.name, [ev.day], [ev.source_id]))
    return tuple(
        CarTInfusion(
            day0=d0,
            product=p,
            infusion_days=tuple(sorted(set(days))),
            source_ids=tuple(dict.fromkeys(ids)),
        )
        for d0, p, days, ids in out
    )


def merge_periods(events: Sequence[Event]) -> tuple[Period, ...]:
    """Administrations (one day) and requests (start..end) -> merged periods (gap <= 1 day)."""
    spans = sorted(
        ((e.day, None if e.ongoing else (e.end or e.day), e.source_id) for e in events),
        key=lambda s: s[0],
    )
    merged: list[list[Any]] = []
    for start, end, sid in spans:
        if merged:
            last = merged[-1]
            if last[1] is None or start <= last[1] + timedelta(days=1):
                last[1] = None if last[1] is None or end is None else max(last[1], end)
                continue
        merged.append([start, end, sid])
    return tuple(Period(start=s, end=e, source_id=sid) for s, e, sid in merged)


def _transfusions(events: Sequence[Event]) -> tuple[Transfusion, ...]:
    out: list[Transfusion] = []
    seen: set[tuple[str, date, str]] = set()
    for e in sorted(events, key=lambda e: e.day):
        product = e.name if e.name in PRODUCTS else "other"
        key = (e.source_id, e.day, product)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            Transfusion(
                day=e.day,
                product=cast(ProductName, product),
                units=e.units,
                irradiated=e.irradiated,
                source_id=e.source_id,
            )
        )
    return tuple(out)


def _by_group(events: Sequence[Event]) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = {}
    for e in events:
        out.setdefault(e.group, []).append(e)
    return out


def _lymphodepletion(
    events: Sequence[Event], day0: date | None, window: int
) -> tuple[date | None, tuple[str, ...]]:
    if day0 is None:
        return None, ()
    inside = [e for e in events if day0 - timedelta(days=window) <= e.day < day0]
    if not inside:
        return None, ()
    agents = tuple(sorted({e.name for e in inside if e.name}))
    return min(e.day for e in inside), agents


def _preparation(g: Mapping[str, Sequence[Event]], day0: date | None) -> CoursePreparation | None:
    """The first leukapheresis or lymphodepletion dose after the last infusion (or with none on
    record): a course being prepared, whose irradiation window opens before day 0 (M01)."""
    steps: list[tuple[date, Literal["apheresis", "lymphodepletion"], str]] = [
        (e.day, step, e.source_id)
        for step in ("apheresis", "lymphodepletion")
        for e in g.get(step, [])
        if day0 is None or e.day > day0
    ]
    if not steps:
        return None
    day, step, source_id = min(steps)
    return CoursePreparation(day, step, source_id)


def _last_before(events: Sequence[Event], day0: date | None) -> date | None:
    """The latest event on or before day 0 (the collection for the current course)."""
    days = [e.day for e in events if day0 is not None and e.day <= day0]
    return max(days) if days else None


def _first_after(events: Sequence[Event], day0: date | None) -> date | None:
    days = [e.day for e in events if day0 is not None and e.day > day0]
    return min(days) if days else None


def build_timeline(
    events: Sequence[Event],
    settings: ReaderSettings,
    death_day: date | None,
    stored: Sequence[StoredStemCells] = (),
    sink: Sink | None = None,
) -> TherapyTimeline:
    g = _by_group(events)
    infusions = courses(g.get("car_t", []), settings.split_dose_window_days)
    day0 = infusions[-1].day0 if infusions else None
    ld_start, ld_agents = _lymphodepletion(
        g.get("lymphodepletion", []), day0, settings.lymphodepletion_window_days
    )
    allo = g.get("allo_hct", [])
    prior_allo = bool(g.get("allo_hct_history")) or any(day0 is None or e.day < day0 for e in allo)
    crs = g.get("crs", [])
    return TherapyTimeline(
        infusions=infusions,
        apheresis_day=_last_before(g.get("apheresis", []), day0),
        lymphodepletion_start=ld_start,
        lymphodepletion_agents=ld_agents,
        preparation=_preparation(g, day0),
        gcsf_days=_days([e for e in g.get("gcsf", []) if e.recorded == "given"]),
        gcsf_exposures=_gcsf_exposures(g.get("gcsf", [])),
        gmcsf_days=_days(g.get("gmcsf", [])),
        transfusions=_transfusions(g.get("transfusion", [])),
        # each record keeps its own grade: M20 reads the grade active that day (C16)
        crs_periods=tuple(
            CrsPeriod(e.day, e.end, e.source_id, e.grade) for e in sorted(crs, key=_key)
        ),
        anticoagulant_periods=merge_periods(g.get("anticoagulant", [])),
        myelosuppressive_drug_periods=merge_periods(g.get("myelosuppressive_drug", [])),
        prior_allo_hct=True if prior_allo else None,
        cardiovascular_disease=True if g.get("cardiovascular") else None,
        prior_invasive_mould_infection=True if g.get("mould") else None,
        relapse_day=_first_after(g.get("relapse", []), day0),
        next_therapy_day=_first_after(g.get("next_therapy", []), day0),
        allo_hct_day=_first_after(allo, day0),
        death_day=death_day,
        infections=findings.infections(g.get("infection", [])),
        bleeding=findings.bleeding(g.get("bleeding", [])),
        disease=findings.disease(g.get("disease", []), sink),
        supportive_drugs=_supportive(events),
        planned_infusion=_planned(g.get(PLAN, []), infusions),
        stored_stem_cells=_stored(g.get("stem_cell_collection", []), stored),
    )


def _key(e: Event) -> date:
    return e.day


def _days(events: Sequence[Event]) -> tuple[date, ...]:
    return tuple(sorted({e.day for e in events}))


def _supportive(events: Sequence[Event]) -> tuple[DrugCourse, ...]:
    """Supportive-drug events -> courses, oldest first: a dose given covers its day, an order
    or statement its period (open while it has no end)."""
    out: dict[tuple[Any, ...], DrugCourse] = {}
    for e in events:
        if e.group not in SUPPORTIVE:
            continue
        end = e.day if e.recorded == "given" else (None if e.ongoing else (e.end or e.day))
        course = DrugCourse(
            start=e.day,
            end=end,
            source_id=e.source_id,
            group=cast(SupportiveGroup, e.group),
            name=e.name,
            recorded=e.recorded,
        )
        out.setdefault((e.day, end, e.group, e.name, e.source_id), course)
    return tuple(
        sorted(out.values(), key=lambda c: (c.start, c.group, c.name or "", c.source_id or ""))
    )


def _planned(events: Sequence[Event], infusions: Sequence[CarTInfusion]) -> PlannedInfusion | None:
    """The earliest planned infusion dated after the last infusion on record (the mapping has
    no clock: a plan on or before it is the infusion given, or a plan overtaken); of plans on
    the same day, one that names the product."""
    last = max((d for c in infusions for d in c.infusion_days), default=None)
    plans = [e for e in events if last is None or e.day > last]
    if not plans:
        return None
    first = min(plans, key=lambda e: (e.day, e.name is None, e.source_id))
    return PlannedInfusion(first.day, first.name, first.source_id)


def _stored(
    collections: Sequence[Event], products: Sequence[StoredStemCells]
) -> tuple[StoredStemCells, ...]:
    """Stored stem cells: every product record, and every completed collection Procedure on
    a day no product record was collected (a product says whether the cells are still
    available, a collection only that they were stored)."""
    product_days = {p.day for p in products if p.day is not None}
    out = list(products) + [
        StoredStemCells(True, e.day, e.source_id) for e in collections if e.day not in product_days
    ]
    unique = {s.source_id: s for s in out}
    return tuple(sorted(unique.values(), key=lambda s: (s.day or date.min, s.source_id or "")))


def _gcsf_exposures(events: Sequence[Event]) -> tuple[GcsfExposure, ...]:
    """G-CSF events -> exposures with their acting class (C15, icaht.gcsf). A long-acting order
    or statement without an end stands for one dose on its start day (the labels: one dose per
    chemotherapy cycle); a short-acting one without an end stays open (daily dosing)."""
    out: dict[tuple[date, date | None, str, str | None], GcsfExposure] = {}
    for e in sorted(events, key=_key):
        acting = acting_class(e.name)
        last = e.day if e.recorded == "given" else (None if e.ongoing else (e.end or e.day))
        if last is None and acting == "long":
            last = e.day
        exposure = GcsfExposure(e.day, last, acting, e.name, e.source_id)
        out.setdefault((e.day, last, e.source_id, e.name), exposure)
    return tuple(out.values())


def death_of(patients: Sequence[tuple[Mapping[str, Any], str]], tz: str, sink: Sink) -> date | None:
    for res, rid in patients:
        day = _day(res.get("deceasedDateTime"), tz)
        if day is not None:
            return day
        if res.get("deceasedBoolean") is True:
            sink.warn(rid, "death-without-date", "patient deceased, date not recorded")
    return None


# the resources other resources are resolved against (by reference key)
LOOKUP_TYPES = frozenset({"Medication", "BiologicallyDerivedProduct"})


class TimelineReader:
    """Reads a patient's non-Observation resources into events as they arrive (a hook call's
    two stages), each once; `timeline` builds the TherapyTimeline of everything read so far.

    What the reading left out is kept apart and handed to the sink `timeline` is given, so that
    the final sink lists it in resource order whatever the number of `add` calls."""

    def __init__(self, cfg: Any, tz: str) -> None:
        self.settings = ReaderSettings(
            value_sets=cfg.value_sets,
            tz=tz,
            split_dose_window_days=cfg.split_dose_window_days,
            lymphodepletion_window_days=cfg.lymphodepletion_window_days,
        )
        self.read: list[tuple[Mapping[str, Any], str]] = []
        self.medications: dict[str, Mapping[str, Any]] = {}
        self.products: dict[str, Mapping[str, Any]] = {}
        self._restart()

    def _restart(self) -> None:
        self.reader = EventReader(self.settings, self.medications, self.products)
        self.events: list[Event] = []
        self.patients: list[tuple[Mapping[str, Any], str]] = []
        self.sink = Sink()

    def add(self, resources: list[tuple[Mapping[str, Any], str]]) -> None:
        lookups = [(res, rid) for res, rid in resources if res.get("resourceType") in LOOKUP_TYPES]
        for res, rid in lookups:  # the last of a key wins, as in one pass
            table = self.medications if res.get("resourceType") == "Medication" else self.products
            table[rid] = res
        earlier = self.read
        self.read = [*earlier, *resources]
        if lookups and earlier:
            # a Medication or product arriving later can change what an earlier resource says:
            # read everything again (the service's own searches include none, so this is rare)
            self._restart()
            self._read(self.read)
        else:
            self._read(resources)

    def _read(self, resources: list[tuple[Mapping[str, Any], str]]) -> None:
        reader = self.reader
        handlers = {
            "MedicationAdministration": reader.administration,
            "MedicationRequest": reader.request,
            "MedicationStatement": reader.statement,
            "Procedure": reader.procedure,
            "Condition": reader.condition,
            "ServiceRequest": reader.service_request,
            "Appointment": reader.appointment,
            "BiologicallyDerivedProduct": reader.stem_cells,
        }
        for res, rid in resources:
            rtype = str(res.get("resourceType"))
            if rtype == "Patient":
                self.patients.append((res, rid))
            handler = handlers.get(rtype)
            if handler is not None:
                self.events.extend(handler(res, rid, self.sink))

    def timeline(self, sink: Sink) -> TherapyTimeline:
        """The timeline of everything read so far; what reading and building left out goes to
        `sink`."""
        sink.left_out.extend(self.sink.left_out)
        sink.warnings.extend(self.sink.warnings)
        death = death_of(self.patients, self.settings.tz, sink)
        return build_timeline(self.events, self.settings, death, self.reader.stored, sink)
