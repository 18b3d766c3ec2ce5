"""The patient record: the engine's input, produced by `fhir_mappings`.

This module is the contract between the mapping layer and the engine. Every value
here is already clean: canonical units (docs/clinical/11-codes-and-units.md §11.3), a local
calendar date (section 1.1), entered-in-error and unmappable Observations removed
(the mapping layer reports those separately as `LeftOut`).

No FHIR JSON, no I/O, no clock: plain frozen values.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal


class Analyte(StrEnum):
    """Laboratory analytes the rules use, each with its canonical unit (section 11.3)."""

    ANC = "anc"  # cells/uL
    WBC = "wbc"  # cells/uL
    LYMPHOCYTES = "lymphocytes"  # cells/uL
    CD4 = "cd4"  # cells/uL
    PLATELETS = "platelets"  # 10^9/L
    HEMOGLOBIN = "hemoglobin"  # g/dL
    CRP = "crp"  # mg/L (CAR-HEMATOTOX and m-EASIX convert to mg/dL themselves)
    FERRITIN = "ferritin"  # ng/mL
    LDH = "ldh"  # U/L
    CREATININE = "creatinine"  # mg/dL
    FIBRINOGEN = "fibrinogen"  # mg/dL
    ALT = "alt"  # U/L
    AST = "ast"  # U/L
    TRIGLYCERIDES = "triglycerides"  # mg/dL
    IGG = "igg"  # mg/dL
    TEMPERATURE = "temperature"  # Cel (fever, docs/clinical §10 M14; issue 14)


CANONICAL_UNIT: dict[Analyte, str] = {
    Analyte.ANC: "/uL",
    Analyte.WBC: "/uL",
    Analyte.LYMPHOCYTES: "/uL",
    Analyte.CD4: "/uL",
    Analyte.PLATELETS: "10*9/L",
    Analyte.HEMOGLOBIN: "g/dL",
    Analyte.CRP: "mg/L",
    Analyte.FERRITIN: "ng/mL",
    Analyte.LDH: "U/L",
    Analyte.CREATININE: "mg/dL",
    Analyte.FIBRINOGEN: "mg/dL",
    Analyte.ALT: "U/L",
    Analyte.AST: "U/L",
    Analyte.TRIGLYCERIDES: "mg/dL",
    Analyte.IGG: "mg/dL",
    Analyte.TEMPERATURE: "Cel",
}

Comparator = Literal["<", "<=", ">", ">="]

# How a value was obtained (section 1.3): measured directly, derived from
# WBC x neutrophil fraction of the same specimen, or only bounded by the WBC
# ("ANC <= WBC"; recorded with comparator "<=").
Provenance = Literal["measured", "derived", "derived-bound"]


@dataclass(frozen=True, slots=True)
class LabValue:
    """One laboratory result in canonical units on a local calendar day."""

    analyte: Analyte
    value: float
    day: date  # local calendar date of specimen collection (section 1.1, D2)
    # timezone-aware timestamp when known (orders same-day values)
    collected: datetime | None = None
    comparator: Comparator | None = None
    provenance: Provenance = "measured"
    preliminary: bool = False  # status `preliminary`: usable for provisional grading only
    reference_low: float | None = None  # canonical unit; LLN for CTCAE grade 1
    reference_high: float | None = None  # canonical unit; ULN for IEC-HS screening
    source_id: str | None = None  # e.g. "Observation/123", for evidence and audit

    @classmethod
    def of(  # noqa: PLR0917 - every field, positionally: the mapping's per-value path
        cls,
        analyte: Analyte,
        value: float,
        day: date,
        collected: datetime | None,
        comparator: Comparator | None,
        provenance: Provenance,
        preliminary: bool,
        reference_low: float | None,
        reference_high: float | None,
        source_id: str | None,
    ) -> LabValue:
        """`LabValue(...)` with every field given, in field order, at half the cost (0.65
        instead of 1.2 us: issue 20). The frozen __init__ sets each field through
        object.__setattr__; this sets the slots directly. Equal to `LabValue(...)`
        (tests/unit/engine/test_record_construction.py); for the mapping's hot loops."""
        lab = _new_object(cls)
        _SET_ANALYTE(lab, analyte)
        _SET_VALUE(lab, value)
        _SET_DAY(lab, day)
        _SET_COLLECTED(lab, collected)
        _SET_COMPARATOR(lab, comparator)
        _SET_PROVENANCE(lab, provenance)
        _SET_PRELIMINARY(lab, preliminary)
        _SET_REFERENCE_LOW(lab, reference_low)
        _SET_REFERENCE_HIGH(lab, reference_high)
        _SET_SOURCE_ID(lab, source_id)
        return lab


