"""Mutation run over the clinically important thresholds and paths (issue 21).

Each mutant in `mutants.yaml` changes one piece of text in one file (a threshold, a day
boundary, a status filter, a severity). The runner applies it to a temporary copy of the
repository (the working tree is never touched, even on Ctrl-C), runs the mutant's test
selection there and reports whether a test failed ("killed") or all passed ("SURVIVED").

    python scripts/mutation/run.py                  # every mutant
    python scripts/mutation/run.py M14-critical ... # only these ids
    python scripts/mutation/run.py --list           # ids and what each breaks

Before the mutants, the union of all selections runs once on the unmutated copy: a mutant can
only be "killed" by a selection that passes without it. Exit status 1 when a mutant survives
(or the baseline fails, or a mutant's original text is not found exactly once).
Not part of CI: the next change to a threshold reruns it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MUTANTS_FILE = Path(__file__).with_name("mutants.yaml")
# what the copy leaves out: VCS data, virtual environments, server state, caches
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", ".state", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
)
TIMEOUT_SECONDS = 300  # a mutant that hangs its selection counts as killed (by the timeout)
_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Mutant:
    """One mutant: `original` (found exactly once in `file`) replaced by `replacement`."""

    id: str
    file: str
    original: str
    replacement: str
    breaks: str
    source: str
    tests: tuple[str, ...]


def load_mutants(path: Path = MUTANTS_FILE) -> list[Mutant]:
    """The mutant list; raises ValueError on a malformed entry or a duplicate id."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutants: list[Mutant] = []
    for entry in raw["mutants"]:
        tests = entry["tests"]
        if isinstance(tests, str):
            tests = [tests]
        mutant = Mutant(
            id=str(entry["id"]),
            file=str(entry["file"]),
            original=str(entry["original"]),
            replacement=str(entry["replacement"]),
            breaks=str(entry["breaks"]),
            source=str(entry["source"]),
            tests=tuple(str(t) for t in tests),
        )
        if mutant.original == mutant.replacement or not mutant.tests:
            raise ValueError(f"{mutant.id}: no change or no test selection")
        mutants.append(mutant)
    ids = [m.id for m in mutants]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate mutant ids: {duplicates}")
    return mutants


def occurrences(mutant: Mutant, root: Path = ROOT) -> int:
    """How often the mutant's original text occurs in its file (must be exactly 1)."""
    return (root / mutant.file).read_text(encoding="utf-8").count(mutant.original)


def _pytest(copy: Path, selection: list[str]) -> tuple[bool, str, float]:
    """Run a selection in the copy: (passed, first failing test or reason, seconds)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *selection]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"timeout after {TIMEOUT_SECONDS} s", time.monotonic() - started
    seconds = time.monotonic() - started
    if done.returncode == 0:
        return True, "", seconds
    failed = _FAILED.search(done.stdout)
    if failed:
        return False, failed.group(1), seconds
    tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
    return False, f"pytest exit {done.returncode}: {tail[0][:80]}", seconds


def run(mutants: list[Mutant]) -> int:
    """Baseline, then every mutant in a throw-away copy; prints the table, returns the status."""
    started = time.monotonic()
    status = 0
    with tempfile.TemporaryDirectory(prefix="icaht-mutation-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=IGNORED)
        selections = sorted({t for m in mutants for t in m.tests})
        ok, why, seconds = _pytest(copy, selections)
        print(
            f"baseline ({len(selections)} selections): {'pass' if ok else 'FAIL ' + why}"
            f" in {seconds:.1f} s",
            flush=True,
        )
        if not ok:
            return 1
        print(f"{'mutant':<36} {'result':<9} {'seconds':>7}  killed by", flush=True)
        for mutant in mutants:
            target = copy / mutant.file
            text = target.read_text(encoding="utf-8")
            if text.count(mutant.original) != 1:
                print(
                    f"{mutant.id:<36} {'BAD':<9} {0:>7.1f}  original text found "
                    f"{text.count(mutant.original)} times in {mutant.file}",
                    flush=True,
                )
                status = 1
                continue
            target.write_text(text.replace(mutant.original, mutant.replacement), encoding="utf-8")
            try:
                passed, killer, seconds = _pytest(copy, list(mutant.tests))
            finally:
                target.write_text(text, encoding="utf-8")  # the copy is clean for the next one
            result = "SURVIVED" if passed else "killed"
            status = 1 if passed else status
            print(f"{mutant.id:<36} {result:<9} {seconds:>7.1f}  {killer}", flush=True)
    print(f"total {time.monotonic() - started:.0f} s for {len(mutants)} mutants", flush=True)
    return status


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="only these mutant ids")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    mutants = load_mutants()
    if args.ids:
        unknown = set(args.ids) - {m.id for m in mutants}
        if unknown:
            parser.error(f"unknown mutant ids: {sorted(unknown)}")
        mutants = [m for m in mutants if m.id in args.ids]
    if args.list:
        for m in mutants:
            print(f"{m.id:<36} {m.file}: {m.breaks} [{m.source}]")
        return 0
    # Ctrl-C or a TERM (also when started in the background, where SIGINT may be ignored)
    # unwinds through the temporary directory, which removes the copy; the working tree was
    # never written to
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(mutants)
    except KeyboardInterrupt:
        print("interrupted: the temporary copy is removed, the working tree is untouched")
        return 130


if __name__ == "__main__":
    sys.exit(main())
