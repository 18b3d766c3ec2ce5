"""`POST /api/v1/assessment`: a patient's FHIR resources in, the engine's assessment out.

The SMART app reads the patient's data with the EHR's access token and posts it here; this
module validates the body (cds_service/schemas/assessment-request.json, 400 naming the field),
runs the same evaluation as the hooks (patient_evaluation) and shapes the answer
(assessment-response.json): grades with their texts (N-ICAHT and T-ICAHT), the day series the
engine used, the neutropenic episodes, the platelet bands < 50 and < 20 x10^9/L, scores, alerts
and what was left out. Nothing is stored; the log gets
counts only. Authentication (the SMART launch's id_token), the per-client rate limit and the
resource cap: docs/decisions/0009 (2026-12-05, issue 13 finding 8); the route checks the token and
the rate before this module reads the body.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Request

from cds_service.cards import source_of
from cds_service.errors import ForbiddenError, RequestValidationError, ServiceError, TooLargeError
from cds_service.logs import log_event
from cds_service.request_body import parse_json, read_body
from cds_service.security.jwt_parts import RefusalReason
from cds_service.settings import Settings
from cds_service.validation import validate_body
from fhir_mappings.model import LeftOut
from fhir_mappings.resources import PATIENT_REFERENCE
from fhir_mappings.tables import default_analyte_table
from icaht import RULES_VERSION, Assessment
from icaht.assessment import NO_INFUSION
from icaht.early import EARLY_WINDOW_END, PROFOUND_ANC, SEVERE_ANC
from icaht.explanations import (
    ctcae_text,
    easix_text,
    hematotox_text,
    phenotype_text,
    t_icaht_text,
)
from icaht.record import CANONICAL_UNIT, Analyte
from icaht.rules import Alert
from icaht.rules.transfusion import (
    HB_THRESHOLD,
    HB_THRESHOLD_CARDIOVASCULAR,
    PLATELET_THRESHOLD,
    PLATELET_THRESHOLD_RISK,
)
from icaht.series import EMPTY, ChartSeries, DayPoint, chart_series, day_runs
from icaht.settings import LATE_WINDOW_END
from icaht.thrombocytopenia import BELOW_20, BELOW_50
from patient_evaluation import Evaluation, evaluate

REQUEST_SCHEMA = "assessment-request.json"
RESPONSE_SCHEMA = "assessment-response.json"
# a year of daily counts with a differential is a few thousand Observations of about 1-2 kB
MAX_BODY_BYTES = 16 * 1024 * 1024
# Resources per request, Bundle entries counted one by one (finding 8: 381,124 minimal
# Observations in one Bundle took a worker from 115 to 409 MB). The largest real patient: a
# blood count with differential plus the chemistry the engine reads (CRP, ferritin, LDH, ...) is
# about 20 Observations per draw; one or two draws a day from day -7 to +100 is 2,000-4,500,
# weekly draws to a year add about 1,000, procedures, drugs and conditions some hundreds, body
# temperatures charted every 4 hours in hospital about 6 a day (issue 14). 20,000 leaves about
# three times that (and is what the schema allows at the top level).
MAX_RESOURCES = 20_000
# before parsing: a real record has one `"resourceType"` per resource, and a few more for
# contained resources; a body with four times the cap is refused before its parse costs memory
# (JSON strings cannot hold the quoted key unescaped). The exact count follows the parse.
_MAX_RESOURCE_KEYS = 4 * MAX_RESOURCES
# T-ICAHT bands of the platelet chart (docs/clinical §18, Rejeski et al., Blood 2025): the
# strict thresholds < 50 and < 20 x10^9/L the early grade counts days beneath (as whole numbers)
PLATELETS_MODERATE = int(BELOW_50)
PLATELETS_SEVERE = int(BELOW_20)
THRESHOLDS = {
    "ancSevere": SEVERE_ANC,
    "ancProfound": PROFOUND_ANC,
    "earlyEndDay": EARLY_WINDOW_END,
    "lateEndDay": LATE_WINDOW_END,
    "plateletModerate": PLATELETS_MODERATE,
    "plateletSevere": PLATELETS_SEVERE,
    # the chart's transfusion lines (issue 16): M14 platelets <= 10 and <= 20 x10^9/L with
    # fever, bleeding or infection; M13 Hb < 7 and < 8 g/dL with cardiovascular disease
    "plateletTransfusion": PLATELET_THRESHOLD,
    "plateletTransfusionRisk": PLATELET_THRESHOLD_RISK,
    "hemoglobinTransfusion": HB_THRESHOLD,
    "hemoglobinTransfusionCardiovascular": HB_THRESHOLD_CARDIOVASCULAR,
}
# Units as clinicians write them (issue 16): the API keeps the UCUM code in `unit` (machine
# side) and gives the page `unitLabel`; no UCUM spelling ("10*9/L", "/uL") reaches the screen.
UNIT_LABEL = {"/uL": "/µL", "10*9/L": "x10^9/L", "10*3/uL": "x10^3/µL", "g/dL": "g/dL"}
# The mapping layer's reason codes (fhir_mappings/model.py LeftOut) in words, for the page's
# "left out" list: "1 platelet count left out: no unit".
LEFT_OUT_REASON = {
    "unit-missing": "no unit",
    "unknown-unit": "unit not recognised",
    "incompatible-unit": "unit does not fit the test",
    "molar-unit-no-factor": "molar unit without a conversion factor",
    "entered-in-error": "entered in error",
    "status-not-usable": "status not final",
    "implausible": "implausible value",
    "no-value": "no value",
    "duplicate": "duplicate of another result",
    "superseded": "replaced by a later version",
    "unknown-code": "test code not recognised",
    "excluded-code": "test code not used for grading",
    "no-time": "no date or time",
    "imprecise-time": "date not precise enough",
    "anc-not-preferred": "a manual differential of the same sample is preferred",
    "lower-priority-code": "a preferred test code of the same sample is used",
    "derivation-conflict": "derived ANC conflicts with a measured one",
    "other-patient": "belongs to another patient",
    "no-patient": "names no patient",
}
# What a left-out Observation measured (the shipped LOINC table's kinds), as a clinician says it
KIND_WORDS = {
    "anc": "neutrophil count",
    "wbc": "white cell count",
    "lymphocytes": "lymphocyte count",
    "cd4": "CD4 count",
    "platelets": "platelet count",
    "hemoglobin": "hemoglobin",
    "crp": "CRP",
    "ferritin": "ferritin",
    "ldh": "LDH",
    "creatinine": "creatinine",
    "fibrinogen": "fibrinogen",
    "alt": "ALT",
    "ast": "AST",
    "triglycerides": "triglycerides",
    "igg": "IgG",
    "temperature": "body temperature",
    "segmented_count": "differential (segmented neutrophils)",
    "band_count": "differential (band neutrophils)",
}
# "Patient/123", "https://ehr.example/fhir/Patient/123" or ".../Patient/123/_history/2"


class UnsupportedMediaError(ServiceError):
    """The body is not declared as JSON (-> 415)."""

    status = 415
    code = "not-supported"

    def __init__(self) -> None:
        super().__init__("Content-Type must be application/json")


class TooManyResourcesError(TooLargeError):
    """More resources than MAX_RESOURCES, Bundle entries counted (-> 413)."""

    def __init__(self, count: int | None) -> None:
        found = "more" if count is None else f"{count}"
        super().__init__(
            f"{found} resources (Bundle entries counted one by one): at most {MAX_RESOURCES} "
            "per request",
            "resources",
        )


@dataclass(frozen=True)
class AssessmentRequest:
    patient_id: str
    resources: tuple[dict[str, Any], ...]  # Bundles flattened to their entries' resources
    evaluation_date: date | None


def parse_request(content_type: str | None, raw: bytes) -> AssessmentRequest:
    """The validated request, or RequestValidationError naming the field (-> 400)."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaError
    if raw.count(b'"resourceType"') > _MAX_RESOURCE_KEYS:
        raise TooManyResourcesError(None)  # refused before the parse costs any memory
    body = parse_json(raw)
    count = resource_count(body)
    if count > MAX_RESOURCES:
        raise TooManyResourcesError(count)
    validate_body(REQUEST_SCHEMA, body)
    patient_id = body["patientId"]
    resources = tuple(_checked_resources(body["resources"], patient_id))
    return AssessmentRequest(patient_id, resources, _evaluation_date(body))


