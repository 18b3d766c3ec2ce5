"""GradingSettings.liang() against the Liang et al. example (tests/data/liang, copied from the
public reference repository), and the default reading on the same patients (values derived by
hand from docs/clinical/, see the comments)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from icaht import GradingSettings, NeutropeniaResult, grade_neutropenia

DATA = Path(__file__).resolve().parents[2] / "data" / "liang"
MISSING = {"", "NA", "<NA>", "None"}


def _date(text: str) -> date | None:
    return None if text in MISSING else date.fromisoformat(text)


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def _patients() -> dict[str, dict[str, object]]:
    by_id: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _rows("synthetic_anc_dataset.csv"):
        by_id[row["patient_id"]].append(row)
    patients: dict[str, dict[str, object]] = {}
    for pid, rows in by_id.items():
        events = [
            d
            for row in rows
            for d in (_date(row["progression_date"]), _date(row["subsequent_therapy_date"]))
            if d is not None
        ]
        patients[pid] = {
            "cart": _date(rows[0]["cart_date"]),
            "last_fu": _date(rows[0]["last_fu_date"]),
            "censor": min(events) if events else None,
            "anc": [(_date(r["date"]), float(r["anc"])) for r in rows],
        }
    return patients


PATIENTS = _patients()


def _grade(pid: str, settings: GradingSettings) -> NeutropeniaResult:
    p = PATIENTS[pid]
    return grade_neutropenia(
        p["anc"],  # type: ignore[arg-type]
        p["cart"],  # type: ignore[arg-type]
        evaluation_date=p["last_fu"],  # type: ignore[arg-type]
        censor_date=p["censor"],  # type: ignore[arg-type]
        settings=settings,
    )


LIANG = {pid: _grade(pid, GradingSettings.liang()) for pid in PATIENTS}
DEFAULT = {pid: _grade(pid, GradingSettings()) for pid in PATIENTS}


def test_dataset_has_ten_patients_and_321_rows() -> None:
    assert len(PATIENTS) == 10
    assert sum(len(p["anc"]) for p in PATIENTS.values()) == 321  # type: ignore[arg-type]


def test_liang_every_interpolated_daily_value() -> None:
    rows = _rows("expected_interpolated_daily_anc_day0_30.csv")
    assert len(rows) == 296
    for row in rows:
        grid = LIANG[row["patient_id"]].early.grid
        day = int(row["time_post_inf"])
        text = row["anc_interpolated_rounded"]
        if text == "NA":  # gap of 8 days (> 7): left unknown
            assert grid.values[day] is None and grid.kinds[day] == "unknown", row
        else:
            assert grid.values[day] == float(text), (row, grid.kinds[day])


def test_liang_grid_lengths_match_expected_rows() -> None:
    rows = _rows("expected_interpolated_daily_anc_day0_30.csv")
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["patient_id"]] += 1
    for pid, count in counts.items():
        assert len(LIANG[pid].early.grid.values) == count


def test_liang_every_exceedance_le500() -> None:
    expected: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    for row in _rows("expected_exceedances_anc_le500.csv"):
        cart = date.fromisoformat(row["cart_date"])
        start = (date.fromisoformat(row["date_start"]) - cart).days
        end = (date.fromisoformat(row["date_end"]) - cart).days
        expected[row["patient_id"]].append((start, end, row["early_grade_4_override"] == "Yes"))
    for pid in PATIENTS:
        result = LIANG[pid].early
        found = [(e.start_day, e.end_day) for e in result.episodes_500]
        assert found == [(s, e) for s, e, _ in expected.get(pid, [])], pid
        assert result.never_above_500 == any(o for _, _, o in expected.get(pid, [])), pid


def test_liang_patient5_threshold_table() -> None:
    grid = LIANG["5"].early
    for row in _rows("expected_patient5_threshold_table.csv"):
        day = (date.fromisoformat(row["date"]) - date(2015, 1, 24)).days
        assert grid.grid.values[day] == float(row["anc"])
        in_episode = any(e.start_day <= day <= e.end_day for e in grid.episodes_500)
        assert in_episode == (row["exceedance"] == "TRUE"), row


@pytest.mark.parametrize(
    "row", _rows("expected_grades.csv"), ids=lambda r: f"patient{r['patient_id']}"
)
def test_liang_grades(row: dict[str, str]) -> None:
    result = LIANG[row["patient_id"]]
    assert result.early.days_anc_le_500 == int(row["duration_anc_le500_max_days"])
    assert result.early.days_anc_le_100 == int(row["duration_anc_le100_max_days"])
    assert result.early.grade == int(row["early_icaht_grade"])
    if row["late_icaht_grade"] == "NA":
        assert result.late.grade is None
        assert result.late.nadir is None
    else:
        assert result.late.grade == int(row["late_icaht_grade"])
        assert result.late.nadir is not None
        assert result.late.nadir.value == float(row["late_anc_1"])
        anc_2 = None if row["late_anc_2"] == "NA" else float(row["late_anc_2"])
        assert (result.late.second_lowest.value if result.late.second_lowest else None) == anc_2


def test_liang_late_nadir_days() -> None:
    for row in _rows("expected_late_two_lowest_anc.csv"):
        nadir = LIANG[row["patient_id"]].late.nadir
        assert nadir is not None
        assert (nadir.day, nadir.value) == (int(row["day_of_nadir"]), float(row["anc_nadir"]))


def test_liang_late_window_values() -> None:
    expected: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in _rows("expected_late_window_values.csv"):
        day = int(row["time_post_inf"])
        expected[row["patient_id"]].append((day, float(row["anc"])))
    for pid in PATIENTS:
        found = [(v.day, v.value) for v in LIANG[pid].late.values]
        assert found == sorted(expected.get(pid, [])), pid


def test_liang_final_grades_as_listed_in_readme() -> None:
    early = [LIANG[str(p)].early.grade for p in range(1, 11)]
    late = [LIANG[str(p)].late.grade for p in range(1, 11)]
    assert early == [0, 0, 0, 1, 1, 2, 3, 4, 1, 2]
    assert late == [0, 0, 0, 2, 3, 2, 0, None, 0, 0]


def test_liang_patient6_day1_rounds_half_to_even() -> None:
    # C10: (670 + 0) / 2 = 335, rounded half to even to 340 by the reference code
    assert LIANG["6"].early.grid.values[1] == 340
    assert LIANG["6"].early.grid.kinds[1] == "interpolated"


def test_liang_patient7_only_day1_interpolated() -> None:
    # C10: patient 7's day 2 (940) is measured; only day 1 (690) is interpolated
    grid = LIANG["7"].early.grid
    assert grid.kinds[1] == "interpolated" and grid.values[1] == 690
    assert grid.kinds[2] == "measured" and grid.values[2] == 940


# ---- default reading on the same patients (hand-derived from docs/clinical §2, §3, §5, §16) ----

# pid: (grade, status, lower bound, d500, d100). All have a value on day 0 (no left anchor).
# p10: days 22-29 have no value (8 missing days > 7) -> unknown -> lower bound.
# p8: follow-up ends day 16 without a recorded death -> provisional, no override (C9) -> grade 3
#     from 17 days <= 500 (>= 14) and 13 days <= 100 (7-13).
EXPECTED_DEFAULT_EARLY = {
    "1": (0, "final", False, 0, 0),
    "2": (0, "final", False, 0, 0),
    "3": (0, "final", False, 0, 0),
    "4": (1, "final", False, 3, 0),
    "5": (1, "final", False, 5, 5),
    "6": (2, "final", False, 9, 5),
    "7": (3, "final", False, 18, 9),
    "8": (3, "provisional", False, 17, 13),
    "9": (1, "final", False, 1, 0),
    "10": (2, "final", True, 7, 1),
}


@pytest.mark.parametrize("pid", sorted(EXPECTED_DEFAULT_EARLY, key=int))
def test_default_early_on_liang_patients(pid: str) -> None:
    early = DEFAULT[pid].early
    assert (
        early.grade,
        early.status,
        early.lower_bound,
        early.days_anc_le_500,
        early.days_anc_le_100,
    ) == EXPECTED_DEFAULT_EARLY[pid]


def test_default_patient8_is_provisional_grade3_with_next_grade() -> None:
    early = DEFAULT["8"].early
    assert early.never_above_500 is False
    assert early.episode_ongoing is True
    # profound episode from day 4 (10/uL) reaches 14 days on day 17 if ANC stays <= 100
    assert early.next_grade is not None
    assert (early.next_grade.grade, early.next_grade.day, early.next_grade.threshold) == (
        4,
        17,
        100,
    )


def test_default_patient6_day1_not_rounded() -> None:
    assert DEFAULT["6"].early.grid.values[1] == 335


def test_default_patient4_trailing_days_interpolated_to_day35_anchor() -> None:
    # last value <= day 30 is 1170 on day 28; right anchor = 900 on day 35 (§2.3 step 5)
    grid = DEFAULT["4"].early.grid
    assert grid.right_anchor_day == 35
    assert grid.values[29] == pytest.approx(1170 + (900 - 1170) / 7)
    assert grid.values[30] == pytest.approx(1170 + 2 * (900 - 1170) / 7)


# pid: (late grade, confirmed, late status). Windows end at min(100, censoring, last follow-up).
# p4: single value 900 on day 35, nothing after it -> grade 2 unconfirmed (A11, C8).
# p5: nadir 450 (day 38), anc_2 460 <= 1500 -> grade 3 confirmed.
# p10: nadir 1880 on day 31 followed by 3160 -> transient grade 0 (C8).
# p7: window censored at subsequent therapy day 49; single value 7310 -> 0.
EXPECTED_DEFAULT_LATE = {
    "1": (0, True, "final"),
    "2": (0, True, "final"),
    "3": (0, True, "provisional"),
    "4": (2, False, "provisional"),
    "5": (3, True, "provisional"),
    "6": (2, True, "provisional"),
    "7": (0, True, "censored"),
    "8": (None, False, "provisional"),
    "9": (0, True, "final"),
    "10": (0, True, "final"),
}


@pytest.mark.parametrize("pid", sorted(EXPECTED_DEFAULT_LATE, key=int))
def test_default_late_on_liang_patients(pid: str) -> None:
    late = DEFAULT[pid].late
    assert (late.grade, late.confirmed, late.status) == EXPECTED_DEFAULT_LATE[pid]


# Phenotypes (§5.2, C7), by hand: p1 680 (d11) -> 5120 (d12) -> 840 (d18): intermittent;
# p4 460 (d3) -> 1650 (d8) -> 890 (d11); p5 20 (d0) -> 5900 (d6) -> 550 (d16);
# p6 670 (d0) -> 3210 (d10) -> 440 (d15); p7/p8 >= 14 days <= 500: aplastic;
# p2 first dip 790 (d5), first sustained recovery 1960 (d20, next 3880), no dip after: quick;
# p3 dip 750 (d5), 1160 (d6) is followed by 930 -> not sustained; 1670 (d8) + 3670: quick;
# p9 dip 510 (d4), 1930 (d6) + 4570: quick; p10 dip 470 (d3), 1390 (d10) + 3120: quick.
EXPECTED_PHENOTYPE = {
    "1": "intermittent",
    "2": "quick",
    "3": "quick",
    "4": "intermittent",
    "5": "intermittent",
    "6": "intermittent",
    "7": "aplastic",
    "8": "aplastic",
    "9": "quick",
    "10": "quick",
}


@pytest.mark.parametrize("pid", sorted(EXPECTED_PHENOTYPE, key=int))
def test_default_phenotype_on_liang_patients(pid: str) -> None:
    assert DEFAULT[pid].phenotype == EXPECTED_PHENOTYPE[pid]
