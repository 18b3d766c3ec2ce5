"""How many gunicorn workers to start when ICAHT_CDS_WORKERS is not set: one per CPU this
process may use (docs/decisions/0008-serving.md, issue 20).

A hook call is a CPU burst; a gevent worker already holds any number of idle or slow connections,
so workers beyond the CPUs add no throughput. They lengthen the tail instead: the kernel hashes
each new connection onto one worker's SO_REUSEPORT socket, and a worker that drew more than its
share serves them in turn on its share of the CPUs (benchmarks/peers.py, 2 cores, c=32: 4
workers holding 6/3/8/15 connections gave p95 319 ms; 2 workers holding 16/16, 123 ms, at the
same throughput).

"The CPUs this process may use" is the smallest of: the CPUs in its affinity mask (taskset,
cpuset), and the CPU quota of its cgroup (a container's CPU limit, rounded up), v2 or v1. The
operating system's CPU count alone would start a worker per host CPU in a container limited to
two, each with its memory.

This module is imported by the gunicorn master (gunicorn_conf): standard library only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

WORKERS_VARIABLE = "ICAHT_CDS_WORKERS"
CGROUP_ROOT = Path("/sys/fs/cgroup")


class WorkersSettingError(ValueError):
    """ICAHT_CDS_WORKERS is set but is not a whole number of at least 1."""


def default_workers(
    environ: Mapping[str, str] = os.environ, cgroup_root: Path = CGROUP_ROOT
) -> int:
    """ICAHT_CDS_WORKERS when set, else the CPUs this process may use."""
    configured = environ.get(WORKERS_VARIABLE, "").strip()
    if configured:
        return parse_workers(configured)
    return usable_cpus(_affinity_cpus(), cgroup_root)


def parse_workers(text: str, name: str = WORKERS_VARIABLE) -> int:
    """A worker count as given in `name` (the variable, or `serve --workers`): a whole number
    of at least 1; WorkersSettingError naming `name` otherwise."""
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise WorkersSettingError(f"{name} must be a whole number of at least 1, not {text!r}")
    return workers


def usable_cpus(affinity_cpus: int, cgroup_root: Path = CGROUP_ROOT) -> int:
    """The smaller of `affinity_cpus` and the cgroup's CPU quota rounded up; at least 1."""
    quota = cgroup_cpu_quota(cgroup_root)
    cpus = affinity_cpus if quota is None else min(affinity_cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota in CPUs (quota / period), or None when there is none or it cannot be read.

    cgroup v2: `cpu.max` holds "QUOTA PERIOD", QUOTA "max" when unlimited. cgroup v1:
    `cpu.cfs_quota_us` (-1 when unlimited) and `cpu.cfs_period_us`, in the `cpu` or
    `cpu,cpuacct` hierarchy. Only the files at the root of the hierarchy as mounted are read:
    inside a container, that is the container's own cgroup."""
    v2 = _read(cgroup_root / "cpu.max")
    if v2 is not None:
        fields = v2.split()
        if len(fields) == 2 and fields[0] != "max":
            return _ratio(fields[0], fields[1])
        return None
    for hierarchy in ("cpu", "cpu,cpuacct"):
        quota = _read(cgroup_root / hierarchy / "cpu.cfs_quota_us")
        period = _read(cgroup_root / hierarchy / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return _ratio(quota, period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:  # v1 writes -1 for "no quota"
        return None
    return quota_us / period_us


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1
