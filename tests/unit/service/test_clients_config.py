"""The ICAHT_CDS_CLIENTS file: schema-checked, every error names its field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.security import ClientsFileError, clients_from_document, load_clients


@pytest.fixture(scope="module")
def ec_jwk() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    return {**ECAlgorithm.to_jwk(key, as_dict=True), "kid": "ec-1"}


def document(**client: Any) -> dict[str, Any]:
    base = {"iss": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/jwks"}
    base["fhir_servers"] = ["https://ehr.example.org/fhir/"]
    base.update(client)
    return {"clients": [{k: v for k, v in base.items() if v is not None}]}


def error_of(doc: Any) -> ClientsFileError:
    with pytest.raises(ClientsFileError) as raised:
        clients_from_document(doc)
    return raised.value


def test_yaml_file_with_jwks_url_list_and_inline_keys(
    tmp_path: Path, ec_jwk: dict[str, Any]
) -> None:
    path = tmp_path / "clients.yaml"
    doc = document(jwks_url=["https://a.example/jwks", "https://b.example/jwks"])
    doc["clients"][0]["jwks"] = {"keys": [ec_jwk]}
    path.write_text(yaml.safe_dump(doc))
    (client,) = load_clients(path)
    assert client.iss == "https://ehr.example.org"
    assert client.jwks_urls == ("https://a.example/jwks", "https://b.example/jwks")
    assert client.jwks is not None and client.jwks["keys"][0]["kid"] == "ec-1"
    assert client.fhir_servers == ("https://ehr.example.org/fhir",)  # normal form


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(document()))
    assert load_clients(path)[0].jwks_urls == ("https://ehr.example.org/jwks",)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({}, "clients"),
        ({"clients": []}, "clients"),
        (document(iss=None), "clients[0].iss"),
        (document(fhir_servers=None), "clients[0].fhir_servers"),
        (document(fhir_servers=[]), "clients[0].fhir_servers"),
        (document(fhir_servers=["ftp://ehr.example.org/fhir"]), "clients[0].fhir_servers[0]"),
        (document(jwks_url=None), "clients[0].jwks_url|jwks"),
        (document(jwks_url=42), "clients[0].jwks_url"),
        (document(color="red"), "clients[0]"),
    ],
)
def test_schema_errors_name_the_field(doc: Any, field: str) -> None:
    assert error_of(doc).field == field


@pytest.mark.parametrize(
    ("client", "field"),
    [
        ({"fhir_servers": ["http://ehr.example.org/fhir"]}, "clients[0].fhir_servers[0]"),
        ({"fhir_servers": ["https://ehr.example.org/a/../b"]}, "clients[0].fhir_servers[0]"),
        ({"fhir_servers": ["https://u:p@ehr.example.org/fhir"]}, "clients[0].fhir_servers[0]"),
        ({"jwks_url": "http://ehr.example.org/jwks"}, "clients[0].jwks_url"),
        ({"jwks_url": ["https://a.example/j", "http://b.example/j"]}, "clients[0].jwks_url[1]"),
    ],
)
def test_urls_must_be_https_or_loopback_and_in_normal_form(
    client: dict[str, Any], field: str
) -> None:
    assert error_of(document(**client)).field == field


def test_http_on_loopback_is_allowed_for_the_demo() -> None:
    doc = document(
        jwks_url="http://127.0.0.1:9000/jwks", fhir_servers=["http://localhost:8090/fhir"]
    )
    assert clients_from_document(doc)[0].fhir_servers == ("http://localhost:8090/fhir",)


def test_private_key_material_is_refused(ec_jwk: dict[str, Any]) -> None:
    doc = document(jwks={"keys": [{**ec_jwk, "d": "c2VjcmV0"}]})
    assert error_of(doc).field == "clients[0].jwks.keys[0]"


def test_weak_and_unsupported_keys_are_refused(ec_jwk: dict[str, Any]) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    weak_jwk = {**RSAAlgorithm.to_jwk(weak, as_dict=True), "kid": "weak"}
    assert error_of(document(jwks={"keys": [weak_jwk]})).field == "clients[0].jwks.keys[0]"
    p256 = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True)
    p256_doc = document(jwks={"keys": [ec_jwk, {**p256, "kid": "p256"}]})
    assert error_of(p256_doc).field == "clients[0].jwks.keys[1]"


def test_duplicate_kid_and_duplicate_issuer_are_refused(ec_jwk: dict[str, Any]) -> None:
    assert error_of(document(jwks={"keys": [ec_jwk, ec_jwk]})).field == "clients[0].jwks.keys[1]"
    doc = document()
    doc["clients"].append(dict(doc["clients"][0]))
    assert error_of(doc).field == "clients[1].iss"


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ClientsFileError, match="cannot read"):
        load_clients(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ClientsFileError, match="not valid JSON/YAML"):
        load_clients(bad)


# ---------------------------------------------------------------- audience (issue 18)


def test_audience_is_optional_and_takes_a_string_or_a_list() -> None:
    """Epic-style EHRs send a site-configured `aud`: any non-empty string, kept as written."""
    assert clients_from_document(document())[0].audiences == ()
    one = clients_from_document(document(audience="urn:epic:icaht-cds"))[0]
    assert one.audiences == ("urn:epic:icaht-cds",)
    several = document(audience=["icaht-cds-prod", "https://cds.example.org/Site/"])
    assert clients_from_document(several)[0].audiences == (
        "icaht-cds-prod",
        "https://cds.example.org/Site/",  # compared exactly: not normalised like a URL
    )


@pytest.mark.parametrize(
    ("audience", "field", "message"),
    [
        ("", "clients[0].audience", ""),
        ([], "clients[0].audience", ""),
        (42, "clients[0].audience", ""),
        (["ok", ""], "clients[0].audience[1]", ""),
        (" padded ", "clients[0].audience", "white space"),
        (["a", "b", "a"], "clients[0].audience[2]", "twice"),
        (["a", " b"], "clients[0].audience[1]", "white space"),
    ],
)
def test_bad_audience_values_name_the_field(audience: Any, field: str, message: str) -> None:
    error = error_of(document(audience=audience))
    assert error.field == field
    assert message in error.message
