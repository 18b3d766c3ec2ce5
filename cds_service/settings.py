"""Service configuration, read once from the environment (documented in README.md)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cds_service.outbound import parse_no_proxy, parse_proxy_url
from icaht.rules import RuleSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    public_url: str = "http://127.0.0.1:8080"  # the service's public base URL (JWT `aud`)
    fhir_url: str | None = None  # FHIR server for requests that name none (development only)
    auth: str = "jwt"  # "jwt", or "none" for local development only
    clients_path: str | None = None  # ICAHT_CDS_CLIENTS: allowed EHR clients (iss, keys, FHIR)
    database_url: str = f"sqlite:///{PROJECT_ROOT / '.state' / 'icaht-cds.sqlite3'}"
    # ICAHT_CDS_MIGRATE_ON_START "true"/"false": whether the service migrates a store that is
    # behind when it starts; None ("auto"): a SQLite file yes (demo, development), any other
    # database no (`icaht-cds migrate` runs as its own step before a rollout; decision 0033)
    migrate_on_start: bool | None = None
    timezone: str = "UTC"  # the treating centre's time zone: day boundaries (D2)
    deadline_seconds: float = 2.0  # one deadline for a whole hook call
    fhir_timeout_seconds: float = 1.5  # each FHIR request, within the deadline
    # ICAHT_CDS_CORS_ORIGINS: the browser origins allowed to call the hooks and the API (CORS);
    # empty: the service's own public origin only (the SMART app it serves)
    cors_origins: tuple[str, ...] = ()
    # ICAHT_CDS_FRAME_ANCESTORS: the EHR origins allowed to frame the SMART app (CSP
    # frame-ancestors); empty: 'self' only
    frame_ancestors: tuple[str, ...] = ()
    # ICAHT_CDS_METRICS_TOKEN: the bearer token Prometheus sends for /metrics (decision 0019);
    # unset: /metrics is off (404)
    metrics_token: str | None = None
    # ICAHT_CDS_OVERRIDE_DAYS: an overridden alert stays withheld until its data change or, when
    # set, until this many days after the override, whichever comes first (decision 0007)
    override_days: int | None = None
    # ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS: M22's cumulative RBC-unit threshold (docs/clinical §10:
    # "configurable threshold (no source number)"); unset: M22 is off (docs/decisions/0022)
    iron_overload_rbc_units: int | None = None
    # SMART app (issue 7): the public OAuth client id, the scopes it asks for, and the launch URL
    # the status card links to (None: public_url + /smart/launch.html)
    smart_client_id: str = "icaht-cds-smart"
    smart_scope: str = (
        "launch openid fhirUser patient/Patient.rs patient/Observation.rs "
        "patient/Procedure.rs patient/MedicationAdministration.rs patient/Condition.rs "
        "patient/MedicationRequest.rs patient/MedicationStatement.rs "
        "patient/ServiceRequest.rs patient/Appointment.rs"
    )
    smart_launch_url: str | None = None
    # the assessment API (issue 13, finding 8): "smart" (the SMART launch's id_token, verified
    # against the EHR keys in ICAHT_CDS_SMART_ISSUERS) or "none" (demo and development only);
    # None: "smart" when the hooks' authentication is on, else "none"
    assessment_auth: str | None = None
    smart_issuers_path: str | None = None
    # ICAHT_CDS_ASSESSMENT_RATE "calls/seconds" per client and worker process; None: no limit
    assessment_rate: tuple[int, float] | None = (30, 60.0)
    # ICAHT_CDS_DISCOVERY_AUTH: "jwt" (discovery needs the EHR's JWT like every CDS route) or
    # "none" (GET /cds-services answers without one: several EHR set-up tools fetch it bare;
    # it lists services and prefetch templates, no patient data). Hooks and feedback always
    # need the JWT when ICAHT_CDS_AUTH=jwt.
    discovery_auth: str = "jwt"
    # issue 17 (docs/decisions/0034): the one outbound proxy of the FHIR and JWKS clients
    # (ICAHT_CDS_OUTBOUND_PROXY) and the hosts reached without it (ICAHT_CDS_NO_PROXY)
    outbound_proxy: str | None = None
    no_proxy: tuple[str, ...] = ()
    # `icaht-cds purge`: audit rows, and feedback with its overrides, older than these many days
    audit_retention_days: int = 1096
    feedback_retention_days: int = 1096
    # ICAHT_CDS_TRACING: OpenTelemetry traces, "off", "console" or "otlp" (the `otel` extra)
    tracing: str = "off"
    # ICAHT_CDS_METRICS_PORT: a second listener that serves /metrics (and /healthz) only; the
    # public port then answers /metrics with 404 (issue 17: Prometheus scrapes a port the
    # Ingress never routes to). None: /metrics on the public port, behind its token (0019)
    metrics_port: int | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        auth = env.get("ICAHT_CDS_AUTH", cls.auth).lower()
        if auth not in ("jwt", "none"):
            raise SettingsError("ICAHT_CDS_AUTH must be 'jwt' or 'none'")
        public_url = env.get("ICAHT_CDS_PUBLIC_URL", cls.public_url).rstrip("/")
        try:
            origin_of(public_url)  # the JWT audience and the default CORS origin
        except ValueError as error:
            raise SettingsError("ICAHT_CDS_PUBLIC_URL must be an absolute http(s) URL") from error
        assessment_auth = (env.get("ICAHT_CDS_ASSESSMENT_AUTH") or "").strip().lower() or None
        if assessment_auth not in (None, "smart", "none"):
            raise SettingsError("ICAHT_CDS_ASSESSMENT_AUTH must be 'smart' or 'none'")
        discovery_auth = (env.get("ICAHT_CDS_DISCOVERY_AUTH") or cls.discovery_auth).strip()
        # read by the store (audit_key.py); resolved here too so that a bad _FILE fails at start
        env_or_file(env, "ICAHT_CDS_AUDIT_KEY")
        if discovery_auth.lower() not in ("jwt", "none"):
            raise SettingsError("ICAHT_CDS_DISCOVERY_AUTH must be 'jwt' or 'none'")
        return cls(
            public_url=public_url,
            fhir_url=(env.get("ICAHT_CDS_FHIR_URL") or "").rstrip("/") or None,
            auth=auth,
            clients_path=env.get("ICAHT_CDS_CLIENTS") or None,
            database_url=env_or_file(env, "ICAHT_CDS_DATABASE_URL") or cls.database_url,
            migrate_on_start=_auto_flag(env, "ICAHT_CDS_MIGRATE_ON_START"),
            timezone=env.get("ICAHT_CDS_TIMEZONE", cls.timezone),
            deadline_seconds=_number(env, "ICAHT_CDS_DEADLINE_SECONDS", cls.deadline_seconds),
            fhir_timeout_seconds=_number(
                env, "ICAHT_CDS_FHIR_TIMEOUT_SECONDS", cls.fhir_timeout_seconds
            ),
            cors_origins=_origins(env, "ICAHT_CDS_CORS_ORIGINS"),
            frame_ancestors=_origins(env, "ICAHT_CDS_FRAME_ANCESTORS"),
            metrics_token=_secret(env, "ICAHT_CDS_METRICS_TOKEN"),
            override_days=_whole(env, "ICAHT_CDS_OVERRIDE_DAYS", "days"),
            iron_overload_rbc_units=_whole(env, "ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS", "RBC units"),
            smart_client_id=env.get("ICAHT_CDS_SMART_CLIENT_ID") or cls.smart_client_id,
            smart_scope=env.get("ICAHT_CDS_SMART_SCOPE") or cls.smart_scope,
            smart_launch_url=_absolute_url(env, "ICAHT_CDS_SMART_LAUNCH_URL"),
            assessment_auth=assessment_auth,
            smart_issuers_path=env.get("ICAHT_CDS_SMART_ISSUERS") or None,
            assessment_rate=_rate(env, "ICAHT_CDS_ASSESSMENT_RATE", cls.assessment_rate),
            discovery_auth=discovery_auth.lower(),
            **_operations(env),
        )

    @property
    def rule_settings(self) -> RuleSettings:
        """The management rules' numbers: the defaults with what the centre configured."""
        return RuleSettings(iron_overload_rbc_units=self.iron_overload_rbc_units)

    @property
    def public_origin(self) -> str:
        """The origin (scheme://host[:port]) of ICAHT_CDS_PUBLIC_URL."""
        return origin_of(self.public_url)

    @property
    def allowed_cors_origins(self) -> frozenset[str]:
        """The configured CORS origins, or the service's own public origin."""
        return frozenset(self.cors_origins or (self.public_origin,))

    @property
    def migrates_on_start(self) -> bool:
        """Whether the service migrates a store that is behind when it starts."""
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.database_url.startswith("sqlite")

    @property
    def assessment_auth_mode(self) -> str:
        """How the assessment API authenticates: "smart" or "none" (see assessment_auth)."""
        if self.assessment_auth is not None:
            return self.assessment_auth
        return "smart" if self.auth == "jwt" else "none"

    @property
    def smart_launch(self) -> str:
        """The SMART app's launch URL (the EHR appends iss and launch)."""
        return self.smart_launch_url or f"{self.public_url}/smart/launch.html"


