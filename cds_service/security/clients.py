"""The EHR clients allowed to call the service, from the file named by ICAHT_CDS_CLIENTS.

```yaml
clients:
  - iss: https://ehr.example.org            # the JWT `iss`, compared exactly
    jwks_url: https://ehr.example.org/jwks  # or a list; the only URLs a `jku` may name
    jwks: {keys: [...]}                     # and/or pinned keys: win over any `jku`, no fetch
    fhir_servers: [https://ehr.example.org/fhir]  # allowed `fhirServer` base URLs
    audience: [urn:site:icaht-cds]          # optional: more accepted JWT `aud` values
```

`audience` (a string or a list) is for EHRs that send a site-configured audience instead of the
endpoint's URL (Epic-style). Each value is any non-empty string the EHR is configured to send
(an absolute URL or an opaque name: RFC 7519 calls `aud` a StringOrURI), compared exactly. It
adds to the default, it does not replace it: a token is accepted when its `aud` (a string or a
list) names the endpoint's public URL OR one of these values.

The file (YAML, or JSON when it ends in `.json`) is checked with a JSON Schema
(`clients.schema.json`) and then for what a schema cannot say: unique issuers, URLs in normal form
(https, or http on a loopback address only), usable inline keys. Every error names its field:
`clients[0].fhir_servers[1]: ...`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from cds_service.security.keys import KeySetError, parse_jwks
from cds_service.security.urls import UrlError, https_or_loopback

_KEYS_ANY_OF = [{"required": ["jwks_url"]}, {"required": ["jwks"]}]


class ClientsFileError(ValueError):
    """The clients file is unreadable or invalid; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"ICAHT_CDS_CLIENTS: {field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ClientSettings:
    iss: str
    jwks_urls: tuple[str, ...]  # exactly as configured: a `jku` must equal one of them
    jwks: Mapping[str, Any] | None  # inline public JWKS, read-only
    fhir_servers: tuple[str, ...]  # in normal form (see urls.normalise_url)
    # JWT `aud` values accepted besides the endpoint's URL, exactly as configured
    audiences: tuple[str, ...] = ()


def load_clients(path: str | Path) -> tuple[ClientSettings, ...]:
    """Read and check the clients file; ClientsFileError names the first bad field."""
    return clients_from_document(_read(Path(path)))


def clients_from_document(document: Any) -> tuple[ClientSettings, ...]:
    """Same checks as `load_clients`, for a document already in memory (tests, wiring)."""
    error = best_match(_validator().iter_errors(document))
    if error is not None:
        raise ClientsFileError(_field(error), _message(error))
    clients = tuple(_client(item, index) for index, item in enumerate(document["clients"]))
    _check_unique_issuers(clients)
    return clients


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ClientsFileError("(file)", f"cannot read {path}: {error.strerror}") from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ClientsFileError("(file)", f"{path} is not valid JSON/YAML: {error}") from None


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("cds_service.security").joinpath("clients.schema.json").read_text()
    return Draft202012Validator(json.loads(text))


def _client(item: Mapping[str, Any], index: int) -> ClientSettings:
    where = f"clients[{index}]"
    urls = item.get("jwks_url", ())
    jwks_urls = (urls,) if isinstance(urls, str) else tuple(urls)
    for position, url in enumerate(jwks_urls):
        field = f"{where}.jwks_url" + ("" if isinstance(urls, str) else f"[{position}]")
        _normal(url, field)
    servers = tuple(
        _normal(url, f"{where}.fhir_servers[{position}]")
        for position, url in enumerate(item["fhir_servers"])
    )
    jwks = item.get("jwks")
    if jwks is not None:
        try:
            parse_jwks(jwks, strict=True)
        except KeySetError as error:
            raise ClientsFileError(f"{where}.jwks.{error.where}", error.message) from None
        jwks = MappingProxyType(dict(jwks))
    return ClientSettings(item["iss"], jwks_urls, jwks, servers, _audiences(item, where))


def _audiences(item: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The configured `audience` values; what the schema cannot say: no blank value, no
    value twice (the schema checks type and length)."""
    raw = item.get("audience", ())
    values = (raw,) if isinstance(raw, str) else tuple(raw)
    for position, value in enumerate(values):
        field = f"{where}.audience" + ("" if isinstance(raw, str) else f"[{position}]")
        if value != value.strip():
            raise ClientsFileError(field, "must not start or end with white space")
        if value in values[:position]:
            raise ClientsFileError(field, "is listed twice")
    return values


def _normal(url: str, field: str) -> str:
    try:
        return str(https_or_loopback(url))
    except UrlError as error:
        raise ClientsFileError(field, str(error)) from None


def _check_unique_issuers(clients: Sequence[ClientSettings]) -> None:
    seen: set[str] = set()
    for index, client in enumerate(clients):
        if client.iss in seen:
            raise ClientsFileError(f"clients[{index}].iss", "issuer is configured twice")
        seen.add(client.iss)


def _field(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            path += f".{missing[0]}"
    if error.validator == "anyOf" and error.validator_value == _KEYS_ANY_OF:
        path += ".jwks_url|jwks"
    return path.lstrip(".") or "(document)"


def _message(error: ValidationError) -> str:
    if error.validator == "required":
        return "is required"
    if error.validator == "anyOf" and error.validator_value == _KEYS_ANY_OF:
        return "a client needs jwks_url or jwks"
    if error.validator == "additionalProperties":
        return "unknown field (allowed: see clients.schema.json)"
    if error.validator == "not":
        return "must be a public key (private key members are not allowed)"
    if error.validator in ("enum", "const"):
        return f"must be one of {error.validator_value!r}"
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    return str(error.message)[:200]
