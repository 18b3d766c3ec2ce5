"""ICAHT_CDS_METRICS_PORT (issue 17): parsed as a TCP port, and `serve` binds gunicorn to it as
a second address."""

from __future__ import annotations

import pytest

from cds_service.settings import Settings, SettingsError
from cds_service.wsgi import gunicorn_command


def _settings(monkeypatch: pytest.MonkeyPatch, value: str | None) -> Settings:
    monkeypatch.setenv("ICAHT_CDS_AUTH", "none")
    if value is None:
        monkeypatch.delenv("ICAHT_CDS_METRICS_PORT", raising=False)
    else:
        monkeypatch.setenv("ICAHT_CDS_METRICS_PORT", value)
    return Settings.from_env()


def test_unset_means_metrics_on_the_public_port(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings(monkeypatch, None).metrics_port is None


@pytest.mark.parametrize("value", ["1", "9090", "65535"])
def test_a_port_is_read(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert _settings(monkeypatch, value).metrics_port == int(value)


@pytest.mark.parametrize("value", ["0", "65536", "-1", "90 90", "http", "9090.0"])
def test_a_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(SettingsError, match="ICAHT_CDS_METRICS_PORT"):
        _settings(monkeypatch, value)


def test_gunicorn_binds_every_address() -> None:
    command = gunicorn_command(["0.0.0.0:8080", "0.0.0.0:9090"], workers=2)
    binds = [command[i + 1] for i, part in enumerate(command) if part == "--bind"]
    assert binds == ["0.0.0.0:8080", "0.0.0.0:9090"]
    assert gunicorn_command("127.0.0.1:8080", workers=1).count("--bind") == 1
