"""`icaht-cds`: serve the CDS service, run the demo (embedded default), seed a FHIR server,
check the configuration, purge past retention, report to clinical governance."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy.exc import SQLAlchemyError

from cds_service.cpus import WorkersSettingError, default_workers, parse_workers
from cds_service.reports import report_csv, report_table
from cds_service.security import ClientsFileError, load_clients
from cds_service.security.launch_tokens import IssuersFileError, load_issuers
from cds_service.settings import Settings, SettingsError
from cds_service.store import (
    AUDIT_KEY_ENV,
    AuditKeyError,
    Store,
    normalise_database_url,
    resolve_audit_key,
)
from cds_service.store.governance import Cutoffs, governance_report, purge
from icaht import RULES_VERSION
from icaht.rules import format_catalogue
from icaht_cli.cohort import add_cohort_command
from icaht_demo.fhir_server import DEFAULT_STATE_DIR, FhirServerError
from icaht_demo.runner import DemoSettings, demo_token, feedback_body, run_demo
from icaht_demo.synthetic import generate_cohort
from icaht_demo.synthetic.loader import SeedError, seed_cohort

DEMO_PATIENTS = 24
DEMO_SEED = 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except (FhirServerError, SeedError, requests.RequestException, SettingsError) as error:
        print(f"icaht-cds: {error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:  # purge, report: the message names no row
        print(f"icaht-cds: database error: {type(error).__name__}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icaht-cds", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--fhir-url", help="default FHIR server (else ICAHT_CDS_FHIR_URL)")
    # worker processes (gevent workers), by default ICAHT_CDS_WORKERS or one per usable CPU
    # (cds_service/cpus.py, docs/decisions/0008-serving.md)
    serve.add_argument("--workers", type=_workers, help="default: ICAHT_CDS_WORKERS, else the CPUs")
    serve.add_argument("--dev", action="store_true", help="Flask's development server")
    serve.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    serve.set_defaults(func=_serve)

    migrate = commands.add_parser(
        "migrate",
        help="bring the store's schema to this release (a Job before a rollout; decision 0033)",
    )
    migrate.set_defaults(func=_migrate)

    demo = commands.add_parser("demo", help="embedded default: FHIR server + cohort + service")
    demo.add_argument("--port", type=int, default=8080, help="service port")
    demo.add_argument("--fhir-port", type=int, default=8090)
    demo.add_argument("--patients", type=int, default=DEMO_PATIENTS)
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    demo.add_argument("--reset", action="store_true", help="start from an empty FHIR database")
    demo.add_argument("--no-wait", action="store_true", help="print, then stop (for scripts)")
    demo.set_defaults(func=_demo)

    token = commands.add_parser(
        "demo-token", help="a fresh signed JWT of the demo EHR for one service path"
    )
    token.add_argument("path", help="e.g. /cds-services/icaht-patient-view")
    token.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    token.set_defaults(func=_demo_token)

    feedback = commands.add_parser(
        "demo-feedback",
        help="the CDS Hooks feedback body for the first card of a saved hook answer",
    )
    feedback.add_argument("answer", type=Path, help="a saved hook answer (JSON)")
    feedback.add_argument("--outcome", choices=("accepted", "overridden"))
    feedback.set_defaults(func=_demo_feedback)

    rules = commands.add_parser(
        "rules", help="list every management rule with trigger, severity, hooks and source"
    )
    rules.set_defaults(func=_rules)

    seed = commands.add_parser("seed", help="load the synthetic cohort into a FHIR server")
    seed.add_argument("--fhir-url", required=True)
    seed.add_argument("--patients", type=int, default=DEMO_PATIENTS)
    seed.add_argument("--seed", type=int, default=DEMO_SEED)
    seed.add_argument("--anchor", type=date.fromisoformat, help="the cohort's today (ISO date)")
    seed.set_defaults(func=_seed)

    _add_operations_commands(commands)  # check-config, purge, report (issue 17)
    add_cohort_command(commands)  # icaht_cli/cohort.py: Bulk NDJSON or Liang CSV -> tables, plots
    return parser


# -- serve ---------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    if args.fhir_url:
        os.environ["ICAHT_CDS_FHIR_URL"] = args.fhir_url
    if not args.dev:
        # before prometheus_client is first imported: it picks its mode at import time
        metrics_dir = args.state_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from cds_service.app import create_app  # noqa: PLC0415 (after the metrics mode is set)
    from cds_service.wiring import prepare_store  # noqa: PLC0415
    from cds_service.wsgi import exec_gunicorn  # noqa: PLC0415

    problem = configuration_problem()
    if problem:  # fail here, once, rather than in every gunicorn worker
        print(f"icaht-cds: configuration error: {problem}", file=sys.stderr)
        return 2

    if args.dev:
        create_app().run(host=args.host, port=args.port)
        return 0
    settings = Settings.from_env()
    if settings.metrics_port == args.port:
        print(
            "icaht-cds: configuration error: ICAHT_CDS_METRICS_PORT equals --port", file=sys.stderr
        )
        return 2
    prepare_store(settings)  # once, before the workers fork (issue 13 finding 12)
    binds = [f"{args.host}:{args.port}"]
    if settings.metrics_port is not None:  # /metrics on a listener of its own (issue 17)
        binds.append(f"{args.host}:{settings.metrics_port}")
    exec_gunicorn(binds, workers=default_workers() if args.workers is None else args.workers)


def _migrate(args: argparse.Namespace) -> int:
    """Migrate a store that is behind; leave one at or beyond this release alone (exit 0: a
    rollback's Job must not fail on a database a newer release migrated). Needs only the
    database URL, not the audit key: the Job holds no more secrets than it uses."""
    from cds_service.store.engine import create_store_engine  # noqa: PLC0415
    from cds_service.store.schema import SchemaError, migrate  # noqa: PLC0415

    try:
        engine = create_store_engine(Settings.from_env().database_url)
    except SettingsError as error:
        print(f"icaht-cds migrate: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        before, after = migrate(engine)
    except (SchemaError, SQLAlchemyError) as error:
        print(f"icaht-cds migrate: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if before.state == "behind":
        print(f"icaht-cds migrate: {before.database or 'no schema'} -> {after.database}")
    else:
        print(f"icaht-cds migrate: nothing to do ({before.describe()})")
    return 0


def configuration_problem() -> str | None:
    """What is wrong with the environment's configuration (the first problem), or None."""
    problems = configuration_problems()
    return problems[0] if problems else None


def configuration_problems() -> list[str]:
    """Everything `serve` checks before it starts, each problem naming its variable or field:
    ICAHT_CDS_WORKERS, the settings, the clients file, the SMART issuers file and the audit key."""
    workers = _workers_problem()  # read by gunicorn's settings, not Settings: checked apart
    problems = [] if workers is None else [workers]
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        return [*problems, str(error)]
    return problems + [
        problem
        for check in (_clients_problem, _issuers_problem, _audit_key_problem)
        if (problem := check(settings)) is not None
    ]


def _workers_problem() -> str | None:
    try:
        default_workers()
    except WorkersSettingError as error:
        return str(error)
    return None


def _clients_problem(settings: Settings) -> str | None:
    if settings.auth != "jwt":
        return None
    unset = "ICAHT_CDS_CLIENTS is not set (ICAHT_CDS_AUTH=none: development only)"
    return _file_problem(settings.clients_path, unset, load_clients, ClientsFileError)


def _issuers_problem(settings: Settings) -> str | None:
    if settings.assessment_auth_mode != "smart":
        return None
    unset = (
        "ICAHT_CDS_SMART_ISSUERS is not set (the assessment API checks SMART id_tokens;"
        " ICAHT_CDS_ASSESSMENT_AUTH=none: demo and development only)"
    )
    return _file_problem(settings.smart_issuers_path, unset, load_issuers, IssuersFileError)


def _file_problem(
    path: str | None,
    unset: str,
    load: Callable[[str], object],
    invalid: type[ValueError],
) -> str | None:
    """`unset` when the settings name no file, the loader's message when it refuses the file."""
    if not path:
        return unset
    try:
        load(path)
    except invalid as error:
        return str(error)
    return None


def _audit_key_problem(settings: Settings) -> str | None:
    # the key of a SQLite file is generated on first use: only a missing or short key counts
    url = normalise_database_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not os.environ.get(AUDIT_KEY_ENV):
        return None
    try:
        resolve_audit_key(settings.database_url)
    except AuditKeyError as error:
        return str(error)
    return None


# -- operations: check-config, purge, report (issue 17, docs/decisions/0034) ----------------


def _add_operations_commands(commands: Any) -> None:
    check = commands.add_parser(
        "check-config",
        help="check the configuration as `serve` does; prints OK or each problem (exit 1)",
    )
    check.set_defaults(func=_check_config)

    purge_command = commands.add_parser(
        "purge",
        help="delete audit, feedback and override rows past their retention period "
        "(ICAHT_CDS_AUDIT_RETENTION_DAYS, ICAHT_CDS_FEEDBACK_RETENTION_DAYS)",
    )
    purge_command.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    purge_command.set_defaults(func=_purge)

    report = commands.add_parser(
        "report",
        help="cards shown, accepted, overridden and withheld per rule and month, with the "
        "override reasons (no patient identifiers)",
    )
    report.add_argument("--format", choices=("table", "csv"), default="table")
    report.add_argument("--since", type=_month, help="first month (YYYY-MM), inclusive")
    report.add_argument("--until", type=_month, help="last month (YYYY-MM), inclusive")
    report.set_defaults(func=_report)


def _workers(text: str) -> int:
    try:
        return parse_workers(text, "--workers")
    except WorkersSettingError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month (YYYY-MM)") from error


def _check_config(args: argparse.Namespace) -> int:
    problems = configuration_problems()
    for problem in problems:
        print(f"icaht-cds: configuration error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("OK")
    return 0


def _operations_store(settings: Settings) -> Store:
    # purge and report read no patient id: they need no audit key
    return Store(settings.database_url, audit_key=b"")


def _purge(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    cutoffs = Cutoffs.of(
        datetime.now(UTC), settings.audit_retention_days, settings.feedback_retention_days
    )
    store = _operations_store(settings)
    try:
        counts = purge(store, cutoffs, dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb}: "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
        + f" (audit before {cutoffs.audit:%Y-%m-%d %H:%M}Z,"
        f" feedback and overrides before {cutoffs.feedback:%Y-%m-%d %H:%M}Z)"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    zone = ZoneInfo(settings.timezone)
    since = _month_start(args.since, zone) if args.since else None
    until = _month_start(_next_month(args.until), zone) if args.until else None
    store = _operations_store(settings)
    try:
        rows = governance_report(store, settings.timezone, since=since, until=until)
    finally:
        store.close()
    print(report_csv(rows) if args.format == "csv" else report_table(rows), end="")
    return 0


def _month_start(month: date, zone: ZoneInfo) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=zone)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


# -- seed ----------------------------------------------------------------------------------


def _seed(args: argparse.Namespace) -> int:
    anchor = args.anchor or date.today()
    cohort = generate_cohort(args.patients, seed=args.seed, anchor=anchor)
    report = seed_cohort(args.fhir_url.rstrip("/"), cohort)
    print(
        f"loaded {report.patients} patients ({report.resources} resources) "
        f"into {args.fhir_url} in {report.seconds:.1f} s (seed {args.seed}, anchor {anchor})"
    )
    return 0


# -- demo ----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    return run_demo(
        DemoSettings(
            state_dir=args.state_dir,
            port=args.port,
            fhir_port=args.fhir_port,
            patients=args.patients,
            seed=args.seed,
            reset=args.reset,
            wait=not args.no_wait,
        )
    )


def _rules(args: argparse.Namespace) -> int:
    print(f"ICAHT management rules, knowledge version {RULES_VERSION}")
    print(format_catalogue())
    return 0


def _demo_token(args: argparse.Namespace) -> int:
    print(demo_token(args.state_dir, args.path))
    return 0


def _demo_feedback(args: argparse.Namespace) -> int:
    try:
        answer = json.loads(args.answer.read_text())
        body = feedback_body(answer, datetime.now(UTC), args.outcome)
    except (OSError, ValueError, KeyError) as error:  # DemoFeedbackError is a ValueError
        print(f"icaht-cds demo-feedback: {args.answer}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
