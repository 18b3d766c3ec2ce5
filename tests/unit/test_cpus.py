"""The default number of gunicorn workers: one per CPU the process may use (cds_service/cpus.py,
docs/decisions/0008). The cgroup files are real files in a temporary directory laid out as
/sys/fs/cgroup is, v2 and v1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cds_service.cpus import (
    WorkersSettingError,
    cgroup_cpu_quota,
    default_workers,
    usable_cpus,
)


def _v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def _v1(root: Path, quota: str, period: str = "100000", hierarchy: str = "cpu") -> Path:
    directory = root / hierarchy
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cpu.cfs_quota_us").write_text(quota + "\n")
    (directory / "cpu.cfs_period_us").write_text(period + "\n")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "quota"),
    [
        ("max 100000", None),
        ("200000 100000", 2.0),
        ("150000 100000", 1.5),
        ("50000 100000", 0.5),
        ("100000", None),  # not two fields: unreadable, so no quota
        ("abc 100000", None),
        ("0 100000", None),
        ("100000 0", None),
    ],
)
def test_cgroup_v2_quota(tmp_path: Path, cpu_max: str, quota: float | None) -> None:
    assert cgroup_cpu_quota(_v2(tmp_path, cpu_max)) == quota


@pytest.mark.parametrize("hierarchy", ["cpu", "cpu,cpuacct"])
@pytest.mark.parametrize(
    ("quota_us", "period_us", "quota"),
    [("-1", "100000", None), ("300000", "100000", 3.0), ("25000", "50000", 0.5)],
)
def test_cgroup_v1_quota(
    tmp_path: Path, hierarchy: str, quota_us: str, period_us: str, quota: float | None
) -> None:
    assert cgroup_cpu_quota(_v1(tmp_path, quota_us, period_us, hierarchy)) == quota


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None
    assert cgroup_cpu_quota(tmp_path / "absent") is None


def test_v2_wins_over_v1_when_both_are_mounted(tmp_path: Path) -> None:
    _v1(tmp_path, "400000")
    assert cgroup_cpu_quota(_v2(tmp_path, "100000 100000")) == 1.0


@pytest.mark.parametrize(
    ("affinity", "cpu_max", "cpus"),
    [
        (8, "max 100000", 8),  # no quota: the affinity mask
        (8, "200000 100000", 2),  # a container limited to 2 CPUs on an 8-CPU host
        (8, "150000 100000", 2),  # 1.5 CPUs round up: the half CPU is still usable
        (8, "50000 100000", 1),
        (8, "10000 100000", 1),  # never fewer than one worker
        (2, "400000 100000", 2),  # a quota above the affinity mask: the mask
        (1, "max 100000", 1),
    ],
)
def test_usable_cpus_is_the_smaller_of_affinity_and_quota(
    tmp_path: Path, affinity: int, cpu_max: str, cpus: int
) -> None:
    assert usable_cpus(affinity, _v2(tmp_path, cpu_max)) == cpus


def test_default_workers_without_the_variable_is_this_process_s_cpus(tmp_path: Path) -> None:
    assert default_workers({}, tmp_path) == len(os.sched_getaffinity(0))
    assert default_workers({"ICAHT_CDS_WORKERS": " "}, tmp_path) == len(os.sched_getaffinity(0))
    assert default_workers({}, _v2(tmp_path, "100000 100000")) == 1


@pytest.mark.parametrize(("value", "workers"), [("1", 1), ("3", 3), (" 6 ", 6), ("16", 16)])
def test_the_variable_wins_over_the_cpus(tmp_path: Path, value: str, workers: int) -> None:
    cgroup = _v2(tmp_path, "100000 100000")
    assert default_workers({"ICAHT_CDS_WORKERS": value}, cgroup) == workers


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "2 workers"])
def test_a_bad_variable_is_refused_by_name(tmp_path: Path, value: str) -> None:
    with pytest.raises(WorkersSettingError, match="ICAHT_CDS_WORKERS must be a whole number"):
        default_workers({"ICAHT_CDS_WORKERS": value}, tmp_path)
