"""Cards from the engine's assessment, rendered from the Jinja2 templates in cards_templates/.

This module prepares plain values for the templates and assembles the cards: the ICAHT status
card and one card per management alert (M01-M26), each a frozen `Card` carrying its rule id and
concern key, turned into CDS Hooks JSON (uuid, indicator, source, extension) only at the edge.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from cds_service.concerns import CONCERN_KEY, concern_key
from cds_service.markdown import escape_markdown_text
from cds_service.suggestions import cds_suggestion
from fhir_mappings import LeftOut
from icaht import RULES_VERSION, Assessment
from icaht.early import EARLY_WINDOW_END
from icaht.explanations import (
    censoring_text,
    ctcae_text,
    day_span,
    early_rests_on,
    grade_text,
    hematotox_text,
    phenotype_text,
    preliminary_text,
    t_icaht_summary,
    t_icaht_text,
)
from icaht.explanations import sentence as _sentence
from icaht.neutropenia import NeutropeniaResult
from icaht.rules import RULES_BY_ID, Alert
from icaht.rules.base import HIGH_GRADE
from icaht.rules.catalogue import first_citation

# the `cards_templates` package (package data: in the source tree and in an installed wheel)
TEMPLATES_DIR = Path(str(resources.files("cards_templates")))
CARD_NAMESPACE = uuid.UUID("6f2b8c0e-4a51-4d1e-9a3c-1c2d3e4f5a6b")  # uuid5 namespace of cards
ICAHT_SOURCE = {
    "label": "EHA/EBMT ICAHT consensus (Rejeski et al., Blood 2023)",
    "url": "https://doi.org/10.1182/blood.2023020578",
}
ASSESSMENT_KEY = "org.icaht.assessment"
RULES_VERSION_KEY = "org.icaht.rules-version"
RULE_KEY = "org.icaht.rule"
SMART_LINK_LABEL = "ICAHT chart (SMART app)"
SUMMARY_MAX = 139  # CDS Hooks card summary: "<140 characters"


SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}  # CDS Hooks 2.0 @88, most urgent first
OVERRIDE_SYSTEM = "urn:icaht-cds:CodeSystem:override-reason"
OVERRIDE_REASONS = (  # offered on warning and critical cards (@98-@100: display required)
    {"system": OVERRIDE_SYSTEM, "code": "not-applicable", "display": "Not applicable"},
    {"system": OVERRIDE_SYSTEM, "code": "already-addressed", "display": "Already addressed"},
    {
        "system": OVERRIDE_SYSTEM,
        "code": "clinical-judgement",
        "display": "Benefit outweighs risk for this patient",
    },
    {"system": OVERRIDE_SYSTEM, "code": "data-wrong", "display": "The data shown are wrong"},
)
DOI = re.compile(r"doi:(10\.\d{4,9}/[^\s;,)]+)")


@cache
def _environment() -> Environment:
    directory = os.environ.get("ICAHT_CDS_TEMPLATES") or str(TEMPLATES_DIR)
    return Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=False,  # markdown, not HTML: `finalize` escapes every value for markdown
        # every {{ value }} is text, never markup: order names and displays come from the EHR
        # (docs/decisions/0026); the templates hold the card's only markup
        finalize=escape_markdown_text,
        keep_trailing_newline=False,
    )


def render(template: str, **values: Any) -> tuple[str, str]:
    """(summary, detail) from a template whose first line is the summary."""
    text = _environment().get_template(template).render(**values).strip()
    summary, _, detail = text.partition("\n")
    return summary.strip(), _tidy(detail)


def _tidy(markdown: str) -> str:
    lines = [line.rstrip() for line in markdown.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


@dataclass(frozen=True)
class CardInputs:
    service_id: str
    patient_id: str
    assessment: Assessment
    left_out: tuple[LeftOut, ...]
    unavailable: tuple[str, ...]  # optional data the FHIR server could not give
    today: date
    not_evaluable: tuple[str, ...] = ()  # rules that could not be decided: what they need
    smart_launch_url: str | None = None  # the SMART app's launch URL (issue 7)
    hook_instance: str | None = None  # the request's hookInstance, for the SMART link (issue 18)


Indicator = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class SmartLink:
    """The status card's link to the SMART app (cds-hooks_2.0@142 @143: the EHR adds iss and
    launch when it opens it)."""

    url: str
    app_context: str  # not part of the card's uuid: a new hookInstance is the same card

    def as_json(self, *, with_context: bool = True) -> dict[str, Any]:
        link = {"label": SMART_LINK_LABEL, "url": self.url, "type": "smart"}
        return link | {"appContext": self.app_context} if with_context else link


@dataclass(frozen=True)
class Card:
    """One CDS Hooks card, rendered; JSON only at the edge (`as_json`). `rule_id` and
    `concern_key` are None on the status card (it is never withheld, docs/decisions/0007)."""

    summary: str
    detail: str
    indicator: Indicator
    source: Mapping[str, str]
    assessment: Mapping[str, Any]  # `org.icaht.assessment`
    rule_id: str | None = None
    concern_key: str | None = None
    override_reasons: bool = False  # offers OVERRIDE_REASONS (warning and critical alerts)
    # None: a suggestion with no concrete FHIR action (sent as null, as it always was)
    suggestions: tuple[Mapping[str, Any] | None, ...] = ()
    smart_link: SmartLink | None = None
    uuid: str = ""

    def as_json(self) -> dict[str, Any]:
        """The card as CDS Hooks 2.0 JSON, keys in the order the service has always sent."""
        card = self.content()
        if self.suggestions:
            card["suggestions"] = [s if s is None else dict(s) for s in self.suggestions]
            card["selectionBehavior"] = "at-most-one"
        card["uuid"] = self.uuid
        return card

    def content(self, *, with_context: bool = True) -> dict[str, Any]:
        """The card's JSON without its suggestions and uuid (`with_context=False`: without the
        SMART link's appContext too: what the uuid hashes)."""
        extension: dict[str, Any] = {
            RULES_VERSION_KEY: RULES_VERSION,
            ASSESSMENT_KEY: dict(self.assessment),
        }
        if self.rule_id is not None:
            extension[RULE_KEY] = self.rule_id
        if self.concern_key is not None:
            extension[CONCERN_KEY] = self.concern_key  # for overrides (0007)
        card: dict[str, Any] = {
            "summary": self.summary,
            "detail": self.detail,
            "indicator": self.indicator,
            "source": dict(self.source),
            "extension": extension,
        }
        if self.override_reasons:
            card["overrideReasons"] = [dict(reason) for reason in OVERRIDE_REASONS]
        if self.smart_link is not None:
            card["links"] = [self.smart_link.as_json(with_context=with_context)]
        return card


