"""IEC-HS screening rule (clinical-rules §9.1 proposed rule). Screening only, never a diagnosis.

The ASTCT criteria (Hines et al., Transplant Cell Ther 2023) behind this rule are [UNVERIFIED];
the card must say "possible IEC-HS - evaluate" and link to the criteria. No grade is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from icaht.record import Analyte, LabValue, PatientRecord

FERRITIN_ULN_FACTOR = 2.0  # §9.1 rule 1: ferritin > 2 x ULN
FERRITIN_BASELINE_FACTOR = 2.0  # §9.1 rule 1: > 2 x the day-0 (+-1 d) ferritin
FERRITIN_RISE_FACTOR = 2.0  # §9.1 rule 1: rise >= 2-fold within 48 h [PROPOSED]
FERRITIN_RISE_DAYS = 2  # §9.1 rule 1: "within 48 h", read on calendar days
CYTOPENIA_AFTER_DAY = 7  # §9.1 rule 2: new cytopenia after day 7
# §9.1 rule 2 via CTCAE grade >= 3 (§8): ANC < 1000/uL, platelets < 50 x10^9/L, Hb < 8.0 g/dL
CTCAE3_LIMITS = {Analyte.ANC: 1000.0, Analyte.PLATELETS: 50.0, Analyte.HEMOGLOBIN: 8.0}
FIBRINOGEN_LIMIT = 150.0  # §9.1 rule 2: fibrinogen < 150 mg/dL
TRANSAMINASE_ULN_FACTOR = 5.0  # §9.1 rule 2: ALT or AST > 5 x ULN
TRIGLYCERIDE_LIMIT = 265.0  # §9.1 rule 2: triglycerides > 265 mg/dL

SCREEN_NOTE = (
    "Screening only: possible IEC-HS - evaluate against the ASTCT criteria. Not a diagnosis."
)


@dataclass(frozen=True, slots=True)
class IecHsFinding:
    """One lab value that met one screening criterion."""

    analyte: Analyte
    day: date
    value: float
    criterion: str
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class IecHsScreen:
    """Result of the §9.1 screening rule."""

    positive: bool
    ferritin_findings: tuple[IecHsFinding, ...]
    associated_findings: tuple[IecHsFinding, ...]
    not_assessable: tuple[str, ...]
    note: str = SCREEN_NOTE


def _finding(lab: LabValue, criterion: str) -> IecHsFinding:
    return IecHsFinding(lab.analyte, lab.day, lab.value, criterion, lab.source_id)


def _day(lab: LabValue, day0: date) -> int:
    return (lab.day - day0).days


def _ferritin_baseline(series: Sequence[LabValue], day0: date) -> LabValue | None:
    """Day-0 ferritin, else day -1, else day +1 (§9.1 "day-0 (+-1 d)")."""
    for offset in (0, -1, 1):
        hits = [v for v in series if _day(v, day0) == offset and v.comparator is None]
        if hits:
            return hits[-1]
    return None


def ferritin_findings(series: Sequence[LabValue], day0: date) -> list[IecHsFinding]:
    """§9.1 rule 1 on days >= 1."""
    baseline = _ferritin_baseline(series, day0)
    found: list[IecHsFinding] = []
    for lab in series:
        if _day(lab, day0) < 1 or lab.comparator == "<" or lab is baseline:
            continue
        uln = lab.reference_high
        if uln is not None and lab.value > FERRITIN_ULN_FACTOR * uln:
            found.append(_finding(lab, f"ferritin > 2 x ULN ({uln:g} ng/mL)"))
        elif baseline is not None and lab.value > FERRITIN_BASELINE_FACTOR * baseline.value:
            found.append(_finding(lab, f"ferritin > 2 x day-0 value ({baseline.value:g} ng/mL)"))
        elif _rapid_rise(lab, series):
            found.append(_finding(lab, "ferritin rose >= 2-fold within 48 h"))
    return found


def _rapid_rise(lab: LabValue, series: Sequence[LabValue]) -> bool:
    return any(
        0 < (lab.day - earlier.day).days <= FERRITIN_RISE_DAYS
        and earlier.value > 0
        and lab.value >= FERRITIN_RISE_FACTOR * earlier.value
        for earlier in series
    )


def cytopenia_findings(series: Sequence[LabValue], day0: date) -> list[IecHsFinding]:
    """New CTCAE grade >= 3 cytopenia after day 7: grade >= 3 and either a new post-infusion
    nadir or the previous value was above the grade-3 limit [PROPOSED reading of §9.1]."""
    found: list[IecHsFinding] = []
    post = [v for v in series if _day(v, day0) >= 0]
    for index, lab in enumerate(post):
        limit = CTCAE3_LIMITS[lab.analyte]
        if _day(lab, day0) <= CYTOPENIA_AFTER_DAY or lab.value >= limit:
            continue
        earlier = post[:index]
        new_nadir = all(lab.value < e.value for e in earlier)
        newly_grade3 = not earlier or earlier[-1].value >= limit
        if new_nadir or newly_grade3:
            found.append(_finding(lab, f"new CTCAE grade >= 3 ({lab.analyte.value} < {limit:g})"))
    return found


def screen_iec_hs(
    record: PatientRecord,
    day0: date,
    evaluation_date: date | None = None,
    association_days: int = 7,
) -> IecHsScreen:
    """§9.1: ferritin criterion AND an associated finding within `association_days` of it."""

    def series(analyte: Analyte) -> tuple[LabValue, ...]:
        values = record.series(analyte)
        return tuple(v for v in values if evaluation_date is None or v.day <= evaluation_date)

    ferritin = ferritin_findings(series(Analyte.FERRITIN), day0)
    associated: list[IecHsFinding] = []
    not_assessable: list[str] = []
    for analyte in CTCAE3_LIMITS:
        associated += cytopenia_findings(series(analyte), day0)
    for lab in series(Analyte.FIBRINOGEN):
        if _day(lab, day0) >= 1 and lab.value < FIBRINOGEN_LIMIT:
            associated.append(_finding(lab, "fibrinogen < 150 mg/dL"))
    for lab in series(Analyte.TRIGLYCERIDES):
        if _day(lab, day0) >= 1 and lab.value > TRIGLYCERIDE_LIMIT:
            associated.append(_finding(lab, "triglycerides > 265 mg/dL"))
    for analyte in (Analyte.ALT, Analyte.AST):
        for lab in series(analyte):
            if _day(lab, day0) < 1:
                continue
            if lab.reference_high is None:
                not_assessable.append(f"{analyte.value} on {lab.day}: no ULN")
            elif lab.value > TRANSAMINASE_ULN_FACTOR * lab.reference_high:
                associated.append(_finding(lab, f"{analyte.value} > 5 x ULN"))
    positive = any(
        abs((a.day - f.day).days) <= association_days for f in ferritin for a in associated
    )
    associated.sort(key=lambda f: (f.day, f.analyte.value))
    return IecHsScreen(positive, tuple(ferritin), tuple(associated), tuple(not_assessable))
