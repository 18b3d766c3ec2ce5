"""Issue 16: anc_trajectories.png left out phenotypes with fewer than 3 patients without saying
so, and its 500/100 lines had no labels. The plot's data (`trajectories`), its added texts
(matplotlib artists, not pixels), summary.md and the run's printed output are tested."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from cohort_helpers import LIANG_CSV, by_patient, run_cli

from cohort.model import PatientGrading
from cohort.plots import trajectory_figure
from cohort.summary import SummaryContext, render_summary
from cohort.trajectories import trajectories

DAY0 = date(2026, 1, 10)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")  # the figures built here are inspected, never saved


APLASTIC_NOTE = "not drawn: aplastic (n=2, fewer than 3 patients)"


def _outcome(pid: str, phenotype: str, anc: dict[int, float]) -> PatientGrading:
    return PatientGrading(
        pid, DAY0, None, None, phenotype=phenotype, anc_by_day=tuple(sorted(anc.items()))
    )


def _cohort() -> list[PatientGrading]:
    """4 quick patients on days 0 and 5; 2 aplastic; 3 intermittent never on the same day."""
    quick = [
        _outcome(f"q{i}", "quick", {0: 2000.0, 5: value})
        for i, value in enumerate((100.0, 200.0, 300.0, 400.0))
    ]
    aplastic = [_outcome(f"a{i}", "aplastic", {0: 50.0, 5: 0.0}) for i in range(2)]
    intermittent = [_outcome(f"i{i}", "intermittent", {i: 800.0}) for i in range(3)]
    return [*quick, *aplastic, *intermittent]


def test_drawn_phenotypes_carry_median_and_iqr_per_day() -> None:
    data = trajectories(_cohort())
    [quick] = data.drawn
    assert (quick.phenotype, quick.patients, quick.days) == ("quick", 4, (0, 5))
    # day 5: 100, 200, 300, 400 -> q25 175, median 250, q75 325 (linear percentiles)
    assert quick.quartiles[1] == pytest.approx((175.0, 250.0, 325.0))
    assert quick.quartiles[0] == pytest.approx((2000.0, 2000.0, 2000.0))


def test_left_out_phenotypes_are_named_with_the_reason() -> None:
    assert trajectories(_cohort()).not_drawn == (
        "not drawn: intermittent (n=3, fewer than 3 values on every day)",
        APLASTIC_NOTE,
    )


def test_a_phenotype_with_three_patients_on_a_day_is_drawn_not_named() -> None:
    cohort = [_outcome(f"a{i}", "aplastic", {3: 50.0}) for i in range(3)]
    data = trajectories(cohort)
    assert [t.phenotype for t in data.drawn] == ["aplastic"] and data.not_drawn == ()


def test_plot_says_what_it_leaves_out_and_labels_the_threshold_lines() -> None:
    fig = trajectory_figure(_cohort())
    ax = fig.axes[0]
    texts = {t.get_text(): t for t in ax.texts}
    assert texts["500/µL"].get_position()[1] == 500
    assert texts["100/µL"].get_position()[1] == 100
    note = [t for t in texts if t.startswith("not drawn:")]
    assert note == [
        "not drawn: intermittent (n=3, fewer than 3 values on every day)\n" + APLASTIC_NOTE
    ]
    assert [line.get_label() for line in ax.get_lines() if line.get_label()[0] != "_"] == [
        "quick (n = 4)"
    ]


def test_plot_without_left_out_phenotypes_has_no_note() -> None:
    cohort = [_outcome(f"q{i}", "quick", {0: 2000.0}) for i in range(3)]
    texts = [t.get_text() for t in trajectory_figure(cohort).axes[0].texts]
    assert sorted(texts) == ["100/µL", "500/µL"]


def test_summary_names_the_left_out_phenotypes_under_the_plot() -> None:
    context = SummaryContext("in.csv", "liang", "x", "proposed reading", "UTC", "local", 9, ())
    lines = render_summary(_cohort(), context).splitlines()
    at = next(i for i, line in enumerate(lines) if "(anc_trajectories.png)" in line)
    assert lines[at + 1 : at + 3] == [
        "  - not drawn: intermittent (n=3, fewer than 3 values on every day)",
        f"  - {APLASTIC_NOTE}",
    ]


def test_liang_run_prints_and_writes_that_the_aplastic_curve_is_not_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Liang example has 2 aplastic patients (7 and 8): the run says their curve is left out."""
    assert run_cli(LIANG_CSV, "--out", tmp_path, "--liang", "--workers", "1") == 0
    phenotypes = [row["phenotype"] for row in by_patient(tmp_path / "patients.csv").values()]
    assert phenotypes.count("aplastic") == 2
    assert f"anc_trajectories.png: {APLASTIC_NOTE}" in capsys.readouterr().out.splitlines()
    assert f"  - {APLASTIC_NOTE}" in (tmp_path / "summary.md").read_text().splitlines()
