"""The hook's `org.icaht.assessment` facts, read back from a row of the cohort's patients.csv."""

from __future__ import annotations

from typing import Any

INTEGER_FACTS = (
    "early_grade",
    "late_grade",
    "hematotox_score",
    "day",
    "t_early_grade",
    "t_late_grade",
)
TEXT_FACTS = ("early_status", "phenotype", "hematotox_risk", "t_early_status")
BOOLEAN_FACTS = ("late_confirmed", "t_late_confirmed")
FACTS = INTEGER_FACTS + TEXT_FACTS + BOOLEAN_FACTS  # cds_service/cards.py machine_assessment


def cohort_facts(row: dict[str, str]) -> dict[str, Any]:
    """The same keys as the card extension; empty cells are left out, as the card does."""
    facts: dict[str, Any] = {}
    for key in INTEGER_FACTS:
        if row[key] != "":
            facts[key] = int(row[key])
    for key in TEXT_FACTS:
        if row[key] != "":
            facts[key] = row[key]
    for key in BOOLEAN_FACTS:
        if row[key] != "":
            facts[key] = row[key] == "true"
    return facts
