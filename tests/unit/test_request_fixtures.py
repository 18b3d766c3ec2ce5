"""The checked-in per-rule request fixtures: what their generator writes, what the service
answers, and what their names promise.

Re-runs tests/data/requests/generate.py into a temporary directory (as a command, the way a
developer regenerates them) and compares file names and bytes, so the fixtures cannot drift
from the script, and the README states the evaluation date the script uses. Every fixture goes
through the service (Flask's test client, clock pinned) and is judged as in the integration
tier (tests/request_fixture_checks.py); every number in a file's name is checked against its
data (`anc-500` holds ANC 500/uL).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask.testing import FlaskClient
from request_fixture_checks import FILES, check_answer, fixture, pinned_clock, service_path
from request_fixture_checks import GENERATOR as SCRIPT

from cds_service.app import create_app, default_services
from cds_service.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "requests"
GENERATOR = FIXTURES / "generate.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("request_fixtures_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_generator_output_equals_the_checked_in_fixtures(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    generated = {p.name: p.read_bytes() for p in tmp_path.glob("request-*.json")}
    checked_in = {p.name: p.read_bytes() for p in FIXTURES.glob("request-*.json")}
    assert sorted(generated) == sorted(checked_in), "regenerate: see tests/data/requests/README.md"
    stale = [name for name, data in generated.items() if checked_in[name] != data]
    assert stale == [], f"fixtures differ from the generator's output: {stale}"


def test_generator_is_deterministic(tmp_path: Path) -> None:
    generator = load_generator()
    first = [p.read_bytes() for p in generator.write_all(tmp_path / "a")]
    again = [p.read_bytes() for p in generator.write_all(tmp_path / "b")]
    assert first == again
    names = [s.name for s in generator.SCENARIOS]
    assert len(names) == len(set(names))


def test_readme_states_the_generators_evaluation_date() -> None:
    generator = load_generator()
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    stated = (
        f"Evaluation date: {generator.EVALUATION_DATE.isoformat()}, time zone {generator.TIMEZONE}"
    )
    assert stated in readme


# -- every fixture through the service (Flask's test client, prefetch only) -----------------------


@pytest.fixture(scope="module")
def client(database_url: str) -> FlaskClient:
    """The app with its clock pinned to the fixtures' evaluation date, as the integration tier
    runs it (tests/integration/test_rule_fixtures.py), without a server: the fixtures are
    prefetch-complete and name no fhirServer, so no FHIR server is needed either."""
    settings = Settings(auth="none", timezone=SCRIPT.TIMEZONE, database_url=database_url)
    return create_app(
        settings, replace(default_services(settings), clock=pinned_clock)
    ).test_client()


@pytest.mark.parametrize("name", [f.name for f in FILES], ids=[f.name for f in FILES])
def test_fixture_answer_through_the_test_client(client: FlaskClient, name: str) -> None:
    """The check of tests/request_fixture_checks.py: the rule fires (in) or not (out), with
    its severity and suggestion, in a schema-valid answer."""
    body = fixture(name)
    assert "fhirServer" not in body, "a unit-tier fixture must not need a FHIR server"
    response = client.post(service_path(body), json=body)
    check_answer(name, response.status_code, response.get_json())


# -- each file's name against its data ------------------------------------------------------------
#
# A name like `M03-in-anc-500-day-7` promises ANC 500/uL and study day 7. NAME_VALUES reads such
# promises (a regular expression per phrase) and what the data hold (a reader per phrase); a
# phrase, once read, is cut out of the name before the next pattern looks. Every number left in a
# name must be one of DERIVED (a value the engine computes, e.g. the ICAHT grade: the answer
# check above judges it).

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CAR_T_INFUSION = {"XW033H7", "38228"}  # ICD-10-PCS axi-cel infusion, CPT CAR-T administration
# analyte of a name -> (LOINC, the name's unit, UCUM code -> factor into the name's unit)
ANALYTES: dict[str, tuple[str, str, dict[str, float]]] = {
    "anc": ("751-8", "/uL", {"/uL": 1.0, "10*3/uL": 1000.0, "10*9/L": 1000.0}),
    "platelets": ("777-3", "10*9/L", {"10*9/L": 1.0, "10*3/uL": 1.0}),
    "hb": ("718-7", "g/dL", {"g/dL": 1.0, "g/L": 0.1}),
    "igg": ("2465-3", "mg/dL", {"mg/dL": 1.0, "g/L": 100.0}),
    "fibrinogen": ("3255-7", "mg/dL", {"mg/dL": 1.0, "g/L": 100.0}),
    "ferritin": ("2276-4", "ng/mL", {"ng/mL": 1.0, "ug/L": 1.0}),
    "fever": ("8310-5", "Cel", {"Cel": 1.0}),
    "temperature": ("8310-5", "Cel", {"Cel": 1.0}),
}
# drug of a name -> RxNorm code, or the text its product name is written in (by name only)
DRUGS = {
    "pegfilgrastim": (RXNORM, "338036"),
    "filgrastim-sndz": (RXNORM, "1605064"),
    "pegfilgrastim-jmdb": (None, "pegfilgrastim-jmdb"),
    "filgrastim": (RXNORM, "68442"),
    "gcsf": (RXNORM, "68442"),  # the G-CSF days of M07/M26: filgrastim
    "dexamethasone": (RXNORM, "3264"),
    "aciclovir": (RXNORM, "281"),
    "fludarabine": (RXNORM, "24698"),
}
DERIVED = re.compile(r"grade-\d")  # the ICAHT grade (or M20's CRS grade, read above first)

Body = dict[str, Any]
Reader = Callable[[re.Match[str], Body], tuple[Any, Any]]


def entries(body: Body, key: str) -> list[Body]:
    return [entry["resource"] for entry in body["prefetch"][key].get("entry", [])]


def local_day(moment: str) -> date:
    """The fixtures write local times with their offset: the date is the local date."""
    return datetime.fromisoformat(moment).date()


def codes(concept: Any) -> set[str]:
    return {c.get("code", "") for c in (concept or {}).get("coding", [])}


def evaluation_day() -> date:
    evaluation: date = SCRIPT.EVALUATION_DATE
    return evaluation


def day0(body: Body) -> date | None:
    """The CAR-T infusion; without one, the planned infusion or, last, the lymphodepletion's
    first dose taken as day -5 (the Flu/Cy schedule days -5..-3 the generator writes)."""
    for procedure in entries(body, "procedures"):
        if codes(procedure["code"]) & CAR_T_INFUSION:
            return local_day(procedure["performedDateTime"])
    for planned in entries(body, "serviceRequests"):
        if codes(planned["code"]) & CAR_T_INFUSION:
            return local_day(planned["occurrenceDateTime"])
    flu = dose_days(body, "fludarabine")
    return min(flu) - timedelta(days=SCRIPT.LYMPHODEPLETION_DAYS[0]) if flu else None


def study_day(body: Body) -> int | None:
    start = day0(body)
    return None if start is None else (evaluation_day() - start).days


def is_drug(concept: Any, drug: str) -> bool:
    system, code = DRUGS[drug]
    if system is None:
        return code in str((concept or {}).get("text", "")).lower()
    return any(c.get("system") == system and c.get("code") == code for c in concept["coding"])


def dose_days(body: Body, drug: str) -> list[date]:
    """Days the drug was given (MedicationAdministration), oldest first."""
    given = entries(body, "medications")
    found = [
        local_day(r["effectiveDateTime"])
        for r in given
        if is_drug(r.get("medicationCodeableConcept"), drug)
    ]
    return sorted(found)


def series(body: Body, analyte: str) -> list[tuple[date, float]]:
    """The analyte's values in the name's unit, oldest first (labs and vital signs)."""
    loinc, _, factors = ANALYTES[analyte]
    found = []
    for resource in entries(body, "labs") + entries(body, "vitals"):
        if any(
            c.get("system") == LOINC and c.get("code") == loinc for c in resource["code"]["coding"]
        ):
            quantity = resource["valueQuantity"]
            value = quantity["value"] * factors[quantity["code"]]
            found.append((local_day(resource["effectiveDateTime"]), value))
    return sorted(found)


def newest(body: Body, analyte: str) -> float | None:
    values = series(body, analyte)
    return values[-1][1] if values else None


def days_ago(body: Body, what: str) -> list[int]:
    """How many days before the evaluation date each `what` happened."""
    if what == "positive-culture":
        days = [
            local_day(r["effectiveDateTime"])
            for r in entries(body, "labs")
            if "600-7" in codes(r["code"])
            and any(codes(i) == {"POS"} for i in r.get("interpretation", []))
        ]
    elif what == "lymphodepletion":
        days = dose_days(body, "fludarabine")[:1]  # counted from its first dose
    else:
        days = dose_days(body, what.removesuffix("-given"))
    return [(evaluation_day() - day).days for day in days]


def crs_conditions(body: Body) -> list[tuple[int, Body]]:
    """(grade, Condition) of the CRS Conditions: ICD-10-CM D89.831..D89.835 name the grade."""
    found = []
    for condition in entries(body, "conditions"):
        found += [
            (int(code[-1]), condition)
            for code in codes(condition["code"])
            if re.fullmatch(r"D89\.83[1-5]", code)
        ]
    return found


def transfusion_days(body: Body, product: str) -> list[date]:
    return sorted(
        local_day(p["performedDateTime"])
        for p in entries(body, "procedures")
        if product in p["code"].get("text", "").lower()
    )


def draft_rxnorm_codes(body: Body) -> list[str]:
    orders = [e["resource"] for e in body["context"].get("draftOrders", {}).get("entry", [])]
    concepts = [order.get("medicationCodeableConcept") or {} for order in orders]
    return [c["code"] for x in concepts for c in x.get("coding", []) if c.get("system") == RXNORM]


# -- readers: (the name's match, the fixture) -> (what the name promises, what the data hold);
# a list of held values holds the promise when one of them is it (e.g. one of several doses)


def read_dose_day(m: re.Match[str], body: Body) -> tuple[int, list[int]]:
    start = day0(body)
    assert start is not None, "a dose day needs a day 0"
    promised = -int(m["n"]) if m["minus"] else int(m["n"])
    return promised, [(day - start).days for day in dose_days(body, m["drug"])]


def read_days_ago(m: re.Match[str], body: Body) -> tuple[int, list[int]]:
    return int(m["n"]), days_ago(body, m["what"])


def read_planned_in(m: re.Match[str], body: Body) -> tuple[int, int | None]:
    return -int(m["n"] or 0), study_day(body)  # "today": in 0 days


def read_open_crs(m: re.Match[str], body: Body) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    held = [
        (grade, (evaluation_day() - local_day(c["onsetDateTime"])).days)
        for grade, c in crs_conditions(body)
        if "abatementDateTime" not in c
    ]
    return (int(m["g"]), int(m["n"])), held


def read_crs_grade(m: re.Match[str], body: Body) -> tuple[int, list[int]]:
    return int(m["g"]), [grade for grade, _ in crs_conditions(body)]


def read_earlier_crs_grade(m: re.Match[str], body: Body) -> tuple[int, list[int]]:
    start = day0(body)
    assert start is not None
    ended = [(g, c.get("abatementDateTime", c["onsetDateTime"])) for g, c in crs_conditions(body)]
    return int(m["g"]), [grade for grade, end in ended if local_day(end) < start]


def read_units(m: re.Match[str], body: Body) -> tuple[int, int]:
    product = "platelet" if m["product"] == "platelet" else "red blood cells"
    return int(m["n"]), len(transfusion_days(body, product))


def read_units_apart(m: re.Match[str], body: Body) -> tuple[int, int | None]:
    days = transfusion_days(body, "platelet")
    return int(m["n"]), (days[-1] - days[0]).days if len(days) > 1 else None


def read_dose_count(m: re.Match[str], body: Body) -> tuple[int, int]:
    return int(m["n"]), len(set(dose_days(body, m["drug"])))


def read_fold(m: re.Match[str], body: Body) -> tuple[float, float | None]:
    values = series(body, m["analyte"])
    held = round(values[-1][1] / values[-2][1], 1) if len(values) > 1 else None
    return float(f"{m['a']}.{m['b']}"), held


def read_run(m: re.Match[str], body: Body) -> tuple[tuple[float, int], tuple[float | None, int]]:
    """The newest value, and the days from the first to the last of the newest values that all
    equal it (both counted)."""
    value = float(m["v"])
    run = []
    for day, found in reversed(series(body, m["analyte"])):
        if found != value:
            break
        run.append(day)
    days = (run[0] - run[-1]).days + 1 if run else 0
    return (value, int(m["n"])), (newest(body, m["analyte"]), days)


def read_newest(m: re.Match[str], body: Body) -> tuple[float, float | None]:
    return float(m["v"]), newest(body, m["analyte"])


def read_rxnorm(m: re.Match[str], body: Body) -> tuple[str, list[str]]:
    return m["code"], draft_rxnorm_codes(body)


def read_study_day(m: re.Match[str], body: Body) -> tuple[int, int | None]:
    return (-1 if m["minus"] else 1) * int(m["n"]), study_day(body)


ANALYTE = "(?P<analyte>" + "|".join(ANALYTES) + ")"
# phrase -> its reader, read in this order (a phrase once read is cut out of the name)
NAME_VALUES: tuple[tuple[str, Reader], ...] = (
    (
        r"(?P<drug>pegfilgrastim-jmdb|pegfilgrastim|filgrastim-sndz)(?:-by-code)?"
        r"-day-(?P<minus>minus-)?(?P<n>\d+)",
        read_dose_day,
    ),
    (
        r"(?P<what>pegfilgrastim|positive-culture|aciclovir-given|lymphodepletion)"
        r"-(?P<n>\d+)-days-ago",
        read_days_ago,
    ),
    (r"planned-infusion-(?:in-(?P<n>\d+)-days|today)", read_planned_in),
    (r"open-crs-grade-(?P<g>\d)-(?P<n>\d+)-days-old", read_open_crs),
    (r"crs-grade-(?P<g>\d)", read_crs_grade),
    (r"grade-(?P<g>\d)-before-this-course", read_earlier_crs_grade),
    (r"(?P<n>\d+)-(?P<product>platelet|rbc)-units", read_units),
    (r"units-(?P<n>\d+)-days-apart", read_units_apart),
    (r"(?P<drug>gcsf|dexamethasone)-(?P<n>\d+)-days", read_dose_count),
    (rf"{ANALYTE}-(?P<a>\d)-(?P<b>\d)-fold", read_fold),
    (rf"{ANALYTE}-(?P<v>\d+)-for-(?P<n>\d+)-days", read_run),
    (rf"{ANALYTE}-(?P<v>\d+(?:\.\d)?)", read_newest),
    (r"rxnorm-(?P<code>\d+)", read_rxnorm),
    (r"day-(?P<minus>m)?(?P<n>\d+)", read_study_day),
)
# numbers a name may carry unread: the ICAHT grade, which the engine computes from the series
# (the answer check above judges it through the rule's card)
DERIVED = re.compile(r"-(?:late-|refractory-)?grade-\d(?=-)")


def name_checks(name: str, body: Body | None = None) -> tuple[list[tuple[str, Any, Any]], str]:
    """(phrase, promised, held) for every phrase read from the name, and what is left of it
    (the file's own data unless `body` is given)."""
    body = fixture(name) if body is None else body
    rest = "-" + name.removeprefix("request-").removesuffix(".json").split("-", 2)[2] + "-"
    checks = []
    for pattern, read in NAME_VALUES:
        phrase = re.compile(rf"-{pattern}(?=-)")
        while match := phrase.search(rest):
            promised, held = read(match, body)
            checks.append((match[0].strip("-"), promised, held))
            rest = rest[: match.start()] + rest[match.end() :]
    return checks, DERIVED.sub("", rest)


def holds(promised: Any, held: Any) -> bool:
    return promised in held if isinstance(held, list) else bool(promised == held)


@pytest.mark.parametrize("name", [f.name for f in FILES], ids=[f.name for f in FILES])
def test_the_name_promises_only_what_the_data_hold(name: str) -> None:
    """`anc-500` is ANC 500/uL as the newest count, `day-7` study day 7, `gcsf-7-days` seven
    days of G-CSF given, ...: every number in the name is read (NAME_VALUES) or derived."""
    checks, rest = name_checks(name)
    wrong = [
        (phrase, promised, held) for phrase, promised, held in checks if not holds(promised, held)
    ]
    assert wrong == [], f"(phrase, promised, held): {wrong}"
    assert not re.search(r"\d", rest), f"a number NAME_VALUES cannot read (add its phrase): {rest}"


def test_most_fixture_names_carry_a_checked_value() -> None:
    unchecked = [f.name for f in FILES if not name_checks(f.name)[0]]
    assert len(unchecked) <= len(FILES) // 10, unchecked


def test_a_name_that_promises_another_value_fails() -> None:
    """The readers are not a mirror of the name: the data of `anc-500-day-7` under the name
    `anc-501-day-8` fail both phrases, and under `anc-500-day-7` pass them."""
    data = fixture("request-M03-in-anc-500-day-7.json")
    checks, _ = name_checks("request-M03-in-anc-501-day-8.json", data)
    assert [(phrase, holds(promised, held)) for phrase, promised, held in checks] == [
        ("anc-501", False),
        ("day-8", False),
    ]
    checks, _ = name_checks("request-M03-in-anc-500-day-7.json", data)
    assert [(phrase, holds(promised, held)) for phrase, promised, held in checks] == [
        ("anc-500", True),
        ("day-7", True),
    ]