def _auto_flag(env: os._Environ[str], name: str) -> bool | None:
    value = (env.get(name) or "auto").strip().lower()
    if value not in ("true", "false", "auto"):
        raise SettingsError(f"{name} must be 'true', 'false' or 'auto'")
    return None if value == "auto" else value == "true"


def _absolute_url(env: os._Environ[str], name: str) -> str | None:
    # a CDS Hooks link must be absolute (cds-hooks_2.0@142): refuse a relative one at start
    raw = env.get(name) or None
    if raw is not None and not raw.startswith(("https://", "http://")):
        raise SettingsError(f"{name} must be an absolute http(s) URL")
    return raw


def _rate(
    env: os._Environ[str], name: str, default: tuple[int, float] | None
) -> tuple[int, float] | None:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw == "off":
        return None
    calls, _, seconds = raw.partition("/")
    try:
        rate = (int(calls), float(seconds))
    except ValueError as error:
        raise SettingsError(f"{name} must be 'calls/seconds' (e.g. 30/60) or 'off'") from error
    if rate[0] < 1 or not 0 < rate[1] < float("inf"):
        raise SettingsError(f"{name} must be 'calls/seconds' with both positive, or 'off'")
    return rate


def _number(env: os._Environ[str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a number of seconds") from error
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value


def _whole(env: os._Environ[str], name: str, what: str) -> int | None:
    """A whole number >= 1 of `what` ("days", "RBC units"), None when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of {what} (1 or more)")
    return int(raw)


MIN_SECRET_LENGTH = 32
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def origin_of(url: str) -> str:
    """`scheme://host[:port]` as browsers send it in `Origin` (lower case, no default port);
    ValueError for anything that is not an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        raise ValueError(f"not an http(s) origin: {url!r}")
    port = parts.port  # ValueError for a port that is not a number
    shown_port = f":{port}" if port and port != _DEFAULT_PORTS[scheme] else ""
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    elif not _HOST_NAME.fullmatch(host):  # the origin goes into headers: no ';', no quotes
        raise ValueError(f"not a host name: {url!r}")
    return f"{scheme}://{host}{shown_port}"


def _origins(env: os._Environ[str], name: str) -> tuple[str, ...]:
    """A list of origins separated by commas or spaces. Only plain origins: a path, a query or
    `*` would be a guess at what the operator meant, and each value ends up in a header."""
    origins: list[str] = []
    for raw in (env.get(name) or "").replace(",", " ").split():
        parts = urlsplit(raw)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise SettingsError(f"{name}: {raw!r} is not an origin (scheme://host[:port])")
        try:
            origins.append(origin_of(raw))
        except ValueError as error:
            raise SettingsError(f"{name}: {raw!r} is not an http(s) origin") from error
    return tuple(dict.fromkeys(origins))


def env_or_file(env: Mapping[str, str], name: str) -> str | None:
    """The value of `name`, or the content of the file named by `name`_FILE (a Kubernetes or
    Docker secret mounted as a file, so that the secret is not in the process environment).
    One trailing newline is dropped (`echo` and most editors add one); setting both is an
    error rather than a silent precedence: an operator who set both meant one of them."""
    path = env.get(f"{name}_FILE") or None
    if path is None:
        return env.get(name) or None
    if env.get(name):
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        # the path is configuration, not a secret: naming it helps; the content never shown
        raise SettingsError(
            f"{name}_FILE: cannot read {path!r} ({type(error).__name__})"
        ) from error
    return content.removesuffix("\n") or None


def _secret(env: os._Environ[str], name: str) -> str | None:
    raw = env_or_file(env, name)
    printable_ascii = raw is not None and raw.isascii() and raw.isprintable() and " " not in raw
    if raw is not None and (len(raw) < MIN_SECRET_LENGTH or not printable_ascii):
        raise SettingsError(
            f"{name} must be at least {MIN_SECRET_LENGTH} printable ASCII characters, no spaces"
        )
    return raw


TRACING_MODES = ("off", "console", "otlp")


def _operations(env: os._Environ[str]) -> dict[str, Any]:
    """The proxy, retention and tracing settings (issue 17, docs/decisions/0034)."""
    tracing = (env.get("ICAHT_CDS_TRACING") or "off").strip().lower()
    if tracing not in TRACING_MODES:
        raise SettingsError("ICAHT_CDS_TRACING must be 'off', 'console' or 'otlp'")
    audit_days = _whole(env, "ICAHT_CDS_AUDIT_RETENTION_DAYS", "days")
    feedback_days = _whole(env, "ICAHT_CDS_FEEDBACK_RETENTION_DAYS", "days")
    feedback_days = feedback_days or Settings.feedback_retention_days
    override_days = _whole(env, "ICAHT_CDS_OVERRIDE_DAYS", "days")
    if override_days is not None and override_days > feedback_days:
        # an override still in force would be purged with its feedback row
        raise SettingsError(
            "ICAHT_CDS_OVERRIDE_DAYS must not exceed ICAHT_CDS_FEEDBACK_RETENTION_DAYS"
            f" ({feedback_days})"
        )
    try:
        proxy = parse_proxy_url(env.get("ICAHT_CDS_OUTBOUND_PROXY") or None)
        no_proxy = parse_no_proxy(env.get("ICAHT_CDS_NO_PROXY") or "")
    except ValueError as error:
        raise SettingsError(str(error)) from error
    return {
        "outbound_proxy": proxy,
        "no_proxy": no_proxy,
        "audit_retention_days": audit_days or Settings.audit_retention_days,
        "feedback_retention_days": feedback_days,
        "tracing": tracing,
        "metrics_port": _port(env, "ICAHT_CDS_METRICS_PORT"),
    }


def _port(env: os._Environ[str], name: str) -> int | None:
    """A TCP port (1-65535), None when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535)")
    return int(raw)