def resource_count(body: Any) -> int:
    """How many resources the request would have mapped: Bundles count their entries (a body
    of the wrong shape counts 0 here and is refused by the schema)."""
    resources = body.get("resources") if isinstance(body, dict) else None
    if not isinstance(resources, list):
        return 0
    count = 0
    for resource in resources:
        bundle = isinstance(resource, dict) and resource.get("resourceType") == "Bundle"
        entries = resource.get("entry") if bundle else None
        count += len(entries) if isinstance(entries, list) else 1
    return count


def _evaluation_date(body: dict[str, Any]) -> date | None:
    raw = body.get("evaluationDate")
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as error:  # the pattern passed, the calendar did not (2026-02-30)
        raise RequestValidationError("evaluationDate", "is not a valid date") from error


def _checked_resources(
    resources: list[dict[str, Any]], patient_id: str
) -> Iterator[dict[str, Any]]:
    """Each resource (Bundles opened), refused when it belongs to another patient: grading a
    mixture of two patients' counts would be silently wrong."""
    for index, resource in enumerate(resources):
        path = f"resources[{index}]"
        if resource["resourceType"] == "Bundle":
            yield from _bundle_entries(resource, path, patient_id)
        else:
            _check_patient(resource, path, patient_id)
            yield resource


def _bundle_entries(bundle: dict[str, Any], path: str, patient_id: str) -> Iterator[dict[str, Any]]:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise RequestValidationError(f"{path}.entry", "must be of type array")
    for index, entry in enumerate(entries):
        where = f"{path}.entry[{index}].resource"
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(inner, dict) or not isinstance(inner.get("resourceType"), str):
            raise RequestValidationError(where, "must be a FHIR resource with a resourceType")
        if inner["resourceType"] == "Bundle":
            raise RequestValidationError(where, "must not be a Bundle")
        _check_patient(inner, where, patient_id)
        yield inner


