"""Shared fixtures: a real FHIR server (sekmet-fhir) started by the test session itself.

If the server cannot start, every test that needs it fails with the reason (never skips): CI
must not turn green without having talked to a real FHIR server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from icaht_demo.fhir_server import FhirServerError, LocalFhirServer, free_port
from icaht_demo.synthetic import SyntheticPatient, generate_cohort
from icaht_demo.synthetic.loader import seed_cohort
from icaht_demo.synthetic.stories import with_prophylaxis

# The integration cohort: fixed seed and anchor so every run sees the same patients.
COHORT_SIZE = 20
COHORT_SEED = 7
COHORT_ANCHOR = date(2026, 6, 1)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFhirServer]:
    server = LocalFhirServer(workdir=tmp_path_factory.mktemp("fhir"), port=free_port())
    try:
        server.start()
    except FhirServerError as error:
        pytest.fail(f"the real FHIR server could not start: {error}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def synthetic_cohort() -> list[SyntheticPatient]:
    """With the HSV/VZV and PJP prophylaxis orders most centres write (M10 and M11 speak only
    where a test leaves them out)."""
    cohort = generate_cohort(COHORT_SIZE, seed=COHORT_SEED, anchor=COHORT_ANCHOR)
    return [with_prophylaxis(patient) for patient in cohort]


@pytest.fixture(scope="session")
def seeded_fhir_server(
    fhir_server: LocalFhirServer, synthetic_cohort: list[SyntheticPatient]
) -> LocalFhirServer:
    """The FHIR server with the integration cohort loaded through real transactions."""
    seed_cohort(fhir_server.base_url, synthetic_cohort)
    return fhir_server


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store for the service under test (never the project's own .state)."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'icaht-cds.sqlite3'}"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
