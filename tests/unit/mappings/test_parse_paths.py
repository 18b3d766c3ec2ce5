"""The fast paths of the mapping give what the careful ones give (issue 20): the plain-shape
reading of an Observation equals the careful one or declines, on every Observation of the test
fixtures and on odd variants of a plain one (other types, missing fields, units, times,
statuses); the culture check and the owner of a resource read odd codings and subjects as the
careful loops do, and the collector leaves out a resource of another patient as owner_of says;
the plain path's table of codings and units tells every field apart; a Bundle's entries are
opened as iter_resources' contract says; a cached irradiation reading is the reading afresh; a
measured ANC with only automated parts beside it is derived as the ranking of the candidates
derives it."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from mapping_helpers import FIXTURES, load

from fhir_mappings.api import _Collector
from fhir_mappings.cultures import culture_table
from fhir_mappings.irradiation import _said_by_text, said_by_text
from fhir_mappings.observations import (
    ObservationMapper,
    ObsInput,
    Sink,
    _derive_group,
    _unrivalled_anc,
    derive_group,
)
from fhir_mappings.resources import (
    _patient_of_reference,
    as_list,
    iter_resources,
    owner_of,
    reference_of,
    resource_list,
)
from fhir_mappings.settings import default_mapping_settings

PLAIN: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "plain",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "751-8", "display": "ANC"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2026-07-24T06:45:00+02:00",
    "valueQuantity": {
        "value": 1.9,
        "unit": "10*3/uL",
        "system": "http://unitsofmeasure.org",
        "code": "10*3/uL",
    },
}


class _Str(str):
    pass


def _set(path: str, value: Any) -> dict[str, Any]:
    """PLAIN with the element at `path` ("a.b.0.c") set to `value` (`...` removes it)."""
    res = copy.deepcopy(PLAIN)
    *parents, last = path.split(".")
    node: Any = res
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        if key in node or isinstance(node, list):
            del node[key]
    else:
        node[key] = value
    return res


ODD_VALUES: tuple[Any, ...] = (
    ...,
    None,
    "",
    "x",
    _Str("final"),
    0,
    -1,
    True,
    1.5,
    math.nan,
    math.inf,
    10**30,
    [],
    ["final"],
    {},
    {"value": 1},
)
FIELDS = (
    "status",
    "code",
    "code.coding",
    "code.coding.0",
    "code.coding.0.system",
    "code.coding.0.code",
    "valueQuantity",
    "valueQuantity.value",
    "valueQuantity.unit",
    "valueQuantity.code",
    "valueQuantity.system",
    "valueQuantity.comparator",
    "effectiveDateTime",
    "specimen",
    "referenceRange",
)
OTHER_VARIANTS: tuple[tuple[str, Any], ...] = (
    ("status", "preliminary"),
    ("status", "amended"),
    ("status", "entered-in-error"),
    ("code.coding.0.system", "urn:oid:2.16.840.1.113883.6.1"),
    ("code.coding.0.code", "26499-4"),  # another ANC code
    ("code.coding.0.code", "6690-2"),  # WBC
    ("code.coding.0.code", "0000-0"),
    ("code.coding", [{"system": "http://loinc.org", "code": "0000-0"}, PLAIN["code"]["coding"][0]]),
    ("valueQuantity.comparator", "<"),
    ("valueQuantity.comparator", _Str("<=")),
    ("valueQuantity.value", 0.0),
    ("valueQuantity.value", 1e9),
    ("valueQuantity.value", 0.7),
    ("valueQuantity.unit", "furlongs"),
    ("valueQuantity.code", "/uL"),
    ("valueQuantity.code", "%"),
    ("effectiveDateTime", "2026-07-24"),
    ("effectiveDateTime", "2026-07"),
    ("effectiveDateTime", "2026-07-24T06:45:00"),
    ("effectiveDateTime", "0001-01-01T00:00:00+14:00"),
    ("specimen", {"reference": "Specimen/s1"}),
    ("specimen", {"reference": "#s1"}),
    ("referenceRange", [{"low": {"value": 1.5, "unit": "10*3/uL"}, "high": {"value": 7}}]),
    ("referenceRange", [{"low": {"value": 1500, "code": "/uL"}}]),
    ("referenceRange", [{"low": {"value": "1"}}, 3]),
)


def _variants() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "plain", copy.deepcopy(PLAIN)
    for path in FIELDS:
        for value in ODD_VALUES:
            yield f"{path}={value!r}", _set(path, value)
    for path, value in OTHER_VARIANTS:
        yield f"{path}={value!r}", _set(path, value)


def _fixture_observations() -> Iterator[tuple[str, Any]]:
    for path in sorted(Path(FIXTURES).glob("*.json")):
        for res, _ in iter_resources(load(path.name)):
            if res.get("resourceType") == "Observation":
                yield f"{path.name}:{res.get('id')}", res


CASES = [*_variants(), *_fixture_observations()]


@pytest.fixture(scope="module")
def mapper() -> ObservationMapper:
    cfg = default_mapping_settings()
    return ObservationMapper(cfg.table, cfg.units, cfg.limits, "Europe/Berlin")


@pytest.mark.parametrize(("label", "resource"), CASES, ids=[label for label, _ in CASES])
@pytest.mark.parametrize("groups", [(), ("grp:DiagnosticReport/1",)])
def test_the_plain_path_equals_the_careful_one_or_declines(
    mapper: ObservationMapper, label: str, resource: Any, groups: tuple[str, ...]
) -> None:
    item = ObsInput(resource, "Observation/x", groups)
    careful_sink = Sink()
    try:
        careful = mapper._parse(item, careful_sink)
    except (OverflowError, TypeError) as error:  # what the careful reading raises, both raise
        with pytest.raises(type(error)):
            mapper.parse(item, Sink())
        return
    plain = mapper._parse_plain(item)
    if plain is not None:
        assert plain == careful
        assert careful_sink.left_out == [] and careful_sink.warnings == []
    sink = Sink()
    assert mapper.parse(item, sink) == careful
    assert (sink.left_out, sink.warnings) == (careful_sink.left_out, careful_sink.warnings)


def test_the_plain_shape_takes_the_fast_path(mapper: ObservationMapper) -> None:
    for resource in (PLAIN, _set("specimen", {"reference": "Specimen/s1"})):
        parsed = mapper._parse_plain(ObsInput(resource, "Observation/x"))
        assert parsed is not None
        assert parsed.value == 1900.0


def _quantity(**fields: Any) -> dict[str, Any]:
    res = copy.deepcopy(PLAIN)
    res["valueQuantity"] = {"value": 1.9, **{k: v for k, v in fields.items() if v is not None}}
    return res


def test_the_plain_codes_table_tells_every_field_apart() -> None:
    """One mapper reads Observations that differ in one field of the looked-up key at a time,
    twice each (the second from its table): each reading is the careful one."""
    cfg = default_mapping_settings()
    mapper = ObservationMapper(cfg.table, cfg.units, cfg.limits, "Europe/Berlin")
    variants = [
        PLAIN,
        _set("code.coding.0.system", "urn:oid:2.16.840.1.113883.6.1"),
        _set("code.coding.0.system", "http://snomed.info/sct"),
        _set("code.coding.0.code", "6690-2"),
        _set("valueQuantity.system", ...),
        _set("valueQuantity.code", "10*9/L"),
        _set("valueQuantity.code", "/uL"),
        _set("valueQuantity.unit", "/uL"),
        _set("valueQuantity.code", ...),
        _set("valueQuantity.unit", ...),
        # the unit text decides when there is no code; the code's system decides how the code
        # is read
        _quantity(system=None, code=None, unit="10*3/uL"),
        _quantity(system=None, code=None, unit="/uL"),
        _quantity(system="http://example.org/units", code="/uL", unit="10*3/uL"),
        _quantity(system="http://unitsofmeasure.org", code="/uL", unit="10*3/uL"),
    ]
    readings = set()
    for resource in variants * 2:
        item = ObsInput(resource, "Observation/x")
        careful = mapper._parse(item, Sink())
        plain = mapper._parse_plain(item)
        assert plain is None or plain == careful
        readings.add(None if careful is None else careful.value)
    assert len(readings) >= 3  # the variants read differently
    assert mapper._parse_plain(ObsInput(variants[5], "Observation/x")) is not None


CODINGS: tuple[Any, ...] = (
    None,
    "x",
    [],
    [None],
    ["600-7"],
    [{"system": "http://loinc.org", "code": "751-8"}],
    [{"system": "http://loinc.org", "code": "600-7"}],
    [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": "600-7"}],
    [{"system": "http://snomed.info/sct", "code": "600-7"}],
    [
        {"system": "http://loinc.org", "code": "751-8"},
        {"system": "http://loinc.org", "code": "600-7"},
    ],
    [{"system": "http://loinc.org", "code": _Str("600-7")}],
    [{"system": "http://loinc.org", "code": ["600-7"]}],
    [{"system": "http://loinc.org"}],
    [{"system": "http://loinc.org", "code": "751-8"}, "600-7"],
)


@pytest.mark.parametrize("coding", CODINGS)
def test_is_culture_fast_and_careful_agree(coding: Any) -> None:
    table = culture_table()
    for concept in ({"coding": coding}, coding):
        res = {"resourceType": "Observation", "code": concept}
        assert table.is_culture(res) == table._is_culture(res)
    assert table.is_culture({"code": {"coding": CODINGS[6]}})


@pytest.mark.parametrize("coding", CODINGS)
def test_the_collector_sets_blood_cultures_apart_as_is_culture(coding: Any) -> None:
    table = culture_table()
    for concept in ({"coding": coding}, coding):
        res = {"resourceType": "Observation", "id": "o", "code": concept}
        collector = _Collector("p", Sink())
        collector.add([res])
        cultures, labs = collector.observations()
        assert (len(cultures), len(labs)) == ((1, 0) if table.is_culture(res) else (0, 1))


SUBJECTS: tuple[Any, ...] = (
    None,
    "Patient/p",
    {},
    {"reference": None},
    {"reference": ""},
    {"reference": "Patient/p"},
    {"reference": "https://ehr/fhir/Patient/p/_history/2"},
    {"reference": _Str("Patient/p")},
    {"reference": "urn:uuid:1"},
    {"reference": "Group/g"},
    {"reference": ["Patient/p"]},
)


def _owned_resource(rtype: str, subject: Any, patient: Any) -> dict[str, Any]:
    """A resource with the given `subject` and `patient` elements (None: absent)."""
    res: dict[str, Any] = {"resourceType": rtype, "id": "r"}
    if subject is not None:
        res["subject"] = subject
    if patient is not None:
        res["patient"] = patient
    return res


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("patient", [None, {"reference": "Patient/q"}])
@pytest.mark.parametrize("rtype", ["Observation", "Appointment", "Patient"])
def test_owner_of_reads_the_subject_first(subject: Any, patient: Any, rtype: str) -> None:
    res = _owned_resource(rtype, subject, patient)
    refs = [reference_of(res.get("subject")), reference_of(res.get("patient"))]
    owners = [_patient_of_reference(ref) for ref in refs if ref]
    expected = "r" if rtype == "Patient" else next((o for o in owners if o), None)
    assert owner_of(res) == expected


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("patient", [None, {"reference": "Patient/q"}])
@pytest.mark.parametrize("rtype", ["Observation", "Condition", "Appointment", "Patient"])
def test_the_collector_reads_the_owner_as_owner_of(subject: Any, patient: Any, rtype: str) -> None:
    res = _owned_resource(rtype, subject, patient)
    owner = owner_of(res)
    for me in ("p", "q", "r"):
        sink = Sink()
        _Collector(me, sink).add([res])
        other = [o.reason for o in sink.left_out] == ["other-patient"]
        assert other == (owner is not None and owner != me)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Irradiated",
        "irradiated: yes",
        "Irradiated: no",
        "not irradiated",
        "irradiated if available",
        "Bestrahlt",
        "Packed red cells, leukoreduced",
        "irradiated; " * 40,  # longer than the cached texts
    ],
)
def test_said_by_text_cached_is_the_reading_afresh(text: str) -> None:
    assert said_by_text(text) == _said_by_text(text)
    assert said_by_text(text) == _said_by_text(text)  # the second time from the cache


# (kind, method) of every result a specimen's ANC derivation reads
PARTS = (
    ("anc", "manual"),
    ("anc", "automated"),
    ("wbc", "unspecified"),
    ("neutrophil_percent_automated", "automated"),
    ("neutrophil_percent_unspecified", "unspecified"),
    ("neutrophil_percent_manual", "manual"),
    ("segmented_percent", "manual"),
    ("band_percent", "manual"),
    ("segmented_count", "manual"),
    ("band_count", "manual"),
)
# (value, comparator): ordinary, bounded each way, low (a WBC bound), huge
READINGS = ((1900.0, None), (40.0, "<"), (60.0, ">="), (300.0, None), (1e9, None))


def _specimens() -> Iterator[list[tuple[str, str, float, Any, bool]]]:
    automated = [part for part in PARTS if part[0] != "anc"][:3]
    for size in (1, 2, 3, 4):
        for parts in itertools.combinations_with_replacement(PARTS, size):
            for n in range(len(READINGS)):
                # the readings rotate over the parts; preliminary on every other specimen
                yield [
                    (kind, method, *READINGS[(n + k) % len(READINGS)], (n + size) % 2 == 1)
                    for k, (kind, method) in enumerate(parts)
                ]
    yield [(kind, method, 1.0, None, False) for kind, method in automated]


@pytest.mark.parametrize("plausible", [True, False])
def test_a_measured_anc_unrivalled_is_derived_as_by_the_ranking(
    mapper: ObservationMapper, plausible: bool
) -> None:
    base = mapper._parse(ObsInput(PLAIN, "Observation/x"), Sink())
    assert base is not None

    def judge(kind: str, value: float) -> bool:
        return plausible or value < 1e6

    taken = 0
    for specimen in _specimens():
        group = [
            replace(
                base,
                entry=replace(base.entry, kind=kind, method=method),
                value=value,
                comparator=comparator,
                preliminary=preliminary,
                source_id=f"Observation/{k}",
            )
            for k, (kind, method, value, comparator, preliminary) in enumerate(specimen)
        ]
        fast_sink, ranked_sink = Sink(), Sink()
        fast = derive_group(group, fast_sink, judge)
        assert fast == _derive_group(group, ranked_sink, judge), specimen
        assert (fast_sink.left_out, fast_sink.warnings) == (
            ranked_sink.left_out,
            ranked_sink.warnings,
        ), specimen
        taken += _unrivalled_anc(group) is not None
    assert taken > 100  # the fast path was taken, and not always


def _resources_as_specified(item: Any, full_url: str | None = None) -> Iterator[Any]:
    """iter_resources' contract, read recursively: Bundles opened in order, lists and tuples
    flattened, anything that is not a Mapping of a string type skipped."""
    if not isinstance(item, Mapping):
        if isinstance(item, list | tuple):
            for x in item:
                yield from _resources_as_specified(x)
        return
    rtype = item.get("resourceType")
    if rtype == "Bundle":
        for e in as_list(item.get("entry")):
            if isinstance(e, dict):
                url = e.get("fullUrl")
                yield from _resources_as_specified(
                    e.get("resource"), url if isinstance(url, str) and url else None
                )
    elif isinstance(rtype, str):
        yield (item if isinstance(item, dict) else dict(item)), full_url


def _obs(n: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"o{n}"}


class _Dict(dict[str, Any]):
    pass


ENTRIES: tuple[Any, ...] = (
    {"resource": _obs(1), "fullUrl": "https://ehr/Observation/o1"},
    {"resource": _obs(2)},
    {"resource": _obs(3), "fullUrl": ""},
    {"resource": _obs(4), "fullUrl": 5},
    {"resource": _obs(5), "fullUrl": _Str("urn:uuid:5")},
    {"resource": None, "fullUrl": "deleted"},
    {"fullUrl": "no resource"},
    "not an entry",
    None,
    _Dict(resource=_obs(6), fullUrl="subclass entry"),
    {"resource": {"resourceType": None, "id": "x"}},
    {"resource": {"resourceType": _Str("Observation"), "id": "s"}, "fullUrl": "u:s"},
    {"resource": MappingProxyType(_obs(7)), "fullUrl": "u:7"},
    {"resource": [_obs(8), {"resourceType": "Bundle", "entry": [{"resource": _obs(9)}]}]},
    {"resource": {"resourceType": "Bundle", "entry": [{"resource": _obs(10), "fullUrl": "u"}]}},
    {"resource": {"resourceType": "Bundle", "entry": "not a list"}},
)


def _bundles() -> Iterator[Any]:
    for first in range(len(ENTRIES)):  # each odd entry first, between plain ones and last
        odd = ENTRIES[first]
        for entries in ([odd], [ENTRIES[0], odd, ENTRIES[1]], [ENTRIES[1], ENTRIES[2], odd]):
            yield {"resourceType": "Bundle", "entry": entries}
    yield {"resourceType": "Bundle", "entry": list(ENTRIES)}
    yield {"resourceType": "Bundle", "entry": list(reversed(ENTRIES))}
    yield {"resourceType": "Bundle"}
    yield [{"resourceType": "Bundle", "entry": list(ENTRIES)}, _obs(11), (_obs(12), None), "x"]
    yield _obs(13)
    for path in sorted(Path(FIXTURES).glob("*.json")):
        yield load(path.name)


@pytest.mark.parametrize("items", list(_bundles()))
def test_resource_list_opens_bundles_as_specified(items: Any) -> None:
    expected = list(_resources_as_specified(items if isinstance(items, Mapping) else list(items)))
    assert resource_list(items) == expected
    assert list(iter_resources(items)) == expected