def _check_patient(resource: dict[str, Any], path: str, patient_id: str) -> None:
    if resource["resourceType"] == "Patient":
        if resource.get("id", patient_id) != patient_id:
            raise RequestValidationError(f"{path}.id", "must be the patientId")
        return
    for key in ("subject", "patient"):
        if _patient_of(resource.get(key)) not in (None, patient_id):
            raise RequestValidationError(f"{path}.{key}.reference", "must refer to the patientId")
    if resource["resourceType"] == "Appointment":
        _check_appointment(resource, path, patient_id)


def _patient_of(reference: Any) -> str | None:
    """The Patient id a Reference names, or None when it names no Patient."""
    target = reference.get("reference") if isinstance(reference, dict) else None
    match = PATIENT_REFERENCE.search(target) if isinstance(target, str) else None
    return match.group(1) if match is not None else None


def _check_appointment(resource: dict[str, Any], path: str, patient_id: str) -> None:
    """An Appointment names its patient among its participants (issue 14: a planned CAR-T
    infusion): one that names patients, none of them this one, is another patient's."""
    participants = resource.get("participant")
    actors = (
        [p.get("actor") for p in participants if isinstance(p, dict)]
        if isinstance(participants, list)
        else []
    )
    named = [_patient_of(actor) for actor in actors]
    patients = [name for name in named if name is not None]
    if patients and patient_id not in patients:
        raise RequestValidationError(
            f"{path}.participant.actor.reference", "must name the patientId among the patients"
        )


def assessment_response(
    request: AssessmentRequest, evaluation: Evaluation, evaluation_date: date
) -> dict[str, Any]:
    """The response body (assessment-response.json)."""
    assessment = evaluation.assessment
    if assessment is None:
        return _no_infusion(request, evaluation, evaluation_date)
    if assessment.day0 is None:
        return _in_preparation(request, evaluation, evaluation_date, assessment)
    series = chart_series(evaluation.mapped.record, assessment)
    return {
        **_common(request, evaluation, evaluation_date),
        "infusionDate": assessment.day0.isoformat(),
        "plannedInfusionDate": _iso(assessment.planned_day0),
        "day": (evaluation_date - assessment.day0).days,
        "early": _early(assessment),
        "late": _late(assessment),
        "phenotype": _phenotype(assessment),
        "episodes": [
            {"threshold": e.threshold, "startDay": e.start_day, "endDay": e.end_day}
            for e in series.episodes
        ],
        "series": _series(series),
        "tIcaht": _t_icaht(assessment),
        "plateletBands": _platelet_bands(assessment, series),
        "hematotox": _hematotox(assessment),
        "easix": _easix(assessment),
        "ctcae": _ctcae(assessment),
        **_rules_and_gaps(evaluation, assessment),
    }


