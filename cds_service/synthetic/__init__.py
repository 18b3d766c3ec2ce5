"""Deterministic synthetic CAR-T cohort (FHIR R4 transaction Bundles).

Used by the demo, the integration tests and the benchmarks.
"""

from cds_service.synthetic.courses import CoursePlan
from cds_service.synthetic.generator import (
    DEFAULT_ANCHOR,
    SyntheticPatient,
    generate_cohort,
    generate_patient,
)

__all__ = [
    "DEFAULT_ANCHOR",
    "CoursePlan",
    "SyntheticPatient",
    "generate_cohort",
    "generate_patient",
]
