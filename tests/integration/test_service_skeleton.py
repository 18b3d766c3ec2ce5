"""The minimal service: discovery answers a valid (empty) CDS Hooks 2.0 document; health."""

from __future__ import annotations

import jsonschema
import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.config import Settings

# CDS Hooks 2.0 discovery response: {"services": [...]} (cds-hooks_2.0 "Discovery" section)
DISCOVERY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["services"],
    "properties": {"services": {"type": "array"}},
}


@pytest.fixture
def client() -> FlaskClient:
    return create_app(Settings()).test_client()


def test_discovery_is_a_valid_document(client: FlaskClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    jsonschema.validate(response.get_json(), DISCOVERY_SCHEMA)


def test_health(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_path_is_404(client: FlaskClient) -> None:
    assert client.get("/cds-services/nope").status_code in (404, 405)