def _rules_and_gaps(evaluation: Evaluation, assessment: Assessment) -> dict[str, Any]:
    """The alerts, the rules not evaluable for lack of data and what the assessment misses."""
    rules = evaluation.rules
    return {
        "alerts": [_alert(alert) for alert in rules.alerts] if rules else [],
        "notEvaluable": [item.needs for item in rules.not_evaluable] if rules else [],
        "missing": list(assessment.missing),
    }


def _common(
    request: AssessmentRequest, evaluation: Evaluation, evaluation_date: date
) -> dict[str, Any]:
    return {
        "rulesVersion": RULES_VERSION,
        "patientId": request.patient_id,
        "evaluationDate": evaluation_date.isoformat(),
        "thresholds": dict(THRESHOLDS),
        "leftOut": [
            {"resource": item.resource_id, "reason": item.reason}
            for item in evaluation.mapped.left_out
        ],
        "leftOutSummary": left_out_summary(evaluation.mapped.left_out, request.resources),
    }


def left_out_summary(
    left_out: tuple[LeftOut, ...], resources: tuple[dict[str, Any], ...]
) -> list[dict[str, Any]]:
    """The left-out items in words, counted by what they measured and why (issue 16):
    "1 platelet count left out: no unit". The ids stay in `leftOut` (the audit's side)."""
    by_reference = {f"{r.get('resourceType')}/{r.get('id')}": r for r in resources}
    counts: Counter[tuple[str, str]] = Counter()
    for item in left_out:
        what = _what_was_measured(by_reference.get(item.resource_id), item.resource_id)
        counts[(what, LEFT_OUT_REASON.get(item.reason, item.reason.replace("-", " ")))] += 1
    return [
        {
            "count": count,
            "what": what,
            "reason": reason,
            "text": _left_out_line(count, what, reason),
        }
        for (what, reason), count in sorted(counts.items())
    ]


def _left_out_line(count: int, what: str, reason: str) -> str:
    return f"{count} {what if count == 1 else _plural(what)} left out: {reason}"


def _plural(what: str) -> str:
    if what.endswith("count"):
        return f"{what}s"
    return f"{what} results"


def _what_was_measured(resource: dict[str, Any] | None, reference: str) -> str:
    """'platelet count' from an Observation's LOINC code, else the code's own words, else the
    resource type in words ('medication administration')."""
    kind_of = _kind_by_code()
    if resource is not None:
        code = resource.get("code")
        codings = code.get("coding") if isinstance(code, dict) else None
        for coding in codings if isinstance(codings, list) else []:
            if not isinstance(coding, dict):
                continue
            kind = kind_of.get((str(coding.get("system")), str(coding.get("code"))))
            if kind is not None:
                return KIND_WORDS.get(kind, kind.replace("_", " "))
        if isinstance(code, dict) and isinstance(code.get("text"), str) and code["text"]:
            return str(code["text"])
    resource_type = reference.split("/", maxsplit=1)[0] or "record"
    return re.sub(r"(?<!^)(?=[A-Z])", " ", resource_type).lower()


@cache
def _kind_by_code() -> dict[tuple[str, str], str]:
    table = default_analyte_table()
    return {key: entry.kind for key, entry in table.entries.items()}


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _in_preparation(
    request: AssessmentRequest,
    evaluation: Evaluation,
    evaluation_date: date,
    assessment: Assessment,
) -> dict[str, Any]:
    """A course in preparation (planned infusion or lymphodepletion, none given yet): no grade,
    but the pre-infusion CAR-HEMATOTOX and the rules that speak before day 0 (M01, M10, M24),
    as the hook shows them (issue 14)."""
    return {
        **_no_infusion(request, evaluation, evaluation_date),
        "plannedInfusionDate": _iso(assessment.planned_day0),
        "hematotox": _hematotox(assessment),
        **_rules_and_gaps(evaluation, assessment),
    }


