"""Management rules M01-M26 (docs/clinical §10) as data plus small pure functions.

`RULES` is the catalogue (governance listing: `format_catalogue()`); `evaluate_rules(RuleInput)`
returns the fired alerts of one hook (one per concern, critical > warning > info) and the rules
that could not be evaluated for lack of data. Readings: docs/decisions/0005-management-rules.md.
Pure: no clock (the evaluation date is passed in), no FHIR JSON, no I/O.
"""

from icaht.rules.catalogue import RULES, RULES_BY_ID, Rule, format_catalogue
from icaht.rules.evaluate import EVALUATORS, evaluate_rules
from icaht.rules.model import (
    Alert,
    DataUsed,
    DraftOrder,
    Hook,
    NotEvaluable,
    RuleInput,
    RuleSettings,
    RulesResult,
    Severity,
    Suggestion,
)

__all__ = [
    "EVALUATORS",
    "RULES",
    "RULES_BY_ID",
    "Alert",
    "DataUsed",
    "DraftOrder",
    "Hook",
    "NotEvaluable",
    "Rule",
    "RuleInput",
    "RuleSettings",
    "RulesResult",
    "Severity",
    "Suggestion",
    "evaluate_rules",
    "format_catalogue",
]
