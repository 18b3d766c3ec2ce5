"""ICAHT clinical engine: pure functions from clean patient data to grades with evidence.

No Flask, no HTTP, no FHIR JSON, no clock: the evaluation date is always an argument.
Rules: docs/clinical/ (§1-9, §16); readings: docs/decisions/0002-icaht-grading-readings.md.

Modules: settings (GradingSettings), observations (daily minima), daygrid (day grid 0..E),
episodes, early, late, phenotype, neutropenia (grade_neutropenia, N-ICAHT), thrombocytopenia
(grade_thrombocytopenia, T-ICAHT §18), ctcae, hematotox, easix,
iec_hs, assessment (assess), version (RULES_VERSION), record (input contract).
Management rules M01-M26 belong in `icaht/rules/` and consume `Assessment`.
"""

from icaht.assessment import Assessment, Censoring, assess
from icaht.ctcae import CtcaeGrade, ctcae_from_lab, ctcae_grade
from icaht.early import EarlyResult, NextGrade
from icaht.easix import EasixResult, easix, m_easix, s_easix
from icaht.episodes import Episode
from icaht.hematotox import (
    AllHematotoxResult,
    Baseline,
    HematotoxResult,
    all_hematotox,
    car_hematotox,
    pick_baseline,
)
from icaht.iec_hs import IecHsFinding, IecHsScreen, screen_iec_hs
from icaht.late import LateResult, LateValue
from icaht.neutropenia import NeutropeniaResult, grade_neutropenia
from icaht.phenotype import PhenotypeResult
from icaht.settings import AllHematotoxCutoffs, GradingSettings
from icaht.thrombocytopenia import (
    TEarlyResult,
    ThrombocytopeniaResult,
    TLateResult,
    grade_thrombocytopenia,
)
from icaht.version import RULES_VERSION

__all__ = [
    "RULES_VERSION",
    "AllHematotoxCutoffs",
    "AllHematotoxResult",
    "Assessment",
    "Baseline",
    "Censoring",
    "CtcaeGrade",
    "EarlyResult",
    "EasixResult",
    "Episode",
    "GradingSettings",
    "HematotoxResult",
    "IecHsFinding",
    "IecHsScreen",
    "LateResult",
    "LateValue",
    "NeutropeniaResult",
    "NextGrade",
    "PhenotypeResult",
    "TEarlyResult",
    "TLateResult",
    "ThrombocytopeniaResult",
    "all_hematotox",
    "assess",
    "car_hematotox",
    "ctcae_from_lab",
    "ctcae_grade",
    "easix",
    "grade_neutropenia",
    "grade_thrombocytopenia",
    "m_easix",
    "pick_baseline",
    "s_easix",
    "screen_iec_hs",
]