def status_card(inputs: CardInputs) -> Card:
    """The ICAHT status card of a patient with a CAR-T infusion on record."""
    assessment = inputs.assessment
    values = _status_values(inputs)
    summary, detail = render("icaht_status.md.j2", **values)
    if len(summary) > SUMMARY_MAX and values["t_summary"]:  # T-ICAHT only when it fits
        summary, detail = render("icaht_status.md.j2", **(values | {"t_summary": ""}))
    url = inputs.smart_launch_url
    card = Card(
        summary=summary,
        detail=detail,
        indicator=_indicator(assessment),
        source=dict(ICAHT_SOURCE),
        assessment=machine_assessment(assessment, inputs.today),
        smart_link=SmartLink(url, smart_app_context(inputs)) if url else None,
    )
    return replace(card, uuid=card_uuid(inputs.service_id, inputs.patient_id, card))


def smart_app_context(inputs: CardInputs) -> str:
    """The SMART link's `appContext` (CDS Hooks 2.0 Link): a JSON string the EHR hands the app
    in the token response. The app evaluates at `evaluationDate`, the date this card was
    computed for, so the chart and the card agree; `hookInstance` names the call."""
    context = {"evaluationDate": inputs.today.isoformat()}
    if inputs.hook_instance:
        context["hookInstance"] = inputs.hook_instance
    return json.dumps(context, separators=(",", ":"))


