"""Observation rules (docs/clinical §1.1, §1.3, §11): FHIR Observation dicts -> LabValues."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from fhir_mappings.model import LeftOut, MappingWarning
from fhir_mappings.resources import as_dict, as_list, system_codes
from fhir_mappings.tables import AnalyteTable, CodeEntry
from fhir_mappings.times import When, parse_when
from fhir_mappings.units import Conversion, UnitConverter, UnitError
from icaht.early import SEVERE_ANC
from icaht.record import Analyte, Comparator, LabValue, Provenance

USED_STATUSES = frozenset({"final", "amended", "corrected"})
PRELIMINARY = "preliminary"
COMPARATORS: dict[str, Comparator] = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}
ANC_GROUP_KINDS = frozenset(
    {
        "anc",
        "wbc",
        "neutrophil_percent_automated",
        "neutrophil_percent_manual",
        "neutrophil_percent_unspecified",
        "segmented_percent",
        "band_percent",
        "band_count",
        "segmented_count",
    }
)
# below this, a whole number has at most 12 digits: `_clean` (12 significant digits) keeps it
CLEAN_EXACT = 1e12
BOUND_WBC_LIMIT = float(SEVERE_ANC)  # s1.3: WBC <= 500/uL bounds ANC <= 500 (the severe ANC)
# Other spellings of the LOINC system seen in the wild (HL7 OID, trailing slash, https)
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "http://loinc.org/": "http://loinc.org",
    "https://loinc.org": "http://loinc.org",
}


@dataclass(slots=True)
class ObsInput:
    """One Observation to map, with where it came from (internal to the mapping and never
    changed: not frozen, as `Parsed`, for the cost of its construction per Observation)."""

    resource: Mapping[str, Any]
    source_id: str  # "Observation/1" or "DiagnosticReport/7#c1" for a contained result
    groups: tuple[str, ...] = ()  # same-specimen keys from a DiagnosticReport or a panel


@dataclass(slots=True)
class Parsed:
    """One usable Observation read, before derivation and the cross-Observation rules.

    Not frozen, unlike the domain values: it never leaves `ObservationMapper.map_all`, nothing
    writes to it after construction, and a frozen dataclass's __init__ costs 2.5 times as much
    on the per-Observation path (issue 20)."""

    entry: CodeEntry
    value: float
    comparator: Comparator | None
    when: When
    preliminary: bool
    ref_low: float | None
    ref_high: float | None
    source_id: str
    keys: tuple[object, ...]  # same-specimen keys: group/specimen strings, collection instant

    def measured(self) -> LabValue:
        """`lab(self.entry.analyte)` without the keyword handling (the per-Observation path)."""
        analyte = self.entry.analyte
        assert analyte is not None
        when = self.when
        return LabValue.of(
            analyte,
            self.value,
            when.day,
            when.at,
            self.comparator,
            "measured",
            self.preliminary,
            self.ref_low,
            self.ref_high,
            self.source_id,
        )

    def lab(
        self,
        analyte: Analyte,
        *,
        value: float | None = None,
        comparator: Comparator | None = None,
        provenance: Provenance = "measured",
        source_id: str | None = None,
        preliminary: bool | None = None,
        with_ref: bool = True,
    ) -> LabValue:
        return LabValue.of(
            analyte,
            self.value if value is None else value,
            self.when.day,
            self.when.at,
            self.comparator if value is None else comparator,
            provenance,
            self.preliminary if preliminary is None else preliminary,
            self.ref_low if with_ref else None,
            self.ref_high if with_ref else None,
            self.source_id if source_id is None else source_id,
        )


@dataclass(slots=True)
class Sink:
    """Collects what is left out and the warnings while mapping."""

    left_out: list[LeftOut] = field(default_factory=list)
    warnings: list[MappingWarning] = field(default_factory=list)

    def out(self, rid: str, reason: str, text: str) -> None:
        self.left_out.append(LeftOut(rid, reason, text))

    def warn(self, rid: str, code: str, text: str) -> None:
        self.warnings.append(MappingWarning(rid, code, text))


@dataclass(frozen=True, slots=True)
class Limits:
    low: float
    high: float


# (coding system, code, unit system, unit code, unit) of a plain Observation, and what they
# give it: its analyte-table entry, the conversion of its value, the plausibility limits
PlainKey = tuple[str, str, str | None, str | None, str | None]
PlainCoded = tuple[CodeEntry, Conversion, Limits | None]


class ObservationMapper:
    """Maps Observation dicts with one analyte table, unit converter and time zone."""

    def __init__(
        self,
        table: AnalyteTable,
        units: UnitConverter,
        limits: Mapping[str, Limits],
        tz: str,
    ) -> None:
        self.table = table
        self.units = units
        self.limits = limits
        self.tz = tz
        # (system, code, unit system, unit code, unit) -> (entry, conversion, limits), or None
        # when the plain path declines that coding and unit: what `_parse_plain` looks up per
        # Observation, worked out once per combination (a few dozen per patient; a mapper maps
        # one patient's call, so the table is bounded by its Observations): one dict look-up
        # instead of four and a call (issue 20: 161 -> 155 M instructions per 3,000 body,
        # with the owner read in the collector)
        self._plain_codes: dict[PlainKey, PlainCoded | None] = {}

    # -- one Observation -------------------------------------------------------------------

    def parse(self, item: ObsInput, sink: Sink) -> Parsed | None:
        """The usable reading of one Observation, or None (what is left out, and why, goes to
        `sink`). The plain shape takes `_parse_plain`; anything else the careful `_parse`."""
        plain = self._parse_plain(item)
        return plain if plain is not None else self._parse(item, sink)

    def _parse_plain(self, item: ObsInput) -> Parsed | None:
        """`_parse` for the shape nearly every Observation has, or None to send it there.

        A final/amended/corrected result whose first coding is two strings in the analyte
        table, a numeric valueQuantity whose unit converts, an offset `effectiveDateTime`,
        a plausible value: then `_parse` gives the same Parsed and writes nothing to the sink,
        and this reads each field once, with exact type checks and no helper calls (about half
        the per-Observation cost: issue 20). Anything else (a sink entry to write, an odd
        type, a second coding to look at) returns None, and `_parse` reads it from the start:
        never a different answer, only a slower one (tests/unit/mappings/test_parse_paths.py).
        """
        res = item.resource
        if type(res) is not dict:
            return None
        status = res.get("status")
        if type(status) is not str or status not in USED_STATUSES:
            return None
        concept = res.get("code")
        coding = concept.get("coding") if type(concept) is dict else None
        if type(coding) is not list or not coding or type(coding[0]) is not dict:
            return None
        first = coding[0]
        system, code = first.get("system"), first.get("code")
        if type(system) is not str or type(code) is not str:
            return None
        qty = res.get("valueQuantity")
        if type(qty) is not dict:
            return None
        value = qty.get("value")
        if (type(value) is not float and type(value) is not int) or math.isnan(value):
            return None
        usys, ucode, unit = qty.get("system"), qty.get("code"), qty.get("unit")
        if not (
            (usys is None or type(usys) is str)
            and (ucode is None or type(ucode) is str)
            and (unit is None or type(unit) is str)
        ):
            return None
        key = (system, code, usys, ucode, unit)
        if key in self._plain_codes:
            coded = self._plain_codes[key]
        else:
            coded = self._plain_codes[key] = self._plain_coded(system, code, usys, ucode, unit)
        text = res.get("effectiveDateTime")
        if coded is None or type(text) is not str:
            return None
        entry, conversion, lim = coded
        when = parse_when(text, self.tz)
        if when is None or when.naive_time:
            return None
        value = value * conversion.factor + conversion.offset
        if not (value.is_integer() and -CLEAN_EXACT < value < CLEAN_EXACT):  # `_clean` inline
            value = float(f"{value:.12g}")
        if lim is not None and not lim.low <= value <= lim.high:
            return None
        ranges = res.get("referenceRange")
        low, high = self._reference(ranges, entry.kind, conversion) if ranges else (None, None)
        comparator = qty.get("comparator")
        if res.get("specimen") is None and not item.groups:
            keys: tuple[object, ...] = () if when.at is None else (when.at,)
        else:
            keys = self._keys(res, item, when)
        return Parsed(
            entry,
            value,
            COMPARATORS.get(comparator) if isinstance(comparator, str) else None,
            when,
            False,
            low,
            high,
            item.source_id,
            keys,
        )

    def _plain_coded(
        self, system: str, code: str, usys: str | None, ucode: str | None, unit: str | None
    ) -> PlainCoded | None:
        """The analyte-table entry of a first coding, the conversion of a unit and the
        plausibility limits, as `_parse` finds them; None where `_parse_plain` declines."""
        entry = self.table.entries.get((SYSTEM_ALIASES.get(system, system), code))
        if entry is None:
            return None
        conversion = self.units.conversion_for(entry.kind, usys, ucode, unit)
        if type(conversion) is not Conversion:
            return None
        return entry, conversion, self.limits.get(entry.kind)

    def _parse(self, item: ObsInput, sink: Sink) -> Parsed | None:
        """One Observation read with every check (odd types, missing fields, sink entries)."""
        res = item.resource
        rid = item.source_id
        status = res.get("status")
        if not isinstance(status, str):
            status = None
        preliminary = status == PRELIMINARY
        if status not in USED_STATUSES and not preliminary:
            reason = "entered-in-error" if status == "entered-in-error" else "status-not-usable"
            sink.out(rid, reason, f"status {status!r} is not used")
            return None
        entry = self._entry(res, rid, sink)
        if entry is None:
            return None
        qty = res.get("valueQuantity")
        value = qty.get("value") if isinstance(qty, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            absent = "dataAbsentReason" in res
            sink.out(rid, "no-value", "dataAbsentReason" if absent else "no numeric valueQuantity")
            return None
        assert isinstance(qty, dict)
        kind = entry.kind
        conversion = self.units.conversion_for(kind, *_unit_fields(qty))
        if isinstance(conversion, UnitError):
            sink.out(rid, conversion.code, conversion.text)
            return None
        when = collection_time(res, rid, self.tz, sink)
        if when is None:
            return None
        value = _clean(conversion.apply(float(value)))
        lim = self.limits.get(kind)
        if lim is not None and not lim.low <= value <= lim.high:
            sink.out(rid, "implausible", f"{kind} {value:g} outside plausibility limits")
            return None
        if preliminary:
            sink.warn(rid, "preliminary", "preliminary result: provisional grading only")
        ranges = res.get("referenceRange")
        low, high = self._reference(ranges, kind, conversion) if ranges else (None, None)
        comparator = qty.get("comparator")
        return Parsed(
            entry,
            value,
            # a comparator is one of four strings; anything else (a number, a list) is none
            COMPARATORS.get(comparator) if isinstance(comparator, str) else None,
            when,
            preliminary,
            low,
            high,
            rid,
            self._keys(res, item, when),
        )

    def _entry(self, res: Mapping[str, Any], rid: str, sink: Sink) -> CodeEntry | None:
        excluded: str | None = None
        entries = self.table.entries
        for system, code in system_codes(res.get("code")):
            key = (SYSTEM_ALIASES.get(system, system), code)
            hit = entries.get(key)
            if hit is not None:
                return hit
            excluded = excluded or self.table.excluded.get(key)
        if excluded:
            sink.out(rid, "excluded-code", excluded)
        else:
            sink.out(rid, "unknown-code", "no coding in the analyte table")
        return None

    def _plausible(self, kind: str, value: float) -> bool:
        lim = self.limits.get(kind)
        return lim is None or lim.low <= value <= lim.high

    def _reference(
        self, ranges: Any, kind: str, conversion: Conversion
    ) -> tuple[float | None, float | None]:
        for rr in as_list(ranges):
            if not isinstance(rr, dict):
                continue
            low = self._ref_value(rr.get("low"), kind, conversion)
            high = self._ref_value(rr.get("high"), kind, conversion)
            if low is not None or high is not None:
                return low, high
        return None, None

    def _ref_value(self, q: Any, kind: str, value_conversion: Conversion) -> float | None:
        if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
            return None
        if q.get("code") or q.get("unit"):
            conv = self.units.conversion_for(kind, *_unit_fields(q))
            if isinstance(conv, UnitError):
                return None
        else:
            conv = value_conversion
        return _clean(conv.apply(float(q["value"])))

    def _keys(self, res: Mapping[str, Any], item: ObsInput, when: When) -> tuple[object, ...]:
        specimen = res.get("specimen")
        if specimen is None and not item.groups:  # the usual bare Observation: its time only
            return () if when.at is None else (when.at,)
        keys: list[object] = list(item.groups)
        spec = specimen.get("reference") if isinstance(specimen, dict) else None
        if isinstance(spec, str) and spec:
            owner = item.source_id.split("#")[0]
            keys.append(f"spec:{owner}{spec}" if spec.startswith("#") else f"spec:{spec}")
        if when.at is not None:
            keys.append(when.at)  # an aware datetime: equal instants in any offset group
        return tuple(keys)

    # -- all Observations of a patient ------------------------------------------------------

    def map_all(self, items: Sequence[ObsInput], sink: Sink) -> list[LabValue]:
        latest = collapse_versions(items, sink)
        plain, careful = self._parse_plain, self._parse  # `parse`, one call fewer per item
        parsed: list[Parsed] = []
        for item in latest:
            p = plain(item)
            if p is None:
                p = careful(item, sink)
            if p is not None:
                parsed.append(p)
        parsed = drop_content_duplicates(parsed, sink)
        labs: list[LabValue] = []
        anc_related: list[Parsed] = []
        for p in parsed:
            if p.entry.kind in ANC_GROUP_KINDS:
                anc_related.append(p)
            elif p.entry.analyte is not None:
                labs.append(p.measured())
        for group in specimen_groups(anc_related):
            labs.extend(derive_group(group, sink, self._plausible))
        return drop_lower_priority(labs, {p.source_id: p.entry.priority for p in parsed}, sink)


def _clean(x: float) -> float:
    """Drop binary noise of a unit product (0.7 * 1000 = 700.0000000000001 -> 700.0)."""
    if x.is_integer() and -CLEAN_EXACT < x < CLEAN_EXACT:
        return x  # at most 12 digits, no fraction: the text round trip gives x back
    return float(f"{x:.12g}")


# -- versions and duplicates -------------------------------------------------------------------


def _unit_fields(q: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(system, code, unit) of a Quantity; non-strings become None."""
    system, code, unit = q.get("system"), q.get("code"), q.get("unit")
    return (
        system if isinstance(system, str) else None,
        code if isinstance(code, str) else None,
        unit if isinstance(unit, str) else None,
    )


