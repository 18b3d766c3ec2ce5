"""CPU cost of one patient-view call, per phase, in process (issue 20).

Run: .venv/bin/python benchmarks/profile_hook.py [--calls 300] [--profile] [--profile-large]

The Flask app as `create_app` builds it, called through its test client (no socket, no
gunicorn: this measures the service's own CPU): JWT authentication on, with a fresh signed
ES384 token per call (unique jti: the replay cache refuses a reused one), the SQLite store in a
file on disk, the audit on. Two bodies, built from the synthetic generator the way an EHR's
prefetch would hold them: (a) the patient of peers.py (day +10, its rules run) with 143 lab
Observations (134 of its own and 9 repeats; about 100 kB, like the body of issue 20's
measurements), (b) the same patient with 3,000 lab Observations.

Prints, per body, the median milliseconds of each phase (parse, JWT, schema, map, grade, rules,
cards, overrides, audit, serialise, log) and p50/p95 of the whole call; with --profile also a
cProfile top 20 (by own time) of the 143-Observation body, with --profile-large of the 3,000
one. The phases of the hook itself come from its own timings (HookResult.facts.timings_ms, also
logged: the mapping's two stages among them); the others are timed by wrapping the route's and
the pipeline's helpers (a helper that is gone is reported as absent).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import importlib
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import _load
from cryptography.hazmat.primitives.asymmetric import ec

import cds_service.routes.cds_hooks as hook_route
from cds_service.app import create_app
from cds_service.discovery import PREFETCH, lab_codes, vital_sign_codes

ISSUER = "https://ehr.profile.invalid"
KID = "profile-key-1"
FHIR = "https://ehr.profile.invalid/fhir"
PUBLIC_URL = "http://127.0.0.1:8080"
SERVICE = "icaht-patient-view"
# the helpers timed as phases: (module, attribute, phase name); a helper that is gone (the code
# moved) is reported, and the hook's own timing of that phase is shown instead where it has one
WRAPPED = (
    ("cds_service.routes.cds_hooks", "read_json", "parse"),
    ("cds_service.routes.cds_hooks", "authenticate", "jwt"),
    ("cds_service.routes.cds_hooks", "validate_hook_request", "schema"),
    ("cds_service.hooks", "gather_stage", "gather"),
    ("patient_evaluation.evaluation", "assess", "grade"),
    ("patient_evaluation.evaluation", "evaluate_rules", "rules"),
    ("cds_service.hooks", "_cards", "cards"),
    ("cds_service.hooks", "withhold", "overrides"),
    # the call's log line, metrics and audit rows (the audit write is most of it)
    ("cds_service.routes.cds_hooks", "record", "audit"),
    ("cds_service.routes.cds_hooks", "jsonify", "serialise"),
)
# the hook's own timings (HookOutcome.timings_ms, wall time) under the names this report uses
HOOK_PHASES = {
    "map_stage1": "map (stage 1)",
    "map": "map",
    "assess": "grade",
    "rules": "rules",
    "cards": "cards",
}
GC_THRESHOLD = 50_000  # --gc threshold: allocations between first-generation collections
# phases in CPU time of the calling thread: on a busy machine wall time runs high; --wall:
# wall time instead
CLOCK = time.thread_time
ORDER = [
    "parse",
    "jwt",
    "schema",
    "gather",
    "map (stage 1)",
    "map",
    "grade",
    "rules",
    "cards",
    "overrides",
    "audit",
    "serialise",
    "(garbage collector)",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300, help="calls per body (after warm-up)")
    parser.add_argument("--large-calls", type=int, default=40, help="calls of the large body")
    parser.add_argument("--profile", action="store_true", help="cProfile top 20, small body")
    parser.add_argument(
        "--profile-large", action="store_true", help="cProfile top 20, 3,000-Observation body"
    )
    parser.add_argument("--wall", action="store_true", help="phases in wall time, not CPU")
    parser.add_argument(
        "--gc",
        choices=["default", "freeze", "threshold", "both"],
        default="default",
        help="the garbage collector after start-up: as is, gc.freeze(), a first-generation"
        f" threshold of {GC_THRESHOLD:,} allocations, or both",
    )
    args = parser.parse_args()
    global CLOCK  # noqa: PLW0603 - one switch for the whole run
    CLOCK = time.perf_counter if args.wall else time.thread_time
    logging.disable(logging.CRITICAL)  # the log line is built (timed) but not written
    with tempfile.TemporaryDirectory() as tmp:
        key = ec.generate_private_key(ec.SECP384R1())
        app = build_app(Path(tmp), key)
        if args.gc in ("threshold", "both"):
            gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        if args.gc in ("freeze", "both"):
            gc.freeze()  # what a server would do once its app is built, before serving
        print(f"garbage collector: {args.gc}, thresholds {gc.get_threshold()}")
        client = app.test_client()
        small, large = bodies(143), bodies(3000)
        for label, body, calls in (
            ("143 Observations", small, args.calls),
            ("3,000 Observations", large, args.large_calls),
        ):
            print(f"\n{label}: body {len(body) / 1024:.0f} kB, {calls} calls")
            report(measure(client, key, body, calls))
        if args.profile:
            profile(client, key, small, args.calls, "143 Observations")
        if args.profile_large:
            profile(client, key, large, args.large_calls, "3,000 Observations")


def build_app(workdir: Path, key: ec.EllipticCurvePrivateKey) -> Any:
    _load.clients_file(workdir / "clients.json", key, issuer=ISSUER, kid=KID, fhir_servers=[FHIR])
    os.environ.update(
        ICAHT_CDS_PUBLIC_URL=PUBLIC_URL,
        ICAHT_CDS_CLIENTS=str(workdir / "clients.json"),
        ICAHT_CDS_DATABASE_URL=f"sqlite:///{workdir / 'store.sqlite3'}",
        ICAHT_CDS_TIMEZONE="Europe/Berlin",
        ICAHT_CDS_ASSESSMENT_AUTH="none",
        ICAHT_CDS_AUDIT_KEY="profile-audit-key-profile-audit-key-0123",
    )
    return create_app()


def bodies(observations: int) -> bytes:
    """A patient-view body with full prefetch: the benchmarks' patient (_load.benchmark_patient,
    as in peers.py: its rules run) whose labs are its newest `observations` lab Observations
    (134 of its own, the rest repeats); the 3,000 body repeats
    the patient's draws at other minutes of the same days (new ids), as a centre sampling every
    few hours would hold them."""
    patient = _load.benchmark_patient()
    resources = patient.resources()
    labs_codes, vital_codes = set(lab_codes()), set(vital_sign_codes())

    def code(resource: dict[str, Any]) -> str:
        return str(resource["code"]["coding"][0]["code"])

    observations_all = [r for r in resources if r["resourceType"] == "Observation"]
    labs = sorted(
        (o for o in observations_all if code(o) in labs_codes),
        key=lambda o: o["effectiveDateTime"],
        reverse=True,
    )
    labs = list(_repeat(labs, observations))
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    types = {
        "Procedure": "procedures",
        "MedicationAdministration": "medications",
        "Condition": "conditions",
    }
    for resource in resources:
        if resource["resourceType"] in types:
            by_key[types[resource["resourceType"]]].append(resource)
    by_key["labs"] = labs
    by_key["vitals"] = [o for o in observations_all if code(o) in vital_codes]
    prefetch: dict[str, Any] = {}
    for template in PREFETCH:
        if template.key == "patient":
            prefetch["patient"] = next(r for r in resources if r["resourceType"] == "Patient")
        else:
            prefetch[template.key] = _load.searchset(by_key.get(template.key, []), FHIR)
    return json.dumps(_load.patient_view_body(patient.patient_id, FHIR, prefetch)).encode()


def _repeat(labs: list[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    made, round_ = 0, 0
    while made < count:
        for lab in labs:
            if made == count:
                return
            copy_ = copy.deepcopy(lab)
            if round_:
                copy_["id"] = f"{lab['id']}-r{round_}"
                when = datetime.fromisoformat(lab["effectiveDateTime"])
                copy_["effectiveDateTime"] = (when + timedelta(minutes=7 * round_)).isoformat()
            made += 1
            yield copy_
        round_ += 1


def tokens(key: ec.EllipticCurvePrivateKey, count: int) -> list[str]:
    audience = f"{PUBLIC_URL}/cds-services/{SERVICE}"
    return _load.signed_tokens(key, issuer=ISSUER, kid=KID, audience=audience, count=count)


def measure(client: Any, key: ec.EllipticCurvePrivateKey, body: bytes, calls: int) -> Any:
    """Per-phase milliseconds of every call, and the whole call's."""
    signed = tokens(key, calls + 10)
    for token in signed[:10]:  # warm-up: first-call imports and caches
        _post(client, token, body)
    phases: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    cpu: list[float] = []
    with _timed_phases() as current:
        for token in signed[10:]:
            current.clear()
            started, started_cpu = time.perf_counter(), time.thread_time()
            _post(client, token, body)
            totals.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            for phase, ms in current.items():
                phases[phase].append(ms)
    return phases, totals, cpu