def _no_infusion(
    request: AssessmentRequest, evaluation: Evaluation, evaluation_date: date
) -> dict[str, Any]:
    return {
        **_common(request, evaluation, evaluation_date),
        "infusionDate": None,
        "plannedInfusionDate": None,
        "day": None,
        "early": None,
        "late": None,
        "phenotype": None,
        "episodes": [],
        "series": _series(EMPTY),
        "tIcaht": None,
        "plateletBands": [],
        "hematotox": None,
        "easix": None,
        "ctcae": [],
        "alerts": [],
        "notEvaluable": [],
        "missing": [NO_INFUSION],
    }


def _early(assessment: Assessment) -> dict[str, Any] | None:
    result = assessment.neutropenia
    if result is None:
        return None
    early = result.early
    graded = early.grade is not None
    return {
        "grade": early.grade,
        "status": early.status,
        "text": early.explanation(),
        "daysBelow500": early.days_anc_le_500 if graded else None,
        "daysBelow100": early.days_anc_le_100 if graded else None,
        "lowerBound": early.lower_bound,
    }


def _late(assessment: Assessment) -> dict[str, Any] | None:
    result = assessment.neutropenia
    if result is None:
        return None
    late = result.late
    confirmed = late.confirmed if late.grade is not None else None
    return {"grade": late.grade, "confirmed": confirmed, "text": late.explanation()}


def _t_icaht(assessment: Assessment) -> dict[str, Any] | None:
    """T-ICAHT (issue 19, docs/clinical §18) with its evidence; `text` is the status card's
    line, so the app and the card say the same."""
    result = assessment.thrombocytopenia
    if result is None:
        return None
    early, late = result.early, result.late
    graded = early.grade is not None
    return {
        "early": {
            "grade": early.grade,
            "status": early.status,
            "lowerBound": early.lower_bound,
            "daysBelow50": early.days_below_50 if graded else None,
            "daysBelow20": early.days_below_20 if graded else None,
        },
        "late": {
            "grade": late.grade,
            "confirmed": late.confirmed if late.grade is not None else None,
            "status": late.status,
            "nadir": late.nadir,
            "nadirDay": late.nadir_day,
            "daysBelow20": late.days_below_20 if late.grade is not None else None,
        },
        "recoveryDay": result.recovery_day,
        "postTransfusionValuesUsed": result.post_transfusion_values_used,
        "text": t_icaht_text(result),
    }


def _platelet_bands(assessment: Assessment, series: ChartSeries) -> list[dict[str, Any]]:
    """Runs of days with platelets < 50 and < 20 x10^9/L for the chart's shading, as `episodes`
    for the ANC. Early window: the days the early T-ICAHT grade counted (the engine's evidence,
    `below_50_days` / `below_20_days`, filled days included). Late window (after the early
    window, to day +100): the contract gives no day list of the late grade (its evidence is the
    nadir, its confirmation and a count of days < 20), so the charted daily lowest platelet
    counts beneath each threshold are shaded, the days a reader sees below the line."""
    result = assessment.thrombocytopenia
    if result is None:
        return []
    early = result.early
    early_end = early.window_end_day if early.window_end_day is not None else EARLY_WINDOW_END
    bands = []
    for threshold, days in (
        (PLATELETS_MODERATE, early.below_50_days),
        (PLATELETS_SEVERE, early.below_20_days),
    ):
        bands += _bands(threshold, "early", days)
    for threshold in (PLATELETS_MODERATE, PLATELETS_SEVERE):
        days = tuple(p.day for p in series.platelets if p.day > early_end and _below(p, threshold))
        bands += _bands(threshold, "late", days)
    return bands


def _below(point: DayPoint, threshold: int) -> bool:
    """Strictly below (§18); a '<20' result is below 20 (C6)."""
    return point.value < threshold or (point.comparator == "<" and point.value <= threshold)


def _bands(threshold: int, window: str, days: tuple[int, ...]) -> list[dict[str, Any]]:
    return [
        {"threshold": threshold, "window": window, "startDay": first, "endDay": last}
        for first, last in day_runs(sorted(set(days)))
    ]


def _phenotype(assessment: Assessment) -> dict[str, Any] | None:
    result = assessment.neutropenia
    if result is None:
        return None
    code = None if result.phenotype == "indeterminate" else result.phenotype
    return {"code": code, "text": phenotype_text(result)}


