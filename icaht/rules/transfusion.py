"""Blood-product rules: irradiation (M01), RBC and platelet thresholds (M13, M14), TPO-RA
(M15) and iron overload (M22). docs/clinical/10-management-rules.md §10."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from icaht.clinical_status import (
    UNKNOWN,
    active_bleeding,
    active_infection,
    drugs_between,
    fever,
    temperature_known,
)
from icaht.record import Analyte, Transfusion
from icaht.rules.base import (
    infection_phrase,
    make_alert,
    missing_current,
    monitored,
    t_icaht_data,
    with_t_icaht,
)
from icaht.rules.facts import (
    above,
    at_or_below,
    below,
    current,
    day_label,
    describe,
    study_day,
    used,
)
from icaht.rules.model import Alert, DataUsed, DraftOrder, RuleInput, Suggestion

# §10 M01 (CONS-T3): irradiated *cellular* products; plasma and cryoprecipitate are acellular.
ACELLULAR_PRODUCTS = frozenset({"plasma", "cryoprecipitate"})
HB_THRESHOLD = 7.0  # §10 M13 (S-HAEM): Hb < 7.0 g/dL
HB_THRESHOLD_CARDIOVASCULAR = 8.0  # §10 M13 (S-HAEM): Hb < 8.0 g/dL with cardiovascular disease
PLATELET_THRESHOLD = 10.0  # §10 M14 (S-HAEM): platelets <= 10 x10^9/L
PLATELET_THRESHOLD_RISK = 20.0  # §10 M14 (S-HAEM): <= 20 x10^9/L with fever, bleeding, infection


# -- M01 ------------------------------------------------------------------------------------------


def in_irradiation_window(inp: RuleInput) -> bool:
    """Whether blood products given today must be irradiated (M01's window)."""
    window = irradiation_window(inp)
    return window is not None and window.contains(inp.evaluation_date)


@dataclass(frozen=True, slots=True)
class IrradiationWindow:
    start: date
    end: date | None  # None: a course in preparation, no infusion on record yet
    how: str  # what the start was derived from

    def contains(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


def irradiation_window(inp: RuleInput) -> IrradiationWindow | None:
    """[apheresis - 7 d, infusion + 90 d] (§10 M01, CONS-T3). Apheresis unknown [PROPOSED]: the
    earlier of lymphodepletion start - 7 d and infusion - 30 d (the wider window is safer).
    A course in preparation (apheresis or lymphodepletion after the last infusion, or with none
    on record) [PROPOSED]: open from that step - 7 d until its infusion is on record, for at
    most `preparation_lookback_days` after the step. A planned infusion (issue 14) opens it
    `irradiation_days_before_infusion` days before its planned day, as an infusion does when
    the apheresis is unknown; with both, the earlier start wins (the wider window is safer)."""
    opening = [w for w in (_preparation_window(inp), _planned_window(inp)) if w is not None]
    if opening:
        return min(opening, key=lambda w: w.start)
    return _course_window(inp)


def _preparation_window(inp: RuleInput) -> IrradiationWindow | None:
    preparing, settings = inp.record.timeline.preparation, inp.settings
    if preparing is None:
        return None
    lead = (
        settings.irradiation_days_before_apheresis
        if preparing.step == "apheresis"
        else settings.irradiation_days_before_lymphodepletion
    )
    if (inp.evaluation_date - preparing.day).days > settings.preparation_lookback_days:
        return None
    return IrradiationWindow(
        preparing.day - timedelta(days=lead), None, f"{preparing.step} - {lead} d"
    )


def _planned_window(inp: RuleInput) -> IrradiationWindow | None:
    """A planned infusion after the last one on record (the assessment's planned day 0): open
    from its day - 30 d while the plan is at most `preparation_lookback_days` old (a plan never
    carried out stops flagging)."""
    planned, settings = inp.assessment.planned_day0, inp.settings
    if planned is None or (inp.evaluation_date - planned).days > settings.preparation_lookback_days:
        return None
    lead = settings.irradiation_days_before_infusion
    return IrradiationWindow(planned - timedelta(days=lead), None, f"planned infusion - {lead} d")


def _course_window(inp: RuleInput) -> IrradiationWindow | None:
    timeline, settings = inp.record.timeline, inp.settings
    day0 = inp.assessment.day0
    if day0 is None:
        return None
    end = day0 + timedelta(days=settings.irradiation_days_after_infusion)
    if timeline.apheresis_day is not None:
        start = timeline.apheresis_day - timedelta(days=settings.irradiation_days_before_apheresis)
        return IrradiationWindow(
            start, end, f"apheresis - {settings.irradiation_days_before_apheresis} d"
        )
    starts = [(day0 - timedelta(days=settings.irradiation_days_before_infusion), "infusion - 30 d")]
    if timeline.lymphodepletion_start is not None:
        lead_ld = timedelta(days=settings.irradiation_days_before_lymphodepletion)
        starts.append((timeline.lymphodepletion_start - lead_ld, "lymphodepletion start - 7 d"))
    start, how = min(starts)
    return IrradiationWindow(start, end, f"{how}; apheresis date unknown")


def _needs_irradiation(order: DraftOrder) -> bool:
    return (
        order.kind == "blood_product"
        and order.irradiated is not True
        and order.product not in ACELLULAR_PRODUCTS
    )


def _replacement(order: DraftOrder) -> Suggestion:
    product = order.product if order.product not in (None, "other") else "blood product"
    return Suggestion(
        f"Order irradiated {product} instead",
        "replace",
        "blood_product",
        product=order.product,
        irradiated=True,
        replaces=order.reference,
    )


def _irradiation_status(order: DraftOrder) -> str:
    """How the order stands: explicitly not irradiated, or unknown (docs/clinical §17 C14:
    not stated, only in a note, a question or a contradiction); M01 fires on both."""
    if order.irradiated is False:
        return "marked non-irradiated"
    return "not marked irradiated"


def m01_irradiated_products(inp: RuleInput) -> Alert | None:
    window = irradiation_window(inp)
    orders = [o for o in inp.draft_orders if _needs_irradiation(o)]
    if window is None or not orders or not window.contains(inp.evaluation_date):
        return None
    settings = inp.settings
    before, after = (
        settings.irradiation_days_before_apheresis,
        settings.irradiation_days_after_infusion,
    )
    listed = "; ".join(
        f"{o.display or o.product or o.reference} ({_irradiation_status(o)})" for o in orders
    )
    unknown = any(o.irradiated is not False for o in orders)
    noun = "orders" if len(orders) > 1 else "order"
    # C14: an unknown status asks to check; an explicit "not irradiated" is stated as such
    marked = f"{noun} not marked irradiated: check" if unknown else f"{noun} marked non-irradiated"
    if window.end is None:
        today = "Today a CAR-T course is in preparation (no infusion on record yet)"
        span = f"from {window.start.isoformat()} ({window.how}) until infusion + {after} d"
    else:
        today = f"Today is day {study_day(inp)}"
        span = (
            f"{window.start.isoformat()} ({window.how}) to {window.end.isoformat()} "
            f"(infusion + {after} d)"
        )
    check = (
        " Not marked irradiated means the product's name, code and order details do not say it "
        "is irradiated (a note or instruction does not count): check the order with the blood "
        "bank."
        if unknown
        else ""
    )
    shown_end = "open" if window.end is None else window.end.isoformat()
    return make_alert(
        inp,
        "M01",
        # §17 C16: "consider ..." and "at least until day +90"; < 140 characters as written
        summary=f"Consider irradiated blood products (at least until day +{after} after CAR-T): "
        f"{marked}",
        rationale=f"{today}; irradiation window {span}; {listed}.{check}",
        recommendation=(
            "Consider irradiated cellular blood products (fludarabine exposure; risk of "
            "transfusion-associated GVHD) from "
            f"{before} days before leukapheresis at least until "
            f"day +{after} after CAR-T infusion (longer after some conditioning or by disease)."
        ),
        data=[
            DataUsed("irradiation window", f"{window.start.isoformat()}..{shown_end}"),
            *(
                DataUsed("draft order", o.display or str(o.product), None, o.reference)
                for o in orders
            ),
        ],
        suggestions=[_replacement(o) for o in orders],
    )


def m01_needs(inp: RuleInput) -> tuple[str, ...]:
    return ()


# -- M13 ------------------------------------------------------------------------------------------


def m13_rbc_threshold(inp: RuleInput) -> Alert | None:
    hb = current(inp, Analyte.HEMOGLOBIN)
    if hb is None:
        return None
    cardiovascular = inp.record.timeline.cardiovascular_disease is True
    if below(hb, HB_THRESHOLD):
        threshold, why = HB_THRESHOLD, ""
    elif cardiovascular and below(hb, HB_THRESHOLD_CARDIOVASCULAR):
        threshold, why = HB_THRESHOLD_CARDIOVASCULAR, " with cardiovascular disease"
    else:
        return None
    irradiate = in_irradiation_window(inp)
    return make_alert(
        inp,
        "M13",
        summary=f"Hb {hb.value:g} g/dL below the RBC transfusion threshold "
        f"({threshold:.1f} g/dL{why})",
        rationale=f"{describe(inp, hb)} < {threshold:.1f} g/dL{why}.",
        recommendation=(
            "Consider an RBC transfusion, one unit at a time, then reassess (iron overload); "
            "threshold 7-8 g/dL for stable patients, 8 g/dL with cardiovascular disease"
            + ("; irradiated products (M01)." if irradiate else ".")
        ),
        data=[
            used(hb),
            DataUsed("cardiovascular disease", "yes" if cardiovascular else "no/unknown"),
        ],
        suggestions=[_one_unit("red blood cells", "rbc", irradiate)],
    )


def m13_needs(inp: RuleInput) -> tuple[str, ...]:
    hb = current(inp, Analyte.HEMOGLOBIN)
    if hb is None:
        return missing_current(inp, "M13", Analyte.HEMOGLOBIN, "Hb")
    undecided = not below(hb, HB_THRESHOLD) and below(hb, HB_THRESHOLD_CARDIOVASCULAR)
    if undecided and inp.record.timeline.cardiovascular_disease is None:
        return (
            f"M13 needs cardiovascular disease status (Hb {hb.value:g} g/dL is between 7.0 "
            "and 8.0)",
        )
    return ()


# -- M14 ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskFactors:
    """§10 M14: fever, active bleeding, active infection on the evaluation day
    (icaht.clinical_status), what was found and what is not known."""

    found: list[str]
    data: list[DataUsed]
    unknown: list[str]


def _risk_factors(inp: RuleInput) -> RiskFactors:
    record, today = inp.record, inp.evaluation_date
    found: list[str] = []
    data: list[DataUsed] = []
    unknown: list[str] = []
    temperature = fever(record, today)
    if temperature is not None:
        found.append(f"fever ({temperature.value:g} °C on {day_label(inp, temperature.day)})")
        data.append(
            DataUsed("fever", f"{temperature.value:g} °C", temperature.day, temperature.source_id)
        )
    elif not temperature_known(record, today):
        unknown.append("a temperature (none today or yesterday)")
    bleeding = active_bleeding(record.timeline, today)
    if bleeding is UNKNOWN:
        unknown.append("the bleeding status")
    elif bleeding is not None:
        found.append(f"active bleeding (since {day_label(inp, bleeding.start)})")
        data.append(DataUsed("active bleeding", "yes", bleeding.start, bleeding.source_id))
    infection = active_infection(record.timeline, today)
    if infection is UNKNOWN:
        unknown.append("the infection status")
    elif infection is not None:
        found.append(f"active infection ({infection_phrase(inp, infection)})")
        data.append(
            DataUsed("active infection", infection.kind, infection.start, infection.source_id)
        )
    return RiskFactors(found, data, unknown)


def _bleeding_now(inp: RuleInput) -> bool:
    bleeding = active_bleeding(inp.record.timeline, inp.evaluation_date)
    return bleeding is not None and bleeding is not UNKNOWN


def m14_platelet_threshold(inp: RuleInput) -> Alert | None:
    if inp.hook != "patient-view":
        return _m14_not_reached(inp)
    platelets = current(inp, Analyte.PLATELETS)
    if platelets is None:
        return None
    risks = _risk_factors(inp)
    if at_or_below(platelets, PLATELET_THRESHOLD):
        threshold, why = PLATELET_THRESHOLD, ""
    elif risks.found and at_or_below(platelets, PLATELET_THRESHOLD_RISK):
        threshold, why = PLATELET_THRESHOLD_RISK, f" with {', '.join(risks.found)}"
    else:
        return None
    irradiate = in_irradiation_window(inp)
    return make_alert(
        inp,
        "M14",
        summary=f"Platelets {platelets.value:g} x10^9/L: platelet transfusion threshold reached "
        f"(<= {threshold:g}{' with ' + _short(risks.found) if why else ''})",
        rationale=with_t_icaht(inp, f"{describe(inp, platelets)} <= {threshold:g} x10^9/L{why}."),
        recommendation=(
            "Consider a prophylactic platelet transfusion: the threshold is <= 10 x10^9/L, or "
            "<= 20 x10^9/L with fever, active bleeding or active infection"
            + ("; irradiated products (M01)." if irradiate else ".")
        ),
        data=[used(platelets), *(risks.data if why else []), *t_icaht_data(inp)],
        suggestions=[_one_unit("platelets", "platelets", irradiate)],
    )


def _platelet_orders(inp: RuleInput) -> list[DraftOrder]:
    return [o for o in inp.draft_orders if o.kind == "blood_product" and o.product == "platelets"]


def _m14_not_reached(inp: RuleInput) -> Alert | None:
    """Order hooks [PROPOSED inverse of §10 M14]: a platelet order while the current count is
    above every prophylactic threshold (> 20 x10^9/L) and no active bleeding is recorded."""
    orders = _platelet_orders(inp)
    platelets = current(inp, Analyte.PLATELETS)
    if not orders or platelets is None or not above(platelets, PLATELET_THRESHOLD_RISK):
        return None
    if _bleeding_now(inp):
        return None
    return make_alert(
        inp,
        "M14",
        summary=f"Platelets {platelets.value:g} x10^9/L: prophylactic transfusion threshold not "
        "reached",
        rationale=(
            f"{describe(inp, platelets)} > 20 x10^9/L; no active bleeding recorded; order(s): "
            + ", ".join(o.display or o.reference for o in orders)
            + "."
        ),
        recommendation=(
            "Consider whether this platelet transfusion is needed: prophylactic thresholds are "
            "<= 10 x10^9/L, or <= 20 x10^9/L with fever, active bleeding or active infection; "
            "disregard when transfusing for bleeding or before a procedure."
        ),
        data=[
            used(platelets),
            *(DataUsed("draft order", "platelets", None, o.reference) for o in orders),
        ],
        severity="info",
    )


def m14_needs(inp: RuleInput) -> tuple[str, ...]:
    platelets = current(inp, Analyte.PLATELETS)
    if inp.hook != "patient-view":
        if _platelet_orders(inp) and platelets is None:
            return ("M14 needs a current platelet count to check the transfusion threshold",)
        return ()
    if platelets is None:
        return missing_current(inp, "M14", Analyte.PLATELETS, "platelet count")
    band = above(platelets, PLATELET_THRESHOLD) and at_or_below(platelets, PLATELET_THRESHOLD_RISK)
    risks = _risk_factors(inp) if band else None
    if risks is not None and not risks.found and risks.unknown:
        return (
            f"M14 needs {', '.join(risks.unknown)} (platelets {platelets.value:g} "
            "x10^9/L: the threshold is 20 x10^9/L with fever, bleeding or infection)",
        )
    return ()


def _short(found: list[str]) -> str:
    """'fever and active infection' for the summary (details stay in the rationale)."""
    return " and ".join(f.split(" (")[0] for f in found)


# -- M15 ------------------------------------------------------------------------------------------


def _recent_platelet_units(inp: RuleInput) -> list[Transfusion]:
    oldest = inp.evaluation_date - timedelta(days=inp.settings.tpo_ra_window_days - 1)
    return [
        t
        for t in inp.record.timeline.transfusions
        if t.product == "platelets" and oldest <= t.day <= inp.evaluation_date
    ]


def _after_day_30(inp: RuleInput) -> bool:
    day = study_day(inp)
    return day is not None and day > inp.settings.tpo_ra_after_day


def m15_tpo_ra(inp: RuleInput) -> Alert | None:
    if not _after_day_30(inp):
        return None
    recent = _recent_platelet_units(inp)
    units = sum(t.units for t in recent)
    day0 = inp.assessment.day0
    # a TPO-RA given, ordered or taken since day 0 (issue 14: supportive_drugs, group tpo_ra)
    on_tpo = day0 is not None and drugs_between(
        inp.record.timeline, "tpo_ra", day0, inp.evaluation_date
    )
    if units < inp.settings.tpo_ra_platelet_units or on_tpo:
        return None
    days = ", ".join(str(study_day(inp, t.day)) for t in recent)
    return make_alert(
        inp,
        "M15",
        summary=f"{units} platelet units in 7 days after day +30: consider a TPO receptor agonist",
        rationale=with_t_icaht(
            inp,
            f"Day {study_day(inp)}; {units} platelet units on days {days}; no TPO-RA on record.",
        ),
        recommendation=(
            "Consider eltrombopag 75 mg daily (titrate to 150 mg; not with dairy products) or "
            "romiplostim (10 µg/kg weekly) after excluding other causes (consumption, bleeding, "
            "relapse); consider stopping when platelets recover or after 4-6 weeks without "
            "response."
        ),
        data=[DataUsed("platelet units", str(t.units), t.day, t.source_id) for t in recent]
        + t_icaht_data(inp),
    )


def m15_needs(inp: RuleInput) -> tuple[str, ...]:
    if _after_day_30(inp) and not inp.record.timeline.transfusions:
        return ("M15 needs transfusion records",)
    return ()


# -- M22 ------------------------------------------------------------------------------------------


def _rbc_units(inp: RuleInput) -> list[Transfusion]:
    return [
        t
        for t in inp.record.timeline.transfusions
        if t.product == "rbc" and t.day <= inp.evaluation_date
    ]


def m22_iron_overload(inp: RuleInput) -> Alert | None:
    threshold = inp.settings.iron_overload_rbc_units
    rbc = _rbc_units(inp)
    units = sum(t.units for t in rbc)
    if threshold is None or units < threshold:
        return None
    return make_alert(
        inp,
        "M22",
        summary=f"{units} RBC units on record: consider iron overload",
        rationale=(
            f"{units} RBC units from {min(t.day for t in rbc).isoformat()} to "
            f"{max(t.day for t in rbc).isoformat()} "
            f"(configured threshold {threshold})."
        ),
        recommendation=(
            "Consider iron overload and chelation in long-term transfusion dependence; ferritin is "
            "confounded by inflammation after CAR-T."
        ),
        data=[DataUsed("RBC units", str(t.units), t.day, t.source_id) for t in rbc],
    )


def m22_needs(inp: RuleInput) -> tuple[str, ...]:
    if inp.settings.iron_overload_rbc_units is None and _rbc_units(inp):
        return ("M22 needs a configured RBC-unit threshold (no source number)",)
    if inp.settings.iron_overload_rbc_units is not None and not inp.record.timeline.transfusions:
        return ("M22 needs transfusion records",) if monitored(inp) else ()
    return ()


def _one_unit(words: str, product: str, irradiate: bool) -> Suggestion:
    """The draft order of one unit of a blood product, irradiated while M01's window is open."""
    return Suggestion(
        f"Order 1 unit of {words}" + (" (irradiated)" if irradiate else ""),
        "create",
        "blood_product",
        product=product,
        irradiated=True if irradiate else None,
    )