def alert_card(inputs: CardInputs, alert: Alert) -> Card:
    """One card per fired management rule (issue 6), rendered from alert.md.j2."""
    rule = RULES_BY_ID[alert.rule_id]
    summary, detail = render(
        "alert.md.j2",
        summary=alert.summary,
        rationale=_sentence(alert.rationale),
        recommendation=_sentence(alert.recommendation) + ".",
        rule_id=alert.rule_id,
        title=rule.title,
        evidence_level="+".join(alert.evidence_level),
        source=alert.source,
        status_note=_status_note(inputs.assessment),
        rules_version=RULES_VERSION,
    )
    card = Card(
        summary=summary,
        detail=detail,
        indicator=alert.severity,
        source=source_of(alert.source),
        assessment=machine_assessment(inputs.assessment, inputs.today),
        rule_id=alert.rule_id,
        concern_key=concern_key(inputs.service_id, alert),
        override_reasons=alert.severity in ("warning", "critical"),
    )
    key = card_uuid(inputs.service_id, inputs.patient_id, card)
    suggestions = tuple(cds_suggestion(s, inputs.patient_id, key) for s in alert.suggestions)
    return replace(card, suggestions=suggestions, uuid=key)


def order_cards(cards: Iterable[Card]) -> tuple[Card, ...]:
    """Critical > warning > info; the order within a severity is kept (status card first)."""
    return tuple(sorted(cards, key=lambda card: SEVERITY_ORDER[card.indicator]))


def source_of(source: str) -> dict[str, Any]:
    """CDS Hooks `source` of a rule's card: the short whole label of the citation the rule
    names first and that citation's own DOI, no url when it has none (docs/decisions/0016)."""
    citation = first_citation(source)
    if citation is None:  # a source outside the catalogue's citations: its first part, whole
        label = source.split("; ", maxsplit=1)[0].strip()
        doi = DOI.search(label)
        return {"label": label} | ({"url": f"https://doi.org/{doi.group(1)}"} if doi else {})
    return {"label": citation.label} | ({"url": citation.url} if citation.url else {})


def _status_note(assessment: Assessment) -> str:
    result = assessment.neutropenia
    if result is None or result.early.grade is None:
        return ""
    early = result.early
    if early.status == "provisional" or early.lower_bound:
        bound = ", a lower bound" if early.lower_bound else ""
        return f"The early N-ICAHT grade ({early.grade}) is {early.status}{bound}."
    return ""


def card_uuid(service_id: str, patient_id: str, card: Card) -> str:
    """Stable for the same service, patient and content: the same data give the same card
    (the content without the suggestions, which carry the uuid, and the SMART link's context)."""
    content = json.dumps(card.content(with_context=False), sort_keys=True, default=str)
    return str(uuid.uuid5(CARD_NAMESPACE, f"{service_id}\n{patient_id}\n{content}"))


def _indicator(assessment: Assessment) -> Indicator:
    result = assessment.neutropenia
    if result is None:
        return "info"
    grades = [g for g in (result.early.grade, result.late.grade) if g is not None]
    # a high ICAHT grade asks for action (docs/clinical §10); the alerts refine this
    return "warning" if grades and max(grades) >= HIGH_GRADE else "info"


def machine_assessment(assessment: Assessment, today: date) -> dict[str, Any]:
    """`org.icaht.assessment`: what is known, never null (issue 5)."""
    facts: dict[str, Any] = {}
    result = assessment.neutropenia
    if result is not None:
        facts["early_grade"] = result.early.grade
        facts["early_status"] = result.early.status
        facts["late_grade"] = result.late.grade
        facts["late_confirmed"] = result.late.confirmed if result.late.grade else None
        facts["phenotype"] = result.phenotype
    platelets = assessment.thrombocytopenia
    if platelets is not None:  # issue 19: T-ICAHT beside the N-ICAHT keys above
        facts["t_early_grade"] = platelets.early.grade
        facts["t_early_status"] = platelets.early.status
        facts["t_late_grade"] = platelets.late.grade
        facts["t_late_confirmed"] = platelets.late.confirmed if platelets.late.grade else None
    if assessment.hematotox is not None:
        facts["hematotox_score"] = assessment.hematotox.score
        facts["hematotox_risk"] = assessment.hematotox.risk
    if assessment.day0 is not None:
        facts["day"] = (today - assessment.day0).days
    return {key: value for key, value in facts.items() if value is not None}


