"""A rolling upgrade, played on both real engines (a SQLite file and PostgreSQL): decision 0033.

Release N+1 is simulated by a real additional Alembic revision (0004: a nullable column and a new
table, the additive kind the migration policy allows) in a copy of this release's migrations
directory, applied to the test database the way N+1's `icaht-cds migrate` Job would. Release N
(this code) must then stay ready and keep answering hooks and storing feedback against it: the
old pods of a rolling upgrade, or a rollback to N. A database behind this release is not ready
(the check "schema") until `icaht-cds migrate` runs; the service does not migrate a PostgreSQL
store on its own.

PostgreSQL comes from tests/integration/conftest.py (it fails, never skips, when it cannot start).
"""

from __future__ import annotations

import ast
import shutil
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store.engine import create_store_engine
from cds_service.store.schema import MIGRATIONS, alembic_config, migrate, schema_status
from icaht_cli.main import main as icaht_cds

AUDIT_KEY = "rolling-upgrade-test-audit-key-0123456789"
SERVICE = "icaht-patient-view"
PATIENT = "rolling-p1"

# release N+1's migration: additive (a nullable column, a new table), as the policy requires
NEXT_RELEASE_MIGRATION = '''"""Simulated release N+1 (additive: a nullable column, a new table)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit") as audit:
        audit.add_column(sa.Column("reviewed_by", sa.String(256), nullable=True))
    op.create_table(
        "card_review",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, server_default="open"),
    )


def downgrade() -> None:
    op.drop_table("card_review")
    with op.batch_alter_table("audit") as audit:
        audit.drop_column("reviewed_by")
'''


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An empty database on the engine under test; the audit key in the environment (a
    PostgreSQL store requires it)."""
    monkeypatch.setenv("ICAHT_CDS_AUDIT_KEY", AUDIT_KEY)
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'icaht-cds.sqlite3'}"
    base: str = request.getfixturevalue("postgres_url")
    name = f"rolling_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def next_release(tmp_path: Path) -> Path:
    """Release N+1's migrations directory: this release's, plus revision 0004."""
    directory = tmp_path / "next-release-migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "versions" / "0004_simulated_next_release.py").write_text(NEXT_RELEASE_MIGRATION)
    return directory


def migrate_with(url: str, migrations: Path) -> str | None:
    """Run the migrations of `migrations` on `url` (a release's `icaht-cds migrate`)."""
    engine = create_store_engine(url)
    try:
        _, after = migrate(engine, migrations)
    finally:
        engine.dispose()
    return after.database


def upgrade_to(url: str, revision: str) -> None:
    """An old release's schema: this release's migrations up to `revision` only."""
    engine = create_store_engine(url)
    config = alembic_config()
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def revision_of(url: str) -> str | None:
    engine = create_store_engine(url)
    try:
        return schema_status(engine).database
    finally:
        engine.dispose()


def release_n(url: str, *, migrate_on_start: bool | None = None) -> Flask:
    """This code, started the way `icaht-cds serve` starts it (the default services)."""
    return create_app(Settings(auth="none", database_url=url, migrate_on_start=migrate_on_start))


def hook_body() -> dict[str, Any]:
    """A patient-view call with everything prefetched (no FHIR server needed)."""
    infusion = {
        "resourceType": "Procedure",
        "id": "cart",
        "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "38228"}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "performedDateTime": "2026-09-01T09:00:00+02:00",
    }
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "procedures": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": infusion}],
        },
        "medications": empty,
        "conditions": empty,
        "labs": empty,
    }
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": PATIENT},
        "prefetch": prefetch,
    }


def assert_serves_hooks_and_feedback(app: Flask) -> None:
    client = app.test_client()
    answer = client.post(f"/cds-services/{SERVICE}", json=hook_body())
    assert answer.status_code == 200, answer.get_json()
    card = answer.get_json()["cards"][0]
    entry = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-12-05T07:00:00Z",
    }
    stored = client.post(f"/cds-services/{SERVICE}/feedback", json={"feedback": [entry]})
    assert stored.status_code == 200, stored.get_json()
    store = app.extensions["icaht"].store
    assert [row["card_uuid"] for row in store.feedback_rows()] == [card["uuid"]]
    assert card["uuid"] in {row["card_uuid"] for row in store.audit_rows()}


# ---------------------------------------------------------------- at or beyond: ready


def test_release_n_stays_ready_and_working_on_a_database_migrated_by_n_plus_1(
    database_url: str, next_release: Path
) -> None:
    assert migrate_with(database_url, MIGRATIONS) == "0003"  # release N's Job
    before_upgrade = release_n(database_url)
    assert before_upgrade.test_client().get("/readyz").status_code == 200

    assert migrate_with(database_url, next_release) == "0004"  # release N+1's Job, mid-rollout
    # the old pods (and pods of a rollback to N, started fresh by the default path)
    for app in (before_upgrade, release_n(database_url)):
        response = app.test_client().get("/readyz")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["checks"] == {"config": True, "database": True, "schema": True}
        assert "newer release" in body["schema"]
    assert_serves_hooks_and_feedback(release_n(database_url))
    assert revision_of(database_url) == "0004"  # release N never touches it