_new_object = object.__new__
# the slot descriptors' setters, in field order (LabValue.of)
(
    _SET_ANALYTE,
    _SET_VALUE,
    _SET_DAY,
    _SET_COLLECTED,
    _SET_COMPARATOR,
    _SET_PROVENANCE,
    _SET_PRELIMINARY,
    _SET_REFERENCE_LOW,
    _SET_REFERENCE_HIGH,
    _SET_SOURCE_ID,
) = (LabValue.__dict__[name].__set__ for name in LabValue.__slots__)


def is_upper_bound(lab: LabValue) -> bool:
    """A value known only as below x ("<x") or derived as at most x (ANC <= WBC, section 1.3)."""
    return lab.comparator == "<" or lab.provenance == "derived-bound"


def daily_lowest(values: Iterable[LabValue]) -> tuple[LabValue, ...]:
    """One value per calendar day, oldest first: the day's lowest (section 1.1, A9); of equal
    values the bound, which may lie lower."""
    days: dict[date, list[LabValue]] = {}
    for value in values:
        days.setdefault(value.day, []).append(value)
    return tuple(min(days[d], key=lambda v: (v.value, not is_upper_bound(v))) for d in sorted(days))


@dataclass(frozen=True, slots=True)
class Transfusion:
    """Blood product units given on one day (for TPO-RA trigger M15 and iron burden M22)."""

    day: date
    product: Literal["rbc", "platelets", "plasma", "cryoprecipitate", "granulocytes", "other"]
    units: int = 1
    irradiated: bool | None = None
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class Period:
    """A closed or open interval of calendar days (e.g. active CRS, an anticoagulant course)."""

    start: date
    end: date | None = None  # None = ongoing
    source_id: str | None = None

    def contains(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


GcsfActing = Literal["short", "long"]


@dataclass(frozen=True, slots=True)
class GcsfExposure:
    """G-CSF on record (docs/clinical §17 C15): one dose given (an administration:
    `start == last_dose`), or a course on record as ordered or taken (an active MedicationRequest,
    a MedicationStatement: `start` .. `last_dose`, `None` while it is open).

    `acting` says how long one dose covers: a short-acting dose its own day, a long-acting
    (pegylated) dose 14 days; the days themselves are the engine's table (icaht.gcsf)."""

    start: date
    last_dose: date | None
    acting: GcsfActing
    product: str | None = None  # e.g. "pegfilgrastim"
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class CrsPeriod(Period):
    """One CRS record (a Condition): its days and the ASTCT grade it states (None = not stated).
    Several records may follow each other, e.g. grade 3, then grade 1 after treatment."""

    grade: int | None = None


# docs/clinical §17 C16: an open CRS record (no abatement) older than this many days is not
# active (CRS lasts days; an open record weeks later is a record nobody closed).
CRS_OPEN_RECORD_MAX_DAYS = 21


InfectionKind = Literal[
    "sepsis",
    "bacteraemia",
    "pneumonia",
    "febrile_neutropenia",
    "invasive_fungal",
    "viral",  # CMV, HSV, VZV disease
    "positive_blood_culture",  # an Observation, not a Condition: one day (start == end)
    "other",
]


@dataclass(frozen=True, slots=True)
class Infection(Period):
    """One infection on record: a Condition (active, or abated on `end`) or a positive blood
    culture (its collection day). Whether it is active on a day is the engine's reading
    (icaht.clinical_status), not the mapping's."""

    kind: InfectionKind = "other"


SupportiveGroup = Literal[
    "antiviral",  # HSV/VZV prophylaxis (M10): aciclovir, valaciclovir, famciclovir
    "pjp",  # PJP prophylaxis (M11): co-trimoxazole, pentamidine, atovaquone, dapsone
    "antifungal",  # M09
    "antibacterial_prophylaxis",  # M08: fluoroquinolones
    "corticosteroid",  # M09: prolonged exposure
    "ivig",  # M12, M26
    "tpo_ra",  # M15
]


@dataclass(frozen=True, slots=True)
class DrugCourse(Period):
    """A supportive drug on record: one dose given (MedicationAdministration: start == end), an
    active order (MedicationRequest: start .. end, None while open) or a statement that it is or
    was taken (MedicationStatement)."""

    group: SupportiveGroup = "antiviral"
    name: str | None = None  # ingredient, e.g. "valaciclovir"
    recorded: Literal["given", "ordered", "taken"] = "given"


@dataclass(frozen=True, slots=True)
class PlannedInfusion:
    """A CAR-T infusion planned but not given: a ServiceRequest or MedicationRequest for the
    product (intent order/plan, not completed) or a booked Appointment, after the last infusion
    on record. Its day is the course in preparation's planned day 0 (M24)."""

    day: date
    product: str | None = None
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredStemCells:
    """Cryopreserved autologous (or donor) CD34+ cells on record for a boost (M16, M17):
    a BiologicallyDerivedProduct (category cells, status available) or an autologous
    haematopoietic progenitor cell collection Procedure (docs/decisions: stored stem cells)."""

    available: bool  # False: the record says the product is no longer available
    day: date | None = None  # collection day, when known
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class CarTInfusion:
    """One CAR T-cell course. Split doses of one product share a course (section 1.2, D1)."""

    day0: date  # first infusion date of this course
    product: str | None = None  # e.g. "axicabtagene ciloleucel"
    infusion_days: tuple[date, ...] = ()  # every dose day (split dosing)
    source_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CoursePreparation:
    """A CAR-T course in preparation: a leukapheresis or lymphodepletion on record after the
    last infusion, or with no infusion on record at all. It opens M01's irradiated-products
    window before day 0 exists (docs/clinical §10 M01; docs/decisions/0005)."""

    day: date  # the first such step
    step: Literal["apheresis", "lymphodepletion"]
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class TherapyTimeline:
    """Everything the rules need besides lab values. Each item is optional."""

    infusions: tuple[CarTInfusion, ...] = ()  # oldest first; a re-infusion starts a new course
    # leukapheresis (T-cell collection) of the current course: starts the irradiated-products
    # window 7 days before it (docs/clinical/10-management-rules.md §10 M01)
    apheresis_day: date | None = None
    lymphodepletion_start: date | None = None
    # "fludarabine", "cyclophosphamide", "bendamustine"
    lymphodepletion_agents: tuple[str, ...] = ()
    # the next course being prepared (no infusion on record after it yet)
    preparation: CoursePreparation | None = None
    gcsf_days: tuple[date, ...] = ()  # days with a G-CSF administration (any kind; audit, cohort)
    # G-CSF given, ordered (active) or taken, with its acting class: what the rules read as
    # exposure and coverage (C15; icaht.gcsf)
    gcsf_exposures: tuple[GcsfExposure, ...] = ()
    gmcsf_days: tuple[date, ...] = ()
    transfusions: tuple[Transfusion, ...] = ()
    crs_periods: tuple[CrsPeriod, ...] = ()  # oldest first; read with active_crs()
    anticoagulant_periods: tuple[Period, ...] = ()
    myelosuppressive_drug_periods: tuple[Period, ...] = ()
    prior_allo_hct: bool | None = None
    cardiovascular_disease: bool | None = None
    prior_invasive_mould_infection: bool | None = None
    # infections and bleeding on record (None: not known, e.g. an engine caller without
    # Conditions; the FHIR mapping always gives a tuple: () = none on record)
    infections: tuple[Infection, ...] | None = None
    bleeding: tuple[Period, ...] | None = None
    # antivirals, PJP agents, antifungals, antibacterial prophylaxis, corticosteroids, IVIG,
    # TPO-RA (given, ordered or taken), oldest first
    supportive_drugs: tuple[DrugCourse, ...] = ()
    planned_infusion: PlannedInfusion | None = None
    relapse_day: date | None = None  # relapse / progression
    next_therapy_day: date | None = None  # start of a subsequent anti-cancer therapy
    allo_hct_day: date | None = None  # allo-HCT after CAR-T (censoring)
    death_day: date | None = None
    # () = none on record: M17 fires and says so (asks to check), M16 does not
    stored_stem_cells: tuple[StoredStemCells, ...] = ()
    disease: str | None = None  # e.g. "LBCL", "MM", "MCL", "FL", "B-ALL"
    marrow_blast_percent: float | None = None  # for ALL-Hematotox when configured

    @property
    def day0(self) -> date | None:
        """Day 0 of the current (latest) CAR-T course, or None when no infusion is on record."""
        return self.infusions[-1].day0 if self.infusions else None


def course_start(timeline: TherapyTimeline) -> date | None:
    """First day of the current course: its lymphodepletion when on record before day 0, else
    day 0; without an infusion, the lymphodepletion (or None)."""
    day0, ld = timeline.day0, timeline.lymphodepletion_start
    if day0 is None:
        return ld
    return ld if ld is not None and ld <= day0 else day0


def active_crs(timeline: TherapyTimeline, day: date) -> CrsPeriod | None:
    """The CRS period active on `day` in the current course (docs/clinical §17 C16), or None.

    Only records starting on/after the current course's start count (a CRS of an earlier course
    says nothing today); an open record counts for CRS_OPEN_RECORD_MAX_DAYS days after its
    start; of several records covering the day, the latest-starting one (the newest statement,
    e.g. a downgrade after treatment) gives the grade.
    """
    start = course_start(timeline)
    covering = [
        p
        for p in timeline.crs_periods
        if (start is None or p.start >= start)
        and p.contains(day)
        and (p.end is not None or (day - p.start).days <= CRS_OPEN_RECORD_MAX_DAYS)
    ]
    return max(covering, key=lambda p: p.start) if covering else None


def _day_of(lab: LabValue) -> date:
    return lab.day


def count_until(series: Sequence[LabValue], day: date) -> int:
    """How many values of a series (oldest day first) fall on or before `day`: the index of its
    first later value, by one bisection instead of a day test per value (issue 20)."""
    return bisect_right(series, day, key=_day_of)


def series_until(series: tuple[LabValue, ...], day: date | None) -> tuple[LabValue, ...]:
    """The values of a `PatientRecord.series` (oldest day first) collected on or before `day`
    (every one: None): `tuple(v for v in series if v.day <= day)`, as a slice found by
    bisection, or the series itself when its last day is not later (issue 20)."""
    if day is None or not series or series[-1].day <= day:
        return series
    return series[: count_until(series, day)]


def _series_order() -> Callable[[LabValue], tuple[date, float]]:
    """The series' sort key: day, then the collection instant (untimed values first). Values
    collected together share one datetime object (the mapping reads each time text once), so
    each object's timestamp is worked out once (issue 20); by id, as the labs hold every such
    object while the key is used."""
    stamps: dict[int, float] = {}

    def order(v: LabValue) -> tuple[date, float]:
        at = v.collected
        if not at:
            return v.day, float("-inf")
        stamp = stamps.get(id(at))
        if stamp is None:
            stamp = stamps[id(at)] = at.timestamp()
        return v.day, stamp

    return order


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """All a patient's clean data for one assessment."""

    patient_id: str
    labs: tuple[LabValue, ...] = ()
    timeline: TherapyTimeline = field(default_factory=TherapyTimeline)
    # every analyte's series, sorted on the first `series` call: an assessment asks for one
    # about twenty times (issue 20). Not part of the value (no init, comparison or repr); only
    # ever filled from `labs`, which cannot change.
    _series: dict[Analyte, tuple[LabValue, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def series(self, analyte: Analyte) -> tuple[LabValue, ...]:
        """Values of one analyte, oldest first."""
        if not self._series and self.labs:
            by_analyte: dict[Analyte, list[LabValue]] = {}
            for v in self.labs:
                if isinstance(v.analyte, Analyte):  # as `is analyte` read them
                    by_analyte.setdefault(v.analyte, []).append(v)
            order = _series_order()
            for key, values in by_analyte.items():
                self._series[key] = tuple(sorted(values, key=order))
        return self._series.get(analyte, ())
