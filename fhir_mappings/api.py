"""Entry points: map_patient (FHIR resources -> PatientRecord), PatientMapping (the same, stage
by stage, each resource mapped once) and map_draft_orders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from fhir_mappings.cultures import culture_table, map_cultures
from fhir_mappings.model import MappingResult
from fhir_mappings.observations import ObservationMapper, ObsInput, Sink
from fhir_mappings.resources import (
    as_list,
    normalise_reference,
    owner_of,
    ref_key,
    reference_of,
    resource_list,
)
from fhir_mappings.settings import MappingSettings, default_mapping_settings
from fhir_mappings.timeline import TimelineReader
from icaht.record import PatientRecord, Period, TherapyTimeline


class _Collector:
    """Sorts resources as they arrive: Observations (bare, contained in or referenced by
    DiagnosticReports, panel members), blood cultures among them apart, and every other
    resource with its reference key; a resource that names another patient is left out
    (grading a mixture of two patients' data would be silently wrong). The index of a resource
    without id runs on across `add` calls, so its key is the one a single pass over all of them
    would give."""

    def __init__(self, patient_id: str, sink: Sink) -> None:
        self.patient_id = patient_id
        self.sink = sink
        self.index = 0
        # Observations as they came, blood cultures apart (`split_cultures` as they arrive:
        # one loop fewer, issue 20), each with the groups it brought itself (a report's)
        self.raw_obs: list[ObsInput] = []
        self.raw_cultures: list[ObsInput] = []
        # (key, fullUrl) as they came: the key -> fullUrls table is only needed when a panel or
        # report names members (`observations`), so it is not built per resource (issue 20)
        self.full_urls: list[tuple[str, str]] = []
        self.groups: dict[str, list[str]] = {}
        self.is_culture = culture_table().is_culture

    def add(
        self, resources: Iterable[Any] | Mapping[str, Any]
    ) -> list[tuple[Mapping[str, Any], str]]:
        """Take in `resources`; the non-Observation ones among them, with their keys."""
        others: list[tuple[Mapping[str, Any], str]] = []
        patient_id, is_culture = self.patient_id, self.is_culture
        for res, full_url in resource_list(resources):
            rtype = res.get("resourceType")
            key = ref_key(res, self.index)
            self.index += 1
            owner = owner_of(res)
            if owner is not None and owner != patient_id:
                self.sink.out(key, "other-patient", f"{rtype} of another patient")
                continue
            if full_url:
                self.full_urls.append((key, full_url))
            if rtype == "Observation":
                (self.raw_cultures if is_culture(res) else self.raw_obs).append(ObsInput(res, key))
                members = res.get("hasMember")
                for member in () if members is None else as_list(members):
                    ref = reference_of(member)
                    if ref:
                        self.groups.setdefault(ref, []).append(f"grp:{key}")
            elif rtype == "DiagnosticReport":
                self._report(res, key)
            else:
                others.append((res, key))
        return others

    def _report(self, report: Mapping[str, Any], key: str) -> None:
        for obs in _report(report, key, self.groups):
            (self.raw_cultures if self.is_culture(obs.resource) else self.raw_obs).append(obs)

    def observations(self) -> tuple[list[ObsInput], list[ObsInput]]:
        """(blood cultures, every other Observation) taken in so far, with their specimen
        groups: `split_cultures` of every Observation."""
        return self._grouped(self.raw_cultures), self._grouped(self.raw_obs)

    def _grouped(self, raw: list[ObsInput]) -> list[ObsInput]:
        if not self.groups:  # no panel or report named a member: the groups are their own
            return list(raw)  # (a report's one group each: nothing to deduplicate)
        aliases_of: dict[str, list[str]] = {}
        for key, full_url in self.full_urls:
            aliases_of.setdefault(key, []).append(full_url)
        items: list[ObsInput] = []
        for item in raw:
            key = item.source_id
            g = list(item.groups) + self.groups.get(key, [])
            for a in aliases_of.get(key, ()):
                g.extend(self.groups.get(a, ()))
            items.append(ObsInput(item.resource, key, tuple(dict.fromkeys(g)) if g else ()))
        return items


def _report(report: Mapping[str, Any], key: str, groups: dict[str, list[str]]) -> list[ObsInput]:
    """Results of a DiagnosticReport share one specimen group (s1.3): its contained results,
    in order (the others are named in `groups`)."""
    group = f"grp:{key}"
    found: list[ObsInput] = []
    contained = {
        f"#{c.get('id')}": c
        for c in as_list(report.get("contained"))
        if isinstance(c, Mapping) and c.get("resourceType") == "Observation"
    }
    for result in as_list(report.get("result")):
        ref = reference_of(result)
        if ref is None:
            continue
        if ref in contained:
            obs = _with_report_time(contained.pop(ref), report)
            found.append(ObsInput(obs, f"{key}{ref}", (group,)))
        else:
            groups.setdefault(normalise_reference(ref), []).append(group)
            groups.setdefault(ref, []).append(group)
    for ref, res in contained.items():  # contained but not listed in result
        found.append(ObsInput(_with_report_time(res, report), f"{key}{ref}", (group,)))
    return found


def _with_report_time(obs: Mapping[str, Any], report: Mapping[str, Any]) -> Mapping[str, Any]:
    """A contained result without its own time takes the report's collection time (a copy)."""
    if "effectiveDateTime" in obs or "effectivePeriod" in obs:
        return obs
    own = {k: report[k] for k in ("effectiveDateTime", "effectivePeriod") if k in report}
    return {**obs, **own} if own else obs


def _start_and_id(period: Period) -> tuple[date, str]:
    return period.start, period.source_id or ""


def warm_up(mapping_settings: MappingSettings | None = None) -> None:
    """Load tables, the UCUM registry and the factors of the usual units (call at start-up).

    The first UCUM parse builds ucumvert's registry (~0.4 s); doing it here keeps that cost out
    of the first CDS Hooks request.
    """
    cfg = mapping_settings or default_mapping_settings()
    for entry in cfg.table.entries.values():
        for unit in entry.units:
            cfg.units.conversion_for(entry.kind, None, unit, unit)


class PatientMapping:
    """One patient's resources mapped as they arrive, each resource once: `add` a hook call's
    stage, read `timeline()` to decide whether to gather more, `add` the next stage, then
    `result()`. The result equals `map_patient` over everything added, in the order added.

    Observations are mapped only by `result()` (versions, duplicates and derived counts are
    judged across all of them), the therapy resources when they are added."""

    def __init__(
        self, patient_id: str, *, tz: str = "UTC", mapping_settings: MappingSettings | None = None
    ) -> None:
        self.patient_id = patient_id
        self.tz = tz
        self.mapping_settings = mapping_settings or default_mapping_settings()
        self._collected = Sink()  # "other-patient": listed first, as by one pass
        self._collector = _Collector(patient_id, self._collected)
        self._therapy = TimelineReader(self.mapping_settings, tz)

    def add(self, resources: Iterable[Any] | Mapping[str, Any]) -> None:
        self._therapy.add(self._collector.add(resources))

    def timeline(self) -> TherapyTimeline:
        """What the therapy resources added so far say (positive blood cultures, which are
        Observations, join the timeline in `result()`)."""
        return self._therapy.timeline(Sink())

    def result(self) -> MappingResult:
        """The record of everything added (maps the Observations: call it once)."""
        cfg = self.mapping_settings
        sink = Sink(list(self._collected.left_out), list(self._collected.warnings))
        # blood cultures are infections, not lab values (issue 14, decision record 0021)
        cultures, obs = self._collector.observations()
        mapper = ObservationMapper(cfg.table, cfg.units, cfg.limits, self.tz)
        labs = mapper.map_all(obs, sink)
        timeline = self._therapy.timeline(sink)
        positive = map_cultures(cultures, self.tz, sink)
        if positive:
            found = (*(timeline.infections or ()), *positive)
            timeline = replace(timeline, infections=tuple(sorted(found, key=_start_and_id)))
        record = PatientRecord(patient_id=self.patient_id, labs=tuple(labs), timeline=timeline)
        return MappingResult(record, tuple(sink.left_out), tuple(sink.warnings))


def map_patient(
    resources: Iterable[Any] | Mapping[str, Any],
    *,
    patient_id: str,
    tz: str = "UTC",
    mapping_settings: MappingSettings | None = None,
) -> MappingResult:
    """Map one patient's FHIR resources to the engine's PatientRecord.

    resources: bare resource dicts, Bundles (searchset, transaction, collection) or lists of
    them (e.g. the pages of a search), mixed freely. The caller selects the patient's data;
    a resource whose subject/patient reference (or Patient id) names another patient is left
    out ("other-patient"). tz: the treating centre's IANA time zone.
    """
    mapping = PatientMapping(patient_id, tz=tz, mapping_settings=mapping_settings)
    mapping.add(resources)
    return mapping.result()