def test_release_n_migrating_on_start_leaves_a_newer_schema_alone(
    database_url: str, next_release: Path
) -> None:
    """Even configured to migrate on start (the demo's default for SQLite), release N starts
    on N+1's database without trying to downgrade or failing on the revision it cannot find."""
    migrate_with(database_url, next_release)
    app = release_n(database_url, migrate_on_start=True)
    assert app.test_client().get("/readyz").status_code == 200
    assert revision_of(database_url) == "0004"


def test_the_migrate_command_of_a_rollback_does_nothing_on_a_newer_schema(
    database_url: str, next_release: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    migrate_with(database_url, next_release)
    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL", database_url)
    assert icaht_cds(["migrate"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert revision_of(database_url) == "0004"


# ---------------------------------------------------------------- behind: not ready


def test_a_database_behind_is_not_ready_until_icaht_cds_migrate_runs(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    upgrade_to(database_url, "0002")  # left by an older release
    app = release_n(database_url, migrate_on_start=False)  # a rollout's new pod
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"] == {"config": True, "database": True, "schema": False}
    assert "database at 0002, this release needs 0003" in body["schema"]
    assert "icaht-cds migrate" in body["schema"]

    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL", database_url)
    assert icaht_cds(["migrate"]) == 0  # the Job
    assert "0002 -> 0003" in capsys.readouterr().out
    assert app.test_client().get("/readyz").status_code == 200  # the same pod, now ready
    assert_serves_hooks_and_feedback(app)


def test_postgresql_is_not_migrated_by_the_service_by_default(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    """The default ("auto"): a SQLite file migrates on start (one command for the demo),
    any other database waits for the migrate step."""
    app = release_n(database_url)
    expected = 200 if database_url.startswith("sqlite") else 503
    assert app.test_client().get("/readyz").status_code == expected
    assert revision_of(database_url) == ("0003" if expected == 200 else None)


def test_an_unknown_revision_is_not_ready_and_not_touched(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate_with(database_url, MIGRATIONS)
    engine = create_store_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    app = release_n(database_url, migrate_on_start=False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "not a revision of this service" in response.get_json()["schema"]
    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL", database_url)
    assert icaht_cds(["migrate"]) == 1
    assert revision_of(database_url) == "f00d"


def test_migrate_on_start_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for value, expected in (("true", True), ("false", False), ("auto", None), ("", None)):
        monkeypatch.setenv("ICAHT_CDS_MIGRATE_ON_START", value)
        assert Settings.from_env().migrate_on_start is expected
    monkeypatch.setenv("ICAHT_CDS_MIGRATE_ON_START", "yes")
    with pytest.raises(ValueError, match="ICAHT_CDS_MIGRATE_ON_START"):
        Settings.from_env()


# ---------------------------------------------------------------- the migration policy

DESTRUCTIVE = {"drop_table", "drop_column", "rename_table", "alter_column", "drop_constraint"}


def policy_violations(source: str) -> list[str]:
    """What in a revision's upgrade() breaks the previous release's code (decision 0033):
    dropping, renaming or altering a table or column, or a NOT NULL column without a server
    default (the old code's inserts do not fill it)."""
    tree = ast.parse(source)
    upgrade = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "upgrade"
    )
    found: list[str] = []
    for node in ast.walk(upgrade):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name in DESTRUCTIVE:
            found.append(f"line {node.lineno}: {name}")
        if name == "add_column" and _not_null_without_default(node):
            found.append(f"line {node.lineno}: NOT NULL column without a server default")
    return found


def _not_null_without_default(call: ast.Call) -> bool:
    column = next((a for a in call.args if isinstance(a, ast.Call)), None)
    keywords = {k.arg: k.value for k in column.keywords} if column else {}
    nullable = keywords.get("nullable")
    not_null = isinstance(nullable, ast.Constant) and nullable.value is False
    return not_null and "server_default" not in keywords


def revisions() -> list[Path]:
    return sorted((MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def test_every_revision_follows_the_migration_policy() -> None:
    files = revisions()
    assert files, "no migrations found"
    for position, path in enumerate(files, start=1):
        source = path.read_text()
        module = ast.parse(source)
        values = {
            target.id: ast.literal_eval(node.value)
            for node in module.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision")
        }
        # 4-digit ids one after the other: how a release tells "beyond" from "unknown"
        assert values["revision"] == path.name[:4] == f"{position:04d}", path.name
        expected_down = None if position == 1 else f"{position - 1:04d}"
        assert values["down_revision"] == expected_down, path.name
        assert policy_violations(source) == [], path.name


def test_the_policy_check_finds_destructive_migrations() -> None:
    assert policy_violations(NEXT_RELEASE_MIGRATION) == []
    dropping = NEXT_RELEASE_MIGRATION.replace(
        'audit.add_column(sa.Column("reviewed_by", sa.String(256), nullable=True))',
        'audit.drop_column("client")',
    )
    assert [v.split(": ", 1)[1] for v in policy_violations(dropping)] == ["drop_column"]
    not_null = NEXT_RELEASE_MIGRATION.replace("nullable=True", "nullable=False")
    assert [v.split(": ", 1)[1] for v in policy_violations(not_null)] == [
        "NOT NULL column without a server default"
    ]
    with_default = not_null.replace("nullable=False)", 'nullable=False, server_default="")')
    assert policy_violations(with_default) == []
