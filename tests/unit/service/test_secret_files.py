"""Secrets mounted as files (issue 17): ICAHT_CDS_DATABASE_URL_FILE, ICAHT_CDS_AUDIT_KEY_FILE and
ICAHT_CDS_METRICS_TOKEN_FILE, as deploy/kubernetes mounts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.settings import Settings, SettingsError
from cds_service.store import resolve_audit_key

POSTGRES_URL = "postgresql+psycopg://icaht:pw@db.example/icaht"
KEY = "k" * 40
SECRET_NAMES = ("ICAHT_CDS_DATABASE_URL", "ICAHT_CDS_AUDIT_KEY", "ICAHT_CDS_METRICS_TOKEN")


@pytest.fixture(autouse=True)
def _no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def _secret_file(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def test_the_database_url_is_read_from_its_file_without_the_trailing_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _secret_file(tmp_path, "database-url", POSTGRES_URL + "\n")
    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL_FILE", path)
    assert Settings.from_env().database_url == POSTGRES_URL


def test_only_one_trailing_newline_is_dropped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a token that really ends in a blank line is kept as written, less the last newline
    token = "t" * 40
    monkeypatch.setenv("ICAHT_CDS_METRICS_TOKEN_FILE", _secret_file(tmp_path, "m", token + "\n\n"))
    with pytest.raises(SettingsError, match="ICAHT_CDS_METRICS_TOKEN"):
        Settings.from_env()  # "token\n" is not printable: refused like the plain variable
    monkeypatch.setenv("ICAHT_CDS_METRICS_TOKEN_FILE", _secret_file(tmp_path, "m", token))
    assert Settings.from_env().metrics_token == token


def test_the_plain_variable_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL", POSTGRES_URL)
    assert Settings.from_env().database_url == POSTGRES_URL


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_the_variable_and_its_file_together_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    value = POSTGRES_URL if name == "ICAHT_CDS_DATABASE_URL" else KEY
    monkeypatch.setenv(name, value)
    monkeypatch.setenv(f"{name}_FILE", _secret_file(tmp_path, "secret", value))
    with pytest.raises(SettingsError, match=f"set {name} or {name}_FILE, not both"):
        Settings.from_env()


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_an_unreadable_file_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    monkeypatch.setenv(f"{name}_FILE", str(tmp_path / "not-mounted"))
    with pytest.raises(SettingsError, match=f"{name}_FILE: cannot read") as raised:
        Settings.from_env()
    assert "FileNotFoundError" in str(raised.value)


def test_a_file_that_is_not_text_is_an_error_and_its_content_is_not_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "database-url"
    path.write_bytes(b"\xffsecret-bytes")
    monkeypatch.setenv("ICAHT_CDS_DATABASE_URL_FILE", str(path))
    with pytest.raises(SettingsError, match="ICAHT_CDS_DATABASE_URL_FILE") as raised:
        Settings.from_env()
    assert "secret-bytes" not in str(raised.value)


def test_the_store_takes_the_audit_key_from_its_file(tmp_path: Path) -> None:
    env = {"ICAHT_CDS_AUDIT_KEY_FILE": _secret_file(tmp_path, "audit-key", KEY + "\n")}
    assert resolve_audit_key(POSTGRES_URL, env) == KEY.encode()


def test_the_store_refuses_an_audit_key_given_twice(tmp_path: Path) -> None:
    env = {
        "ICAHT_CDS_AUDIT_KEY": KEY,
        "ICAHT_CDS_AUDIT_KEY_FILE": _secret_file(tmp_path, "audit-key", KEY),
    }
    with pytest.raises(SettingsError, match="ICAHT_CDS_AUDIT_KEY_FILE"):
        resolve_audit_key(POSTGRES_URL, env)
