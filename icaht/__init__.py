"""ICAHT clinical engine: pure functions from clean patient data to grades with evidence.

No Flask, no HTTP, no FHIR JSON, no clock: the evaluation date is always an argument.
Rules: /work/shared/clinical-rules.md (§1-9, §16); readings: docs/decisions/0002.
"""

from icaht.neutropenia import NeutropeniaResult, grade_neutropenia
from icaht.options import AllHematotoxCutoffs, GradingOptions
from icaht.version import RULES_VERSION

__all__ = [
    "RULES_VERSION",
    "AllHematotoxCutoffs",
    "GradingOptions",
    "NeutropeniaResult",
    "grade_neutropenia",
]
