"""Load a synthetic cohort into any FHIR R4 server through transaction Bundles over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import requests

FHIR_JSON = "application/fhir+json"


class Seedable(Protocol):
    """A patient with its transaction Bundle: a SyntheticPatient or a StoryPatient."""

    @property
    def patient_id(self) -> str: ...

    @property
    def bundle(self) -> dict[str, Any]: ...


class SeedError(RuntimeError):
    """The FHIR server refused a transaction."""


@dataclass(frozen=True)
class SeedReport:
    patients: int
    resources: int
    seconds: float


def seed_cohort(
    base_url: str,
    patients: Iterable[Seedable],
    session: requests.Session | None = None,
    timeout: float = 120.0,
) -> SeedReport:
    """POST one transaction per patient; raise SeedError naming the patient on any refusal."""
    http = session or requests.Session()
    started = time.perf_counter()
    count = resources = 0
    for patient in patients:
        response = http.post(
            base_url,
            json=patient.bundle,
            headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
            timeout=timeout,
        )
        if response.status_code != 200:
            raise SeedError(
                f"transaction for {patient.patient_id} refused: HTTP {response.status_code} "
                f"{response.text[:500]}"
            )
        count += 1
        resources += len(patient.bundle["entry"])
    return SeedReport(count, resources, time.perf_counter() - started)