def _post(client: Any, token: str, body: bytes) -> None:
    response = client.post(
        f"/cds-services/{SERVICE}",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    if response.status_code != 200:
        sys.exit(f"patient-view answered {response.status_code}: {response.get_data(as_text=True)}")


@contextmanager
def _timed_phases() -> Iterator[dict[str, float]]:
    current: dict[str, float] = {}
    collecting: list[float] = []

    def garbage_collector(phase: str, info: dict[str, int]) -> None:
        # a pause of the garbage collector counts in the phase it interrupts, and here too
        if phase == "start":
            collecting.append(CLOCK())
        elif collecting:
            spent = (CLOCK() - collecting.pop()) * 1000
            current["(garbage collector)"] = current.get("(garbage collector)", 0.0) + spent

    gc.callbacks.append(garbage_collector)

    def wrap(name: str, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = CLOCK()
            try:
                return function(*args, **kwargs)
            finally:
                spent = (CLOCK() - started) * 1000
                current[phase] = current.get(phase, 0.0) + spent

        return timed

    saved: list[tuple[Any, str, Any]] = []
    wrapped: set[str] = set()
    for module_name, name, phase in WRAPPED:
        module = importlib.import_module(module_name)
        if hasattr(module, name):
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, wrap(name, phase, getattr(module, name)))
            wrapped.add(phase)
        else:
            print(f"  ({module_name} has no {name}: phase {phase!r} not timed here)")
    handle = getattr(hook_route, "run_hook", None)
    if handle is not None:
        saved.append((hook_route, "run_hook", handle))

        def hook_phases(*args: Any, **kwargs: Any) -> Any:
            result = handle(*args, **kwargs)
            for phase, ms in result.facts.timings_ms.items():
                if HOOK_PHASES.get(phase) not in (None, *wrapped):
                    current[HOOK_PHASES[phase] + " (wall)"] = ms
            return result

        hook_route.run_hook = hook_phases
    try:
        yield current
    finally:
        for module, name, function in reversed(saved):
            setattr(module, name, function)
        gc.callbacks.remove(garbage_collector)


def report(measured: Any) -> None:
    phases, totals, cpu = measured
    accounted = 0.0
    for phase in ORDER + sorted(set(phases) - set(ORDER)):
        if phase in phases:
            # a phase absent from a call (no collection in it) took 0 ms there
            median = statistics.median(phases[phase] + [0.0] * (len(totals) - len(phases[phase])))
            if not phase.startswith("("):
                accounted += median
            print(f"  {phase:20s} {median:8.2f} ms")
    print(f"  {'(sum of phases)':20s} {accounted:8.2f} ms")
    quantiles = statistics.quantiles(totals, n=20)
    print(
        f"  whole call, wall: p50 {statistics.median(totals):.2f} ms  p95 {quantiles[18]:.2f} ms;"
        f" CPU: p50 {statistics.median(cpu):.2f} ms  (test client included)"
    )


def profile(
    client: Any, key: ec.EllipticCurvePrivateKey, body: bytes, calls: int, label: str
) -> None:
    signed = tokens(key, calls)
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for token in signed:
        _post(client, token, body)
    profiler.disable()
    print(f"\ncProfile, {label}, {calls} calls, top 20 by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
