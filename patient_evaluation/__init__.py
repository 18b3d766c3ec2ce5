"""What a patient's assessment is built from, and the evaluation itself: one layer under both
the CDS Hooks service (cds_service) and the batch tool (cohort).

- `SEARCHES` / `stage(n)` / `READ_TYPES`: the FHIR searches an assessment reads, in two stages
  (the service's prefetch templates are built from them);
- `LAB_LOOKBACK_DAYS`, `MONITORING_DAYS`, `course_anchor`, `fallback_since`,
  `labs_from_lookback`: the look-back and the window;
- `evaluate` (all resources at once) and `evaluate_mapping` (a `PatientMapping` filled stage by
  stage, each resource mapped once): mapping, the engine, the management rules.

Imports only `icaht` and `fhir_mappings`.
"""

from fhir_mappings import PatientMapping
from patient_evaluation.evaluation import Evaluation, Phase, evaluate, evaluate_mapping
from patient_evaluation.lookback import (
    LAB_LOOKBACK_DAYS,
    MONITORING_DAYS,
    course_anchor,
    fallback_since,
    labs_from_lookback,
)
from patient_evaluation.reads import (
    READ_TYPES,
    SEARCHES,
    ResourceSearch,
    lab_codes,
    read_types_only,
    stage,
    vital_sign_codes,
)

__all__ = [
    "LAB_LOOKBACK_DAYS",
    "MONITORING_DAYS",
    "READ_TYPES",
    "SEARCHES",
    "Evaluation",
    "PatientMapping",
    "Phase",
    "ResourceSearch",
    "course_anchor",
    "evaluate",
    "evaluate_mapping",
    "fallback_since",
    "lab_codes",
    "labs_from_lookback",
    "read_types_only",
    "stage",
    "vital_sign_codes",
]
