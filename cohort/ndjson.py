"""Write resources as Bulk Data NDJSON files (one `<Type>.ndjson` per resource type).

The layout a FHIR `$export` produces; used by the benchmark and the tests to make large inputs
without a server (e.g. from the synthetic cohort generator).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any


def write_ndjson(resources: Iterable[Mapping[str, Any]], directory: Path) -> Counter[str]:
    """Append each resource to `directory/<resourceType>.ndjson`; returns counts by type."""
    directory.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        files: dict[str, IO[str]] = {}
        for resource in resources:
            kind = str(resource["resourceType"])
            handle = files.get(kind)
            if handle is None:
                path = directory / f"{kind}.ndjson"
                handle = files[kind] = stack.enter_context(path.open("a", encoding="utf-8"))
            handle.write(json.dumps(resource, separators=(",", ":")) + "\n")
            counts[kind] += 1
    return counts