def _version_key(res: Mapping[str, Any], index: int) -> tuple[float, int, int]:
    meta = as_dict(res.get("meta"))
    updated = meta.get("lastUpdated")
    ts = float("-inf")
    if isinstance(updated, str):
        with contextlib.suppress(ValueError):
            ts = datetime.fromisoformat(updated).timestamp()
    vid = meta.get("versionId")
    version = int(vid) if isinstance(vid, str) and vid.isdigit() else -1
    return ts, version, index


def collapse_versions(items: Sequence[ObsInput], sink: Sink) -> list[ObsInput]:
    """Keep one resource per id: the latest meta.lastUpdated / versionId (s1.1 amendments)."""
    if len({item.source_id for item in items}) == len(items):
        return list(items)  # one version of each (as a rule): no index lists (issue 20)
    by_id: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_id.setdefault(item.source_id, []).append(i)
    keep: list[ObsInput] = []
    for indices in by_id.values():
        if len(indices) == 1:
            keep.append(items[indices[0]])
            continue
        best = max(indices, key=lambda i: _version_key(items[i].resource, i))
        keep.append(items[best])
        for i in indices:
            if i == best:
                continue
            same = items[i].resource == items[best].resource
            sink.out(
                items[i].source_id,
                "duplicate" if same else "superseded",
                "identical copy of the same resource"
                if same
                else "an earlier version of this resource (a later one is used)",
            )
    return keep


