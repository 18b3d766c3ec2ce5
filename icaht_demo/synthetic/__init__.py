"""Deterministic synthetic CAR-T cohort (FHIR R4 transaction Bundles).

Used by the demo, the integration tests and the benchmarks.
"""

from icaht_demo.synthetic.courses import CoursePlan
from icaht_demo.synthetic.generator import (
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
