"""'Overridden' feedback is honoured (issue 6, docs/decisions/0007), through the HTTP endpoints.

hook -> alert card -> feedback 'overridden' -> same hook: card withheld (also on the next day)
-> changed lab value: card back. With ICAHT_CDS_OVERRIDE_DAYS the card also comes back after
N days. The service and its store share one pinned clock (Services.clock, Store clock); the
data are a fixed course (infusion on 2026-09-01). A store that cannot be read shows every card.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from prometheus_client import REGISTRY

from cds_service.app import Services, create_app
from cds_service.cards import OVERRIDE_SYSTEM
from cds_service.concerns import CONCERN_KEY
from cds_service.fhir_client import FhirClient
from cds_service.settings import Settings
from cds_service.store import ANONYMOUS_CLIENT, Store
from cds_service.validation import response_errors
from cds_service.wiring import jwt_authenticator
from icaht_demo.fhir_server import free_port

TZ = "Europe/Berlin"
PATIENT = "override-p1"
SERVICE = "icaht-patient-view"
DAY0 = date(2026, 9, 1)
AUDIT_KEY = b"override-test-audit-key-0123456789abcdef"


@dataclass
class Clock:
    now: datetime = datetime(2026, 9, 3, 10, 0, tzinfo=UTC)  # day +2

    def service(self, tz: ZoneInfo) -> datetime:
        return self.now.astimezone(tz)

    def store(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Served:
    app: Flask
    store: Store
    clock: Clock


def serve(database_url: str, override_days: int | None = None) -> Served:
    clock = Clock()
    settings = Settings(
        auth="none", timezone=TZ, database_url=database_url, override_days=override_days
    )
    store = Store(database_url, audit_key=AUDIT_KEY, clock=clock.store)
    store.migrate()
    services = Services(settings, FhirClient(), store, None, clock=clock.service)
    return Served(create_app(settings, services), store, clock)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    result = serve(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield result
    result.store.close()


def observation(day: int, loinc: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o-{loinc}-{day}-{value:g}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": f"{DAY0 + timedelta(days=day)}T07:00:00+02:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org"}
        | {"code": unit},
    }


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def hook_request(baseline_platelets: float) -> dict[str, Any]:
    """Baseline platelets < 75 x10^9/L: CAR-HEMATOTOX high, no G-CSF, ANC 1200/µL (not above
    1500): M02 fires on days +2..+5 (docs/clinical/10-management-rules.md §17 C15)."""
    infusion = {
        "resourceType": "Procedure",
        "id": "cart",
        "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "38228"}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "performedDateTime": f"{DAY0}T09:00:00+02:00",
    }
    labs = [observation(-7, "777-3", baseline_platelets, "10*9/L")]
    labs += [observation(day, "751-8", 1200, "/uL") for day in range(0, 6)]
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "procedures": searchset([infusion]),
        "medications": searchset([]),
        "conditions": searchset([]),
        "labs": searchset(labs),
    }
    context = {"userId": "Practitioner/dr-1", "patientId": PATIENT}
    hook = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context}
    return hook | {"prefetch": prefetch}


def cards(served: Served, baseline_platelets: float = 50) -> dict[str, dict[str, Any]]:
    """The cards of one patient-view call by rule id ("" for the status card)."""
    response = served.app.test_client().post(
        f"/cds-services/{SERVICE}", json=hook_request(baseline_platelets)
    )
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert response_errors("response.json", answer) == []
    return {card["extension"].get("org.icaht.rule", ""): card for card in answer["cards"]}


def override(served: Served, card: dict[str, Any]) -> None:
    reason = {
        "system": OVERRIDE_SYSTEM,
        "code": "already-addressed",
        "display": "Already addressed",
    }
    entry = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": reason},
        "outcomeTimestamp": served.clock.now.isoformat(),
    }
    response = served.app.test_client().post(
        f"/cds-services/{SERVICE}/feedback", json={"feedback": [entry]}
    )
    assert response.status_code == 200, response.get_json()


def withheld_count() -> float:
    return REGISTRY.get_sample_value("icaht_cards_withheld_total", {"service": SERVICE}) or 0.0


def test_overridden_card_stays_away_until_the_data_change(served: Served) -> None:
    first = cards(served)
    m02 = first["M02"]
    assert "" in first  # the status card
    override(served, m02)
    before = withheld_count()

    again = cards(served)
    assert "M02" not in again and "" in again  # the status card is never withheld
    assert withheld_count() == before + 1
    served.clock.advance(days=1)  # day +3: same data, a new status card, still no M02
    next_day = cards(served)
    assert "M02" not in next_day and next_day[""]["uuid"] != again[""]["uuid"]

    changed = cards(served, baseline_platelets=45)  # a corrected baseline count
    assert "M02" in changed
    assert changed["M02"]["extension"][CONCERN_KEY] != m02["extension"][CONCERN_KEY]

    withheld = [row for row in served.store.audit_rows() if row["withheld"]]
    assert [row["rule_ids"] for row in withheld] == [["M02"], ["M02"]]
    assert {row["concern_key"] for row in withheld} == {m02["extension"][CONCERN_KEY]}
    (override_row,) = served.store.override_rows()
    assert override_row["rule_id"] == "M02" and override_row["reason_code"] == "already-addressed"
    # without authentication every card goes to, and every override comes from, one client
    assert override_row["client"] == ANONYMOUS_CLIENT
    assert {row["client"] for row in served.store.audit_rows()} == {ANONYMOUS_CLIENT}


def test_accepted_feedback_withholds_nothing(served: Served) -> None:
    m02 = cards(served)["M02"]
    entry = {
        "card": m02["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": m02["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": served.clock.now.isoformat(),
    }
    response = served.app.test_client().post(
        f"/cds-services/{SERVICE}/feedback", json={"feedback": [entry]}
    )
    assert response.status_code == 200
    assert "M02" in cards(served)


def test_with_override_days_the_card_returns_after_n_days(tmp_path: Path) -> None:
    served = serve(f"sqlite:///{tmp_path / 'store.sqlite3'}", override_days=3)
    try:
        override(served, cards(served)["M02"])
        served.clock.advance(days=2, hours=23)
        assert "M02" not in cards(served)
        served.clock.advance(hours=1, minutes=1)  # 3 days and a minute after the override
        assert "M02" in cards(served)
    finally:
        served.store.close()


def test_a_store_that_cannot_be_read_shows_every_card() -> None:
    """A real PostgreSQL URL on a port where nothing listens: the read fails, the cards go out."""
    settings = Settings(auth="none", timezone=TZ)
    store = Store(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none", audit_key=AUDIT_KEY
    )
    clock = Clock()
    services = Services(settings, FhirClient(), store, None, clock=clock.service)
    served = Served(create_app(settings, services), store, clock)
    before = REGISTRY.get_sample_value("icaht_override_lookup_failures_total") or 0.0
    try:
        assert "M02" in cards(served)
    finally:
        store.close()
    assert REGISTRY.get_sample_value("icaht_override_lookup_failures_total") == before + 1


# ------------------------------------------------ issue 13 finding 7: overrides per client (0017)

PUBLIC_URL = "https://cds.test.invalid"
FEEDBACK = f"/cds-services/{SERVICE}/feedback"


class EhrClient:
    """One EHR client: its issuer and its own EC P-384 key; every request gets a fresh JWT."""

    def __init__(self, iss: str) -> None:
        self.iss = iss
        self.key = ec.generate_private_key(ec.SECP384R1())

    def config(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwks = {"keys": [public | {"kid": "k-1", "alg": "ES384", "use": "sig"}]}
        return {"iss": self.iss, "jwks": jwks, "fhir_servers": ["https://fhir.test.invalid/r4"]}

    def headers(self, path: str) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": self.iss,
            "sub": "ehr",
            "aud": PUBLIC_URL + path,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        token = jwt.encode(claims, self.key, "ES384", headers={"kid": "k-1"})
        return {"Authorization": f"Bearer {token}"}


EHR_A = EhrClient("https://ehr-a.test.invalid")
EHR_B = EhrClient("https://ehr-b.test.invalid")


@pytest.fixture(params=["sqlite", "postgresql"])
def two_clients(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The service with JWT authentication and two configured EHR clients, on each engine."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        base: str = request.getfixturevalue("postgres_url")
        name = f"overrides_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        database_url = base.rsplit("/", 1)[0] + f"/{name}"
    (tmp_path / "clients.json").write_text(
        json.dumps({"clients": [EHR_A.config(), EHR_B.config()]})
    )
    settings = Settings(
        public_url=PUBLIC_URL,
        auth="jwt",
        clients_path=str(tmp_path / "clients.json"),
        timezone=TZ,
        database_url=database_url,
    )
    clock = Clock()
    store = Store(database_url, audit_key=AUDIT_KEY, clock=clock.store)
    store.migrate()
    authenticator, error_type = jwt_authenticator(settings, store)
    services = Services(settings, FhirClient(), store, authenticator, error_type, clock.service)
    yield Served(create_app(settings, services), store, clock)
    store.close()


def cards_for(served: Served, ehr: EhrClient) -> dict[str, dict[str, Any]]:
    """One patient-view call by `ehr` (prefetch only): its cards by rule id."""
    path = f"/cds-services/{SERVICE}"
    response = served.app.test_client().post(path, json=hook_request(50), headers=ehr.headers(path))
    assert response.status_code == 200, response.get_json()
    return {card["extension"].get("org.icaht.rule", ""): card for card in response.json["cards"]}


def feedback_by(
    served: Served, ehr: EhrClient, *cards: str, outcome: str = "overridden"
) -> tuple[int, Any]:
    entries = [
        {"card": card, "outcome": outcome, "outcomeTimestamp": served.clock.now.isoformat()}
        | ({"acceptedSuggestions": []} if outcome == "accepted" else {})
        for card in cards
    ]
    response = served.app.test_client().post(
        FEEDBACK, json={"feedback": entries}, headers=ehr.headers(FEEDBACK)
    )
    return response.status_code, response.get_json(silent=True)


def test_finding7_another_clients_override_cannot_hide_a_card(two_clients: Served) -> None:
    """Issue 13 finding 7: EHR B posts 'overridden' on the card the service issued to EHR A.
    Before: stored (200), and A's next call for the patient no longer showed the card.
    After: a 400 naming feedback[0].card, nothing stored, and A still sees the card."""
    served = two_clients
    m02 = cards_for(served, EHR_A)["M02"]

    status, answer = feedback_by(served, EHR_B, m02["uuid"])
    assert status == 400
    (issue,) = answer["issue"]
    assert (issue["code"], issue["expression"]) == ("not-found", ["feedback[0].card"])
    assert served.store.counts()["feedback"] == 0 and served.store.override_rows() == []
    assert "M02" in cards_for(served, EHR_A)

    # an unknown card gets the very same answer: nothing tells B that A was shown the card
    assert feedback_by(served, EHR_B, str(uuid.uuid4())) == (status, answer)
    # A's own override still counts
    assert feedback_by(served, EHR_A, m02["uuid"])[0] == 200
    assert "M02" not in cards_for(served, EHR_A)


def test_finding7_an_override_withholds_the_card_only_for_its_own_client(
    two_clients: Served,
) -> None:
    served = two_clients
    cards_for(served, EHR_A)
    m02_of_b = cards_for(served, EHR_B)["M02"]
    assert feedback_by(served, EHR_B, m02_of_b["uuid"])[0] == 200

    assert "M02" not in cards_for(served, EHR_B)  # B's clinicians decided: withheld for B
    assert "M02" in cards_for(served, EHR_A)  # A's clinicians did not: still shown to A
    (override_row,) = served.store.override_rows()
    assert override_row["client"] == EHR_B.iss

    # a request with one entry on a card never issued to A is refused whole: nothing stored
    m02_of_a = cards_for(served, EHR_A)["M02"]
    status, answer = feedback_by(served, EHR_A, m02_of_a["uuid"], str(uuid.uuid4()))
    assert status == 400 and answer["issue"][0]["expression"] == ["feedback[1].card"]
    assert served.store.counts()["feedback"] == 1 and len(served.store.override_rows()) == 1

    assert feedback_by(served, EHR_A, m02_of_a["uuid"])[0] == 200
    assert "M02" not in cards_for(served, EHR_A)
    withheld = [row["client"] for row in served.store.audit_rows() if row["withheld"]]
    assert withheld == [EHR_B.iss, EHR_A.iss]