def _is_preliminary(p: Parsed) -> bool:
    return p.preliminary


def drop_content_duplicates(parsed: list[Parsed], sink: Sink) -> list[Parsed]:
    """Collapse results with the same code, time, value and comparator (final beats preliminary)."""
    seen: dict[tuple[object, ...], int] = {}
    out: list[Parsed] = []
    # final results first (a stable sort: nothing to move when none is preliminary)
    ordered = sorted(parsed, key=_is_preliminary) if any(map(_is_preliminary, parsed)) else parsed
    for p in ordered:
        key = (
            p.entry.system,
            p.entry.code,
            p.when.at or p.when.day,
            value if (value := p.value).is_integer() else round(value, 9),  # round: 60 ns
            p.comparator,
        )
        if key in seen:
            kept = out[seen[key]].source_id
            sink.out(p.source_id, "duplicate", f"same code, time and value as {kept}")
            continue
        seen[key] = len(out)
        out.append(p)
    return out


def drop_lower_priority(
    labs: list[LabValue], priority: Mapping[str, int], sink: Sink
) -> list[LabValue]:
    """Per analyte and local day, drop measured values of a lower-priority code (blood gas Hb)."""
    levels = set(priority.values())
    if len(levels) <= 1 and min(levels, default=1) >= 1:
        # one priority among the codes (no blood gas Hb beside a lab Hb, as a rule): no value
        # is of a lower one, the default 1 of a derived value not being lower either
        return labs
    best: dict[tuple[Analyte, object], int] = {}
    for lab in labs:
        sid = lab.source_id
        if lab.provenance == "measured" and sid is not None and sid in priority:
            key = (lab.analyte, lab.day)
            p = priority[sid]
            best[key] = min(best.get(key, p), p)
    out: list[LabValue] = []
    for lab in labs:
        p = priority.get(lab.source_id or "", 1)
        if lab.provenance == "measured" and p > best.get((lab.analyte, lab.day), p):
            sink.out(lab.source_id or "", "lower-priority-code", "a preferred code exists that day")
            continue
        out.append(lab)
    return out


