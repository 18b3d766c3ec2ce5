"""`icaht-cds check-config`, `purge` and `report`, and the per-rule and per-outcome counters of
/metrics (issue 17, docs/decisions/0034), on a real SQLite file and a real PostgreSQL server.

The report runs over cards and feedback made through the service's own endpoints (Flask test
client): a patient-view call, an override, the card withheld, changed data, an acceptance.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from prometheus_client import REGISTRY
from test_override_feedback import SERVICE, Served, cards, override, serve

from cds_service import metrics
from cds_service.store import AuditRecord, FeedbackRecord, Store
from cds_service.store.governance import Cutoffs, purge
from icaht.rules import RULES_BY_ID
from icaht_cli.main import configuration_problem, main

PATIENT = "override-p1"  # test_override_feedback's patient
AUDIT_KEY = b"operations-test-audit-key-0123456789abcdef"
CLIENT = "https://ehr.example.org"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    base: str = request.getfixturevalue("postgres_url")
    name = f"ops_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """The environment the commands read: this database, development authentication."""
    for name in ("ICAHT_CDS_AUDIT_RETENTION_DAYS", "ICAHT_CDS_FEEDBACK_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL", database_url)
    monkeypatch.setenv("ICAHT_CDS_AUDIT_KEY", AUDIT_KEY.decode())
    monkeypatch.setenv("ICAHT_CDS_AUTH", "none")
    monkeypatch.setenv("ICAHT_CDS_ASSESSMENT_AUTH", "none")
    monkeypatch.setenv("ICAHT_CDS_TIMEZONE", "Europe/Berlin")
    return database_url


@pytest.fixture
def served(environment: str) -> Iterator[Served]:
    result = serve(environment)
    yield result
    result.store.close()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------- report and counters


def accept(served: Served, card: dict[str, object]) -> None:
    suggestion = card["suggestions"][0]["uuid"]  # type: ignore[index]
    entry = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": served.clock.now.isoformat(),
    }
    response = served.app.test_client().post(
        f"/cds-services/{SERVICE}/feedback", json={"feedback": [entry]}
    )
    assert response.status_code == 200, response.get_json()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_counts_cards_feedback_and_reasons_per_rule_and_month(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    m02_shown = sample("icaht_cards_by_rule_total", service=SERVICE, rule="M02")
    status_shown = sample("icaht_cards_by_rule_total", service=SERVICE, rule="status")
    overridden = sample("icaht_feedback_total", service=SERVICE, outcome="overridden")
    accepted = sample("icaht_feedback_total", service=SERVICE, outcome="accepted")

    first = cards(served)  # 2026-09-03 (day +2): M02 and the status card
    override(served, first["M02"])  # "already-addressed"
    assert "M02" not in cards(served)  # withheld, audited as such
    served.clock.advance(days=1)
    changed = cards(served, baseline_platelets=45)  # changed data: M02 is back
    accept(served, changed["M02"])
    # 22:30 UTC on 30 September is 00:30 on 1 October in the centre's time zone (Berlin)
    served.clock.now = datetime(2026, 9, 30, 22, 30, tzinfo=UTC)
    october = cards(served, baseline_platelets=45)
    assert "M02" not in october  # day +30: past M02's days
    others = {rule for rule in (*first, *changed, *october) if rule not in ("", "M02")}

    # the live counters: one per card shown by rule, one per feedback entry by outcome
    m02_after = sample("icaht_cards_by_rule_total", service=SERVICE, rule="M02")
    assert m02_after == m02_shown + 2
    status_after = sample("icaht_cards_by_rule_total", service=SERVICE, rule="status")
    assert status_after == status_shown + 4
    overridden_after = sample("icaht_feedback_total", service=SERVICE, outcome="overridden")
    assert overridden_after == overridden + 1
    assert sample("icaht_feedback_total", service=SERVICE, outcome="accepted") == accepted + 1

    code, out, err = run(capsys, "report", "--format", "csv")
    assert (code, err) == (0, "")
    rows = {(row["month"], row["rule"]): row for row in csv.DictReader(io.StringIO(out))}
    assert rows[("2026-09", "M02")] | {"title": ""} == {
        "month": "2026-09",
        "rule": "M02",
        "title": "",
        "shown": "2",
        "accepted": "1",
        "overridden": "1",
        "withheld": "1",
        "override_reasons": "already-addressed (Already addressed): 1",
    }
    assert rows[("2026-09", "M02")]["title"]  # the catalogue's title
    september_status = rows[("2026-09", "status")]
    assert (september_status["shown"], rows[("2026-10", "status")]["shown"]) == ("3", "1")
    assert {rule for _, rule in rows} == {"M02", "status", *others}

    code, table, _ = run(capsys, "report", "--since", "2026-10")
    assert code == 0
    assert "2026-09" not in table and "2026-10" in table
    code, table, _ = run(capsys, "report", "--until", "2026-09")
    assert "override reasons: already-addressed (Already addressed): 1" in table
    assert "2026-10" not in table

    # no patient identifier, hash or card id in either output
    secrets = {PATIENT, served.store.patient_hash(PATIENT)}
    secrets |= {str(row["card_uuid"]) for row in served.store.audit_rows() if row["card_uuid"]}
    assert not any(secret in out or secret in table for secret in secrets)


def test_report_of_an_empty_store(environment: str, capsys: pytest.CaptureFixture[str]) -> None:
    Store(environment, audit_key=AUDIT_KEY).migrate()
    code, out, _ = run(capsys, "report")
    assert (code, out) == (0, "no cards in the audit for this period\n")
    code, out, _ = run(capsys, "report", "--format", "csv")
    assert out.splitlines() == [
        "month,rule,title,shown,accepted,overridden,withheld,override_reasons"
    ]


# ---------------------------------------------------------------- purge


def seed_ages(store: Store, clock: list[datetime], now: datetime, ages: list[int]) -> None:
    """One shown card per age (days before `now`), each with an override a minute later."""
    for days in ages:
        clock[0] = now - timedelta(days=days)
        card = str(uuid.uuid4())
        store.record_audit(
            AuditRecord(
                client=CLIENT,
                hook_instance=str(uuid.uuid4()),
                service_id=SERVICE,
                hook="patient-view",
                rules_version="test",
                card_uuid=card,
                patient_id=PATIENT,
                rule_ids=("M02",),
                concern_key=f"concern-{days}",
            )
        )
        store.record_feedback(
            FeedbackRecord(
                client=CLIENT,
                service_id=SERVICE,
                card_uuid=card,
                outcome="overridden",
                outcome_timestamp=clock[0],
                override_reason_code="already-addressed",
            )
        )
    clock[0] = now


def test_purge_deletes_rows_past_their_retention(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    clock = [now]
    store = Store(environment, audit_key=AUDIT_KEY, clock=lambda: clock[0])
    store.migrate()
    try:
        seed_ages(store, clock, now, [10, 40, 70, 1095, 1097])
        store.claim(CLIENT, "jti-expired", now - timedelta(minutes=1))
        store.claim(CLIENT, "jti-live", now + timedelta(minutes=5))
        before = store.counts()
        assert before == {"feedback": 5, "audit": 5, "replay_cache": 2, "card_override": 5}

        # the defaults: 1096 days for both (docs/decisions/0034)
        code, out, _ = run(capsys, "purge", "--dry-run")
        assert code == 0
        assert out.startswith("would delete: audit 1, feedback 1, card_override 1, replay_cache 1")
        assert store.counts() == before  # a dry run deletes nothing

        monkeypatch.setenv("ICAHT_CDS_AUDIT_RETENTION_DAYS", "30")
        monkeypatch.setenv("ICAHT_CDS_FEEDBACK_RETENTION_DAYS", "60")
        code, out, _ = run(capsys, "purge")
        assert code == 0
        assert out.startswith("deleted: audit 4, feedback 3, card_override 3, replay_cache 1")
        assert store.counts() == {"feedback": 2, "audit": 1, "replay_cache": 1, "card_override": 2}
        ages = sorted((now - row["received_at"]).days for row in store.feedback_rows())
        assert ages == [10, 40]
        assert [row["card_uuid"] is not None for row in store.audit_rows()] == [True]
    finally:
        store.close()


def test_purge_keeps_a_row_exactly_at_the_cutoff(environment: str) -> None:
    now = datetime(2026, 12, 5, 6, 30, tzinfo=UTC)
    clock = [now]
    store = Store(environment, audit_key=AUDIT_KEY, clock=lambda: clock[0])
    store.migrate()
    try:
        seed_ages(store, clock, now, [30])
        at_cutoff = Cutoffs.of(now, 30, 30)
        assert purge(store, at_cutoff) == {
            "audit": 0,
            "feedback": 0,
            "card_override": 0,
            "replay_cache": 0,
        }
        a_second_later = Cutoffs.of(now + timedelta(seconds=1), 30, 30)
        assert purge(store, a_second_later, dry_run=True)["audit"] == 1
        assert purge(store, a_second_later) == {
            "audit": 1,
            "feedback": 1,
            "card_override": 1,
            "replay_cache": 0,
        }
    finally:
        store.close()


# ---------------------------------------------------------------- check-config


def test_check_config_prints_ok(environment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check-config") == (0, "OK\n", "")


def test_check_config_names_each_problem(
    environment: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": [{"iss": "https://ehr.example.org"}]}))
    monkeypatch.setenv("ICAHT_CDS_AUTH", "jwt")
    monkeypatch.setenv("ICAHT_CDS_CLIENTS", str(clients))
    monkeypatch.setenv("ICAHT_CDS_ASSESSMENT_AUTH", "smart")
    monkeypatch.delenv("ICAHT_CDS_SMART_ISSUERS", raising=False)
    monkeypatch.setenv("ICAHT_CDS_AUDIT_KEY", "too-short")
    code, out, err = run(capsys, "check-config")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert lines[0].startswith("icaht-cds: configuration error: ICAHT_CDS_CLIENTS: clients[0]")
    assert "ICAHT_CDS_SMART_ISSUERS is not set" in lines[1]
    assert "ICAHT_CDS_AUDIT_KEY must be at least 32 characters" in lines[2]
    # `serve` refuses to start on the same check (its first problem), before anything else
    assert configuration_problem() == lines[0].removeprefix("icaht-cds: configuration error: ")
    assert main(["serve", "--dev"]) == 2


@pytest.mark.parametrize(
    "setting",
    [
        ("ICAHT_CDS_AUDIT_RETENTION_DAYS", "0", "ICAHT_CDS_AUDIT_RETENTION_DAYS"),
        ("ICAHT_CDS_FEEDBACK_RETENTION_DAYS", "ten", "ICAHT_CDS_FEEDBACK_RETENTION_DAYS"),
        ("ICAHT_CDS_OVERRIDE_DAYS", "1097", "ICAHT_CDS_OVERRIDE_DAYS must not exceed"),
        ("ICAHT_CDS_TRACING", "jaeger", "ICAHT_CDS_TRACING"),
        ("ICAHT_CDS_OUTBOUND_PROXY", "socks5://proxy:1080", "ICAHT_CDS_OUTBOUND_PROXY"),
        ("ICAHT_CDS_NO_PROXY", "10.0.0.0/8", "ICAHT_CDS_NO_PROXY"),
    ],
)
def test_check_config_refuses_bad_operations_settings(
    environment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: tuple[str, str, str],
) -> None:
    variable, value, named = setting
    monkeypatch.setenv(variable, value)
    code, out, err = run(capsys, "check-config")
    assert (code, out) == (1, "")
    assert named in err
    assert main(["purge", "--dry-run"]) == 1  # the commands refuse the same settings, by name
    assert named in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_check_config_refuses_a_workers_count_that_is_not_a_whole_number_of_at_least_one(
    environment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    monkeypatch.setenv("ICAHT_CDS_WORKERS", value)
    code, out, err = run(capsys, "check-config")
    assert (code, out) == (1, "")
    assert err == (
        "icaht-cds: configuration error: ICAHT_CDS_WORKERS must be a whole number of at least 1,"
        f" not {value!r}\n"
    )
    assert main(["serve", "--dev"]) == 2  # refused before anything starts


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_serve_refuses_a_workers_option_that_is_not_a_whole_number_of_at_least_one(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """The option's twin of the variable's check: `--workers 0` started the default count
    instead, and a negative count reached gunicorn."""
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--workers", value])
    assert exit_info.value.code == 2
    assert (
        f"argument --workers: --workers must be a whole number of at least 1, not {value!r}"
        in capsys.readouterr().err
    )


def test_check_config_names_a_bad_workers_count_beside_settings_it_cannot_read(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICAHT_CDS_WORKERS", "0")
    monkeypatch.setenv("ICAHT_CDS_OVERRIDE_DAYS", "1097")
    code, out, err = run(capsys, "check-config")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert "ICAHT_CDS_WORKERS must be a whole number of at least 1" in lines[0]
    assert "ICAHT_CDS_OVERRIDE_DAYS must not exceed" in lines[1]


def test_rule_and_outcome_labels_come_from_closed_sets() -> None:
    other = sample("icaht_cards_by_rule_total", service="other", rule="other")
    metrics.count_cards("icaht-p-0815", ["p-0815", 'M02"}'])
    assert sample("icaht_cards_by_rule_total", service="other", rule="other") == other + 2
    bogus = sample("icaht_feedback_total", service=SERVICE, outcome="other")
    metrics.count_feedback(SERVICE, ["p-0815"])
    assert sample("icaht_feedback_total", service=SERVICE, outcome="other") == bogus + 1
    assert set(RULES_BY_ID) | {"status"} == metrics.RULE_LABELS
    assert {metrics.rule_label(rule) for rule in ("M02", "", "m02")} == {"M02", "status", "other"}
