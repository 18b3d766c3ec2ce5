"""Builders for the management-rule tests: real PatientRecords through the real `assess()`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from icaht import assess
from icaht.record import (
    Analyte,
    CarTInfusion,
    DrugCourse,
    GcsfExposure,
    Infection,
    InfectionKind,
    LabValue,
    PatientRecord,
    Period,
    StoredStemCells,
    TherapyTimeline,
)
from icaht.rules import Alert, DraftOrder, RuleInput, RuleSettings, RulesResult, evaluate_rules
from icaht.rules.model import Hook

DAY0 = date(2026, 9, 1)
ANC, PLT, HB = Analyte.ANC, Analyte.PLATELETS, Analyte.HEMOGLOBIN


def on(day: int) -> date:
    return DAY0 + timedelta(days=day)


def lab(analyte: Analyte, day: int, value: float, **kw: object) -> LabValue:
    source = f"Observation/{analyte.value}-{day}-{value:g}"
    return LabValue(analyte, value, on(day), source_id=source, **kw)  # type: ignore[arg-type]


def daily(analyte: Analyte, days: Iterable[int], value: float) -> list[LabValue]:
    return [lab(analyte, d, value) for d in days]


def days(first: int, last: int) -> list[date]:
    return [on(d) for d in range(first, last + 1)]


# CAR-HEMATOTOX: baseline platelets < 75 x10^9/L give 2 points -> high risk even with the other
# items missing (docs/clinical §6.1, §6.3 H-A3; window day -10..-5 without an LD date).
HT_HIGH = [lab(PLT, -7, 50)]
HT_LOW = [
    lab(PLT, -7, 200),
    lab(ANC, -7, 3000),
    lab(HB, -7, 12.0),
    lab(Analyte.CRP, -7, 5),
    lab(Analyte.FERRITIN, -7, 100),
]


# The base test patient is on the prophylaxis every CAR-T patient gets (docs/clinical §10 M10,
# M11): valaciclovir and co-trimoxazole ordered from lymphodepletion, open. Without it M10 and
# M11 (they fire when none is on record) would join every other rule's test; their own tests
# pass `supportive_drugs=()` or their own records.
STANDARD_PROPHYLAXIS = (
    DrugCourse(on(-5), None, "MedicationRequest/vala", "antiviral", "valaciclovir", "ordered"),
    DrugCourse(on(-5), None, "MedicationRequest/tmp-smx", "pjp", "co-trimoxazole", "ordered"),
)


def record(labs: Iterable[LabValue] = (), **timeline: object) -> PatientRecord:
    """`gcsf_days=` are filgrastim administrations (short-acting), as the mapping builds them.
    `supportive_drugs` defaults to STANDARD_PROPHYLAXIS."""
    timeline.setdefault("infusions", (CarTInfusion(DAY0),))
    timeline.setdefault("supportive_drugs", STANDARD_PROPHYLAXIS)
    given = tuple(timeline.get("gcsf_days", ()))  # type: ignore[call-overload]
    timeline.setdefault("gcsf_exposures", tuple(filgrastim(d) for d in given))
    return PatientRecord("patient-1", tuple(labs), TherapyTimeline(**timeline))  # type: ignore[arg-type]


def infected(day: int, kind: InfectionKind = "sepsis", end: int | None = None) -> tuple[Infection]:
    """`infections=`: one infection Condition with onset on a study day (open unless `end`)."""
    stop = None if end is None else on(end)
    return (Infection(on(day), stop, f"Condition/{kind}-{day}", kind),)


def bleeding(day: int) -> tuple[Period]:
    """`bleeding=`: one open haemorrhage Condition from a study day."""
    return (Period(on(day), None, f"Condition/bleed-{day}"),)


# `stored_stem_cells=`: autologous CD34+ cells collected before the course, available
STORED_CELLS = (StoredStemCells(True, on(-60), "BiologicallyDerivedProduct/cd34"),)


def filgrastim(day: date) -> GcsfExposure:
    return GcsfExposure(day, day, "short", "filgrastim", f"MedicationAdministration/g-{day}")


def pegfilgrastim(day: int) -> GcsfExposure:
    """One long-acting dose given on a study day."""
    return GcsfExposure(
        on(day), on(day), "long", "pegfilgrastim", f"MedicationAdministration/p{day}"
    )


def run(
    patient: PatientRecord,
    day: int,
    hook: Hook = "patient-view",
    orders: Iterable[DraftOrder] = (),
    settings: RuleSettings | None = None,
) -> RulesResult:
    """Assess on `day` and evaluate the rules; every alert's summary is checked (< 140 chars)."""
    today = on(day)
    assessment = assess(patient, evaluation_date=today)
    result = evaluate_rules(
        RuleInput(assessment, patient, today, hook, tuple(orders), settings or RuleSettings())
    )
    for alert in result.alerts:
        assert len(alert.summary) < 140, alert.summary
        assert "\n" not in alert.summary
    return result


def ids(result: RulesResult) -> list[str]:
    return [a.rule_id for a in result.alerts]


def alert(result: RulesResult, rule_id: str) -> Alert:
    found = [a for a in result.alerts if a.rule_id == rule_id]
    assert len(found) == 1, ids(result)
    return found[0]


def needs(result: RulesResult) -> dict[str, str]:
    return {m.rule_id: m.needs for m in result.not_evaluable}


def order(kind: str, ref: str = "ServiceRequest/1", **kw: object) -> DraftOrder:
    return DraftOrder(kind, ref, **kw)  # type: ignore[arg-type]