# -- same specimen and derived ANC (s1.3, s11.2) ------------------------------------------------


def specimen_groups(parsed: list[Parsed]) -> list[list[Parsed]]:
    """Union of results sharing a specimen reference, a DiagnosticReport/panel or a timestamp."""
    parent = list(range(len(parsed)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[object, int] = {}
    for i, p in enumerate(parsed):
        for key in p.keys:
            j = first.setdefault(key, i)
            if j != i:
                parent[find(i)] = find(j)
    groups: dict[int, list[Parsed]] = {}
    for i, p in enumerate(parsed):
        groups.setdefault(find(i), []).append(p)
    return list(groups.values())


@dataclass(frozen=True, slots=True)
class Candidate:
    rank: int  # lower is better (s1.3: manual before automated; measured before bounds)
    lab: LabValue


# a specimen's results by kind, each list in the specimen's order (one pass over the group,
# not one per kind asked: issue 20)
ByKind = dict[str, list[Parsed]]


def _by_kind(group: list[Parsed]) -> ByKind:
    kinds: ByKind = {}
    for p in group:
        kinds.setdefault(p.entry.kind, []).append(p)
    return kinds


def _first(group: ByKind, kind: str, method: str | None = None) -> Parsed | None:
    of_kind = group.get(kind)
    if not of_kind:  # most kinds asked for are not in a specimen: no list built (issue 20)
        return None
    found = of_kind if method is None else [p for p in of_kind if p.entry.method == method]
    if not found:
        return None
    return found[0] if len(found) == 1 else min(found, key=lambda p: p.entry.priority)


def _combine(*comparators: Comparator | None) -> Comparator | bool | None:
    """Comparator of a product of values; False when directions conflict."""
    present = {c for c in comparators if c is not None}
    if not present:
        return None
    if present <= {"<", "<="}:
        return "<" if "<" in present else "<="
    if present <= {">", ">="}:
        return ">" if ">" in present else ">="
    return False


def _derived(wbc: Parsed, parts: list[Parsed], rank: int, prelim: bool) -> Candidate | None:
    comp = _combine(wbc.comparator, *(p.comparator for p in parts))
    if comp is False:
        return None
    fraction = sum(p.value for p in parts) / 100.0
    ids = ",".join([wbc.source_id, *(p.source_id for p in parts)])
    lab = wbc.lab(
        Analyte.ANC,
        value=_clean(wbc.value * fraction),
        comparator=cast("Comparator | None", comp),  # a string: no Union built per call
        provenance="derived",
        source_id=ids,
        preliminary=prelim or any(p.preliminary for p in parts),
        with_ref=False,
    )
    return Candidate(rank, lab)


def _manual_fraction(group: ByKind) -> list[Parsed] | None:
    seg = _first(group, "segmented_percent")
    band = _first(group, "band_percent", "manual") or _first(group, "band_percent", "unspecified")
    if seg is not None:
        return [seg, band] if band is not None else [seg]
    total = _first(group, "neutrophil_percent_manual")
    return [total] if total is not None else None


def _count_sum(group: ByKind) -> Candidate | None:
    seg = _first(group, "segmented_count")
    if seg is None:
        return None
    band = _first(group, "band_count")
    parts = [seg] if band is None else [seg, band]
    comp = _combine(*(p.comparator for p in parts))
    if comp is False:
        return None
    lab = seg.lab(
        Analyte.ANC,
        value=sum(p.value for p in parts),
        comparator=cast("Comparator | None", comp),  # a string: no Union built per call
        provenance="measured" if band is None else "derived",
        source_id=",".join(p.source_id for p in parts),
        preliminary=any(p.preliminary for p in parts),
        with_ref=band is None,
    )
    return Candidate(2 if band is not None else 5, lab)


def anc_candidates(group: ByKind) -> list[Candidate]:
    """Every ANC this specimen offers, ranked (s1.3)."""
    out: list[Candidate] = []
    for p in group.get("anc", ()):
        out.append(Candidate(1 if p.entry.method == "manual" else 3, p.lab(Analyte.ANC)))
    summed = _count_sum(group)
    if summed is not None:
        out.append(summed)
    wbc = _first(group, "wbc")
    if wbc is None:
        return out
    manual = _manual_fraction(group)
    if manual is not None:
        c = _derived(wbc, manual, 2, wbc.preliminary)
        out.extend([c] if c else [])
    auto = _first(group, "neutrophil_percent_automated") or _first(
        group, "neutrophil_percent_unspecified"
    )
    if auto is not None:
        c = _derived(wbc, [auto], 4, wbc.preliminary)
        out.extend([c] if c else [])
    if not out and wbc.comparator not in (">", ">=") and wbc.value <= BOUND_WBC_LIMIT:
        out.append(Candidate(6, _bound(wbc)))
    return out


def _bound(wbc: Parsed) -> LabValue:
    """s1.3: ANC <= WBC; recorded as 'derived-bound' with comparator '<='."""
    return wbc.lab(
        Analyte.ANC,
        value=wbc.value,
        comparator="<=",
        provenance="derived-bound",
        source_id=wbc.source_id,
        with_ref=False,
    )


# what may share a specimen with a measured ANC without any candidate ranking as high: an ANC
# derived from an automated (or unspecified) fraction ranks 4, a measured one 1 or 3 (s1.3)
AUTOMATED_PARTS = frozenset(
    {"wbc", "neutrophil_percent_automated", "neutrophil_percent_unspecified"}
)


def derive_group(group: list[Parsed], sink: Sink, plausible: Any) -> list[LabValue]:
    """WBC values of the specimen, plus its preferred ANC value(s)."""
    anc = _unrivalled_anc(group)
    if anc is not None:
        return _with_measured_anc(group, anc, sink, plausible)
    return _derive_group(group, sink, plausible)


def _unrivalled_anc(group: list[Parsed]) -> Parsed | None:
    """The specimen's one measured ANC when nothing beside it is other than `AUTOMATED_PARTS`
    (an automated blood count: most specimens), else None."""
    anc = None
    for p in group:
        kind = p.entry.kind
        if kind == "anc" and anc is None:
            anc = p
        elif kind not in AUTOMATED_PARTS:
            return None
    return anc


def _with_measured_anc(
    group: list[Parsed], anc: Parsed, sink: Sink, plausible: Any
) -> list[LabValue]:
    """`_derive_group` of a specimen whose one measured ANC outranks every other candidate: the
    WBC values and that ANC, without the table of kinds and the derived candidates that would
    lose to it, silently (issue 20: 7 -> 2 us per automated blood count)."""
    labs = [p.lab(Analyte.WBC) for p in group if p.entry.kind == "wbc"]
    lab = anc.lab(Analyte.ANC)
    if plausible("anc", lab.value):
        labs.append(lab)
    else:
        sink.out(lab.source_id or "", "implausible", f"derived ANC {lab.value:g}")
    return labs


def _derive_group(group: list[Parsed], sink: Sink, plausible: Any) -> list[LabValue]:
    kinds = _by_kind(group)
    labs = [p.lab(Analyte.WBC) for p in kinds.get("wbc", ())]
    cands = anc_candidates(kinds)
    if not cands:
        return labs
    best = min(c.rank for c in cands)
    for c in cands:
        if c.rank != best:
            if c.lab.provenance == "measured":
                sink.out(
                    c.lab.source_id or "",
                    "anc-not-preferred",
                    "same specimen has a manual differential (preferred, s1.3)",
                )
            continue
        if not plausible("anc", c.lab.value):
            sink.out(c.lab.source_id or "", "implausible", f"derived ANC {c.lab.value:g}")
            continue
        labs.append(c.lab)
    return labs


def collection_time(res: Mapping[str, Any], rid: str, tz: str, sink: Sink) -> When | None:
    """When an Observation's specimen was collected (effective[x]); `issued` (the report) only as
    a fallback, with a warning. A time that is not a full date is left out with its reason."""
    text = res.get("effectiveDateTime")
    if not isinstance(text, str):
        period = res.get("effectivePeriod")
        text = period.get("start") if isinstance(period, Mapping) else None
    if not isinstance(text, str):
        text = res.get("issued")
        if not isinstance(text, str):
            sink.out(rid, "no-time", "no effective time and no issued time")
            return None
        sink.warn(rid, "time-from-issued", "no collection time: date taken from `issued`")
    when = parse_when(text, tz)
    if when is None:
        sink.out(rid, "imprecise-time", f"time {text!r} is not a full date")
    elif when.naive_time:
        sink.warn(rid, "time-without-offset", "time without offset read as local time")
    return when
