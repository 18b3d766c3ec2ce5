"""Therapy timeline (stub, replaced below)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings.observations import Sink
from icaht.record import TherapyTimeline


def map_timeline(
    resources: list[tuple[Mapping[str, Any], str]], cfg: Any, tz: str, sink: Sink
) -> TherapyTimeline:
    return TherapyTimeline()