def _series(series: ChartSeries) -> dict[str, Any]:
    return {
        "anc": _points(Analyte.ANC, series.anc),
        "platelets": _points(Analyte.PLATELETS, series.platelets),
        "hemoglobin": _points(Analyte.HEMOGLOBIN, series.hemoglobin),
    }


def _points(analyte: Analyte, points: tuple[DayPoint, ...]) -> dict[str, Any]:
    unit = CANONICAL_UNIT[analyte]
    return {"unit": unit, "unitLabel": UNIT_LABEL[unit], "points": [_point(p) for p in points]}


def _point(point: DayPoint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "day": point.day,
        "date": point.date.isoformat(),
        "value": round(point.value, 3),  # interpolation leaves long fractions
        "kind": point.kind,
    }
    if point.comparator is not None:
        out["comparator"] = point.comparator
    return out


def _hematotox(assessment: Assessment) -> dict[str, Any] | None:
    score = assessment.hematotox
    if score is None:
        return None
    text = hematotox_text(score, assessment.hematotox_scope)
    return {"score": score.score, "risk": score.risk, "text": text}


def _easix(assessment: Assessment) -> dict[str, Any] | None:
    result = assessment.easix
    text = None if result is None else easix_text(result)
    if result is None or result.value is None or text is None:
        return None
    return {"value": round(result.value, 4), "text": text}


def _ctcae(assessment: Assessment) -> list[dict[str, Any]]:
    """Each blood count's latest value with its CTCAE grade; a value above the grade-2 limit
    without a lower limit of normal is listed as such (grade 0 or 1), not left off."""
    return [
        {"count": grade.term, "grade": grade.grade, "text": ctcae_text(grade)}
        for grade in assessment.ctcae
    ]


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "ruleId": alert.rule_id,
        "severity": alert.severity,
        "summary": alert.summary,
        "rationale": alert.rationale,
        "recommendation": alert.recommendation,
        "source": alert.source,
        "sourceUrl": source_of(alert.source).get("url"),  # the DOI of the cited source
    }


def handle(
    http: Request,
    settings: Settings,
    now: Callable[[ZoneInfo], datetime],
    token_patient: str | None = None,
) -> dict[str, Any]:
    """The assessment of one call (200); a refused call raises its ServiceError, which the one
    error handler (cds_service/app.py `answer_error`) answers with an OperationOutcome.
    `token_patient`: the patient the caller's launch token names, if it names one."""
    started = time.perf_counter()
    try:
        body, counts = _answer(http, settings, now, token_patient)
    except ServiceError as error:
        _log(started, error.status, {})
        raise
    _log(started, 200, counts)
    return body


def _log(started: float, status: int, counts: dict[str, int]) -> None:
    # counts and timings only: never the patient id, values or dates (no patient data in logs:
    # docs/design.md §1)
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    log_event("assessment", status=status, duration_ms=duration_ms, **counts)


def _answer(
    http: Request,
    settings: Settings,
    now: Callable[[ZoneInfo], datetime],
    token_patient: str | None,
) -> tuple[dict[str, Any], dict[str, int]]:
    """(the assessment, counts for the log), or a ServiceError."""
    request = parse_request(http.content_type, read_body(http, MAX_BODY_BYTES))
    if token_patient is not None and request.patient_id != token_patient:
        text = "patientId is not the patient of the launch token"
        raise ForbiddenError(RefusalReason.PATIENT_NOT_ALLOWED, text, "patientId")
    today = now(ZoneInfo(settings.timezone)).date()
    if request.evaluation_date is not None and request.evaluation_date > today:
        text = "must not be after today (as-of grading knows no future)"
        raise RequestValidationError("evaluationDate", text)
    evaluation_date = request.evaluation_date or today
    evaluation = evaluate(
        request.resources,
        patient_id=request.patient_id,
        timezone=settings.timezone,
        evaluation_date=evaluation_date,
        rule_settings=settings.rule_settings,
    )
    counts = {
        "resources": len(request.resources),
        "observations": len(evaluation.mapped.record.labs),
        "left_out": len(evaluation.mapped.left_out),
        "alerts": len(evaluation.rules.alerts) if evaluation.rules else 0,
    }
    return assessment_response(request, evaluation, evaluation_date), counts