def _status_values(inputs: CardInputs) -> dict[str, Any]:
    """The status template's values; every sentence about a grade or a score comes from
    icaht/explanations.py or the results' own explanation(), as in the SMART API."""
    assessment = inputs.assessment
    result = assessment.neutropenia
    assert result is not None and assessment.day0 is not None
    early = result.early
    day = (inputs.today - assessment.day0).days
    if assessment.death_date is not None:
        died = (assessment.death_date - assessment.day0).days
        day_label = f"+{died} (died)"
    else:
        day_label = f"+{day}" if day >= 0 else str(day)
    hematotox = assessment.hematotox
    return {
        "day_label": day_label,
        "early": {
            "window": day_span(0, EARLY_WINDOW_END),  # "days 0-30"
            "grade_text": grade_text(early.grade, early.status, early.lower_bound),
            "explanation": _sentence(early.explanation()),
            "lower_bound": early.lower_bound,
            "next_grade": early.next_grade,
            "rests_on": early_rests_on(early),
        },
        "late": _late_values(result),
        "t_icaht": t_icaht_text(assessment.thrombocytopenia),
        "t_summary": t_icaht_summary(assessment.thrombocytopenia),
        "censored": censoring_text(assessment),
        "preliminary": preliminary_text(result),
        "phenotype": _phenotype_values(result),
        "hematotox": (
            None if hematotox is None else hematotox_text(hematotox, assessment.hematotox_scope)
        ),
        "ctcae": [ctcae_text(g) for g in assessment.ctcae if g.grade],
        "left_out": _left_out_text(inputs.left_out),
        "unavailable": list(inputs.unavailable),
        "not_evaluable": not_evaluable_text(inputs.not_evaluable),
        "rules_version": RULES_VERSION,
    }


def _late_values(result: NeutropeniaResult) -> dict[str, Any]:
    late = result.late
    explanation = _sentence(late.explanation()) + "."
    if late.grade is None:
        return {"grade": None, "grade_text": "", "explanation": explanation}
    text = grade_text(late.grade, late.status, False)
    if late.grade and not late.confirmed:
        text += ", unconfirmed"
    return {
        "grade": late.grade,
        "grade_text": text,
        "explanation": explanation,
        "window_end": late.window_end_day,
    }


def _phenotype_values(result: NeutropeniaResult) -> dict[str, Any] | None:
    """The phenotype's name and whether its window is complete (for the summary line), and the
    detail line's text."""
    if result.phenotype == "indeterminate":
        return None
    final = result.phenotype_detail.window_complete
    return {"name": str(result.phenotype), "final": final, "text": phenotype_text(result)}


# What the FHIR mapping does supply: a rule the catalogue marks as off until configured
# (`configuration_gap`) is still listed when it lacks one of these, since more data would let it
# fire once configured.
MAPPED_NEEDS = ("a current ", "transfusion records")
NEEDS = re.compile(r"(?P<rule>M\d\d) needs (?P<what>.+)")


def not_evaluable_text(needs: tuple[str, ...]) -> list[str]:
    """The "not evaluated" line: only rules that could fire with more data, in plain words,
    e.g. "M13 (RBC transfusion threshold): cardiovascular disease status (...)". Rules that wait
    for a setting (`configuration_gap`: M22 without a configured threshold) are left out:
    listing them would never change."""
    shown = []
    for text in needs:
        match = NEEDS.fullmatch(text)
        rule = RULES_BY_ID.get(match["rule"]) if match else None
        if match is None or rule is None:
            shown.append(text)
            continue
        what = match["what"]
        if rule.configuration_gap and not what.startswith(MAPPED_NEEDS):
            continue
        shown.append(f"{rule.id} ({rule.title}): {what}")
    return shown


def _left_out_text(left_out: tuple[LeftOut, ...]) -> list[str]:
    counts = Counter(item.reason for item in left_out)
    return [f"{count} × {reason.replace('-', ' ')}" for reason, count in sorted(counts.items())]
