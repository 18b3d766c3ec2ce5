"""The mapping's results are pinned (issue 20): the speed-ups of the per-Observation path must
not change one value, warning or left-out entry. The snapshots under
tests/data/mapping_snapshots/ were written by the code before those speed-ups (run this module
as a script to rewrite them, only for a change of a mapping result that is meant).

Every request fixture (tests/data/requests/) and a synthetic cohort (fixed seed and anchor, each
patient also in a dense form: every lab drawn again at other minutes of the same days, as the
3,000-Observation body of benchmarks/profile_hook.py) are mapped in the fixtures' time zone; the
whole MappingResult is written out as normalised JSON (class names, every field, exact floats,
aware times with their zone). The two largest fixtures and one dense patient are stored in full
(a failure shows the first difference), the others as a SHA-256 of that text."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import sys
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings import MappingResult, map_patient
from icaht_demo.synthetic import generate_cohort

DATA = Path(__file__).resolve().parents[2] / "data"
REQUESTS = sorted((DATA / "requests").glob("*.json"))
SNAPSHOTS = DATA / "mapping_snapshots"
TZ = "Europe/Berlin"  # the fixtures' time zone (tests/data/requests/README.md)
ANCHOR = date(2026, 3, 2)
COHORT = 8
FULL = ("request-M10-out-day-366-no-antiviral-on-record", "cohort-1-dense")
DENSE_ROUNDS = 3  # copies of every lab, 7 minutes apart


def normal(value: Any) -> Any:
    """A JSON-able form that keeps everything equality would compare (and the class)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"__class__": type(value).__name__}
        fields = [f for f in dataclasses.fields(value) if f.compare]  # what equality reads
        out.update({f.name: normal(getattr(value, f.name)) for f in fields})
        return out
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, datetime):
        return f"{value.isoformat()} [{value.tzinfo!s}]"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(normal(v) for v in value)
    if isinstance(value, dict):
        return {str(k): normal(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return value


def text(result: MappingResult) -> str:
    return json.dumps(normal(result), indent=1, sort_keys=True)


def digest(result: MappingResult) -> str:
    return hashlib.sha256(text(result).encode()).hexdigest()


def _dense(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(resources)
    for round_ in range(1, DENSE_ROUNDS + 1):
        for res in resources:
            if res.get("resourceType") != "Observation" or "effectiveDateTime" not in res:
                continue
            again = copy.deepcopy(res)
            again["id"] = f"{res['id']}-r{round_}"
            when = datetime.fromisoformat(res["effectiveDateTime"])
            again["effectiveDateTime"] = (when + timedelta(minutes=7 * round_)).isoformat()
            out.append(again)
    return out


def cases() -> dict[str, tuple[list[Any], str]]:
    """name -> (resources, patient id)."""
    found: dict[str, tuple[list[Any], str]] = {}
    for path in REQUESTS:
        body = json.loads(path.read_text())
        prefetch = list((body.get("prefetch") or {}).values())
        found[path.stem] = (prefetch, str(body["context"]["patientId"]))
    for index, patient in enumerate(generate_cohort(COHORT, seed=3, anchor=ANCHOR)):
        resources = patient.resources()
        found[f"cohort-{index}"] = (resources, patient.patient_id)
        found[f"cohort-{index}-dense"] = (_dense(resources), patient.patient_id)
    return found


def mapped(name: str, found: tuple[list[Any], str]) -> MappingResult:
    resources, patient = found
    return map_patient(resources, patient_id=patient, tz=TZ)


@pytest.fixture(scope="module")
def all_cases() -> dict[str, tuple[list[Any], str]]:
    return cases()


def test_every_case_has_a_snapshot(all_cases: dict[str, tuple[list[Any], str]]) -> None:
    digests = json.loads((SNAPSHOTS / "digests.json").read_text())
    assert sorted(digests) == sorted(all_cases)
    assert len(digests) > 100 + 2 * COHORT


@pytest.mark.parametrize("name", FULL)
def test_the_full_snapshot_is_unchanged(
    name: str, all_cases: dict[str, tuple[list[Any], str]]
) -> None:
    result = mapped(name, all_cases[name])
    assert len(result.record.labs) > 50  # a big case: many values to compare
    assert text(result) == (SNAPSHOTS / f"{name}.json").read_text()


def test_every_mapping_result_is_unchanged(all_cases: dict[str, tuple[list[Any], str]]) -> None:
    digests = json.loads((SNAPSHOTS / "digests.json").read_text())
    changed = [
        name for name, found in all_cases.items() if digest(mapped(name, found)) != digests[name]
    ]
    assert changed == []


def write() -> None:
    """Rewrite the snapshots from the code as it is."""
    SNAPSHOTS.mkdir(exist_ok=True)
    found = cases()
    digests = {name: digest(mapped(name, case)) for name, case in found.items()}
    (SNAPSHOTS / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    for name in FULL:
        (SNAPSHOTS / f"{name}.json").write_text(text(mapped(name, found[name])))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: test_mapping_snapshots.py --write (rewrites the pinned mapping results)")
    write()
