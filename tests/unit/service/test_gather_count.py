"""The per-key resource count of the call's log line (issue 20: a loop, not a generator) counts
what the generator counted: Bundle entries with a resource that is not an OperationOutcome."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.gather import _entries, _resource_count


def _counted_by_the_generator(payload: Any) -> int:
    if not isinstance(payload, dict):
        return 0
    if payload.get("resourceType") != "Bundle":
        return 0 if payload.get("resourceType") == "OperationOutcome" else 1
    return sum(
        1
        for entry in _entries(payload)
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") != "OperationOutcome"
    )


ENTRIES: list[Any] = [
    {"resource": {"resourceType": "Observation"}},
    {"resource": {"resourceType": "OperationOutcome"}},
    {"resource": {}},
    {"resource": None},
    {"resource": ["x"]},
    {"fullUrl": "x"},
    None,
    "entry",
    [],
]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "Bundle",
        {"resourceType": "Patient"},
        {"resourceType": "OperationOutcome"},
        {"resourceType": "Bundle"},
        {"resourceType": "Bundle", "entry": None},
        {"resourceType": "Bundle", "entry": {"resource": {}}},
        {"resourceType": "Bundle", "entry": ENTRIES},
        {"resourceType": "Bundle", "entry": ENTRIES[:1] * 5},
    ],
)
def test_the_count_is_the_generators(payload: Any) -> None:
    assert _resource_count(payload) == _counted_by_the_generator(payload)
