"""EHR JWT authentication (cds_service.security): real keys, real signatures, a real JWKS server.

Tagged with CDS Hooks 2.0 requirement ids (cds-hooks_2.0@N, Inferno CDS Hooks test kit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import stat
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.security import (
    AuthenticatedClient,
    Authenticator,
    AuthError,
    ClientSettings,
    InMemoryReplayCache,
    clients_from_document,
    load_clients,
)
from cds_service.security.jwt_parts import RefusalReason
from icaht_demo.ehr_client import create_demo_client, sign_demo_jwt

AUDIENCE = "https://cds.example.org/cds-services/icaht-patient-view"
ISS = "https://ehr.example.org"
FHIR = "https://ehr.example.org/fhir"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- keys, tokens, clock, server


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Tokens:
    """Signs tokens and remembers them, so the log check can look for every one of them."""

    clock: Clock
    issued: list[str] = field(default_factory=list)

    def make(
        self,
        key: Any,
        alg: str,
        kid: str | None,
        *,
        claims: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
    ) -> str:
        issued_at = int(self.clock.now.timestamp())
        payload = {
            "iss": ISS,
            "sub": "ehr-client",
            "aud": AUDIENCE,
            "iat": issued_at,
            "exp": issued_at + 300,
            "jti": str(uuid.uuid4()),
            **(claims or {}),
        }
        for name in drop:
            payload.pop(name)
        header = {"typ": "JWT", **({"kid": kid} if kid else {}), **(headers or {})}
        token = jwt.encode(payload, key, algorithm=alg, headers=header)
        self.issued.append(token)
        return token

    def raw(self, header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
        token = ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode())])
        token += "." + b64(signature)
        self.issued.append(token)
        return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving JWKS documents by path; counts every request."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.redirects: dict[str, str] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                if self.path in owner.redirects:
                    self.send_response(302)
                    self.send_header("Location", owner.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                document = owner.documents.get(self.path)
                body = json.dumps(document or {}).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock, caplog: pytest.LogCaptureFixture) -> Iterator[Tokens]:
    caplog.set_level(logging.DEBUG)
    issued = Tokens(clock)
    yield issued
    # never log a token: not whole, not its signature, not its payload segment
    text = caplog.text
    for token in issued.issued:
        for part in (token, *[p for p in token.split(".") if len(p) > 16]):
            assert part not in text


@pytest.fixture
def inline_client(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> ClientSettings:
    jwks = {"keys": [public_jwk(rsa_key, "rsa-1"), public_jwk(ec_key, "ec-1")]}
    return ClientSettings(ISS, (), jwks, (FHIR,))


def authenticator(
    clients: list[ClientSettings], clock: Clock, **options: Any
) -> tuple[Authenticator, InMemoryReplayCache]:
    cache = InMemoryReplayCache()
    return Authenticator(clients, cache, clock=clock, **options), cache


@pytest.fixture
def auth(inline_client: ClientSettings, clock: Clock) -> Authenticator:
    return authenticator([inline_client], clock)[0]


def bearer(token: str) -> str:
    return f"Bearer {token}"


def rejected(auth: Authenticator, header: str | None, audience: str = AUDIENCE) -> str:
    with pytest.raises(AuthError) as raised:
        auth.authenticate(header, audience)
    return str(raised.value)


# ---------------------------------------------------------------- the Authorization header


def test_no_authorization_header_is_rejected(auth: Authenticator, tokens: Tokens) -> None:
    """cds-hooks_2.0@176 @178: every call carries the JWT as a Bearer token."""
    assert "no Authorization" in rejected(auth, None)


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token a.b.c"])
def test_malformed_authorization_header_is_rejected(
    auth: Authenticator, tokens: Tokens, header: str
) -> None:
    """cds-hooks_2.0@178."""
    assert "Bearer" in rejected(auth, header)


@pytest.mark.parametrize(
    "token", ["not-a-jwt", "a.b", "a.b.c.d", "eyJhbGciOiJFUzM4NCJ9.@@@.sig", "x" * 20_000]
)
def test_malformed_jwt_is_rejected(auth: Authenticator, tokens: Tokens, token: str) -> None:
    rejected(auth, bearer(token))


def test_garbage_segments_are_rejected(auth: Authenticator, tokens: Tokens) -> None:
    token = tokens.raw({"alg": "ES384", "kid": "ec-1"}, {"iss": ISS}, b"junk")
    rejected(auth, bearer(token.replace(token.split(".")[0], "bm90LWpzb24")))


def test_bearer_scheme_is_case_insensitive(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """RFC 6750 / RFC 9110: the auth-scheme is case-insensitive."""
    token = tokens.make(ec_key, "ES384", "ec-1")
    assert auth.authenticate(f"bearer {token}", AUDIENCE).iss == ISS


# ---------------------------------------------------------------- algorithms


def test_alg_none_is_rejected(auth: Authenticator, tokens: Tokens, clock: Clock) -> None:
    """cds-hooks_2.0@201: unsecured JWS never accepted."""
    issued_at = int(clock.now.timestamp())
    payload = {"iss": ISS, "aud": AUDIENCE, "iat": issued_at, "exp": issued_at + 60, "jti": "n1"}
    token = tokens.raw({"alg": "none", "typ": "JWT", "kid": "ec-1"}, payload, b"")
    assert "alg" in rejected(auth, bearer(token))


def test_hs256_signed_with_the_rsa_public_key_is_rejected(
    auth: Authenticator, tokens: Tokens, clock: Clock, rsa_key: rsa.RSAPrivateKey
) -> None:
    """cds-hooks_2.0@203: the classic key-confusion forgery (HMAC keyed with the public PEM)."""
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issued_at = int(clock.now.timestamp())
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    payload = {"iss": ISS, "aud": AUDIENCE, "iat": issued_at, "exp": issued_at + 60, "jti": "h1"}
    signing_input = ".".join(b64(json.dumps(part).encode()) for part in (header, payload))
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = tokens.raw(header, payload, signature)
    assert token.startswith(signing_input)
    assert "alg" in rejected(auth, bearer(token))


def test_rs256_is_rejected(auth: Authenticator, tokens: Tokens, rsa_key: rsa.RSAPrivateKey) -> None:
    """Only RS384 and ES384 (cds-hooks_2.0@205)."""
    token = tokens.make(rsa_key, "RS256", "rsa-1")
    assert "alg" in rejected(auth, bearer(token))


def test_alg_must_match_the_key_type(
    auth: Authenticator, tokens: Tokens, rsa_key: rsa.RSAPrivateKey
) -> None:
    """An RS384 token naming the EC key's kid: the key decides the algorithm."""
    token = tokens.make(rsa_key, "RS384", "ec-1")
    assert "key type" in rejected(auth, bearer(token))


def test_signature_by_another_key_is_rejected(auth: Authenticator, tokens: Tokens) -> None:
    impostor = ec.generate_private_key(ec.SECP384R1())
    token = tokens.make(impostor, "ES384", "ec-1")
    assert "InvalidSignatureError" in rejected(auth, bearer(token))


def test_valid_rs384_is_accepted(
    auth: Authenticator, tokens: Tokens, rsa_key: rsa.RSAPrivateKey
) -> None:
    """cds-hooks_2.0@176 @205."""
    token = tokens.make(rsa_key, "RS384", "rsa-1")
    client = auth.authenticate(bearer(token), AUDIENCE)
    assert isinstance(client, AuthenticatedClient)
    assert (client.iss, client.sub, client.fhir_servers) == (ISS, "ehr-client", (FHIR,))
    assert client.jti == jwt.decode(token, options={"verify_signature": False})["jti"]


def test_valid_es384_via_allow_listed_jku_is_accepted(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """cds-hooks_2.0@185 @198 @205: keys from the client's JWKS URL named by jku."""
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, "ec-remote")]}
    url = jwks_server.url("/jwks.json")
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock)
    token = tokens.make(ec_key, "ES384", "ec-remote", headers={"jku": url})
    assert auth.authenticate(bearer(token), AUDIENCE).iss == ISS
    second = tokens.make(ec_key, "ES384", "ec-remote", headers={"jku": url})
    auth.authenticate(bearer(second), AUDIENCE)
    assert jwks_server.requests == ["/jwks.json"]  # cached


def test_configured_jwks_url_is_used_without_jku(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """cds-hooks_2.0@199: without jku, the key set known out-of-band (configured) is used."""
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, "ec-remote")]}
    url = jwks_server.url("/jwks.json")
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock)
    assert auth.authenticate(bearer(tokens.make(ec_key, "ES384", "ec-remote")), AUDIENCE)


# ---------------------------------------------------------------- header members


def test_missing_kid_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@182."""
    token = tokens.make(ec_key, "ES384", None)
    assert "kid" in rejected(auth, bearer(token))


def test_unknown_kid_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = tokens.make(ec_key, "ES384", "no-such-key")
    assert "unknown kid" in rejected(auth, bearer(token))


def test_typ_other_than_jwt_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@184."""
    token = tokens.make(ec_key, "ES384", "ec-1", headers={"typ": "at+jwt"})
    assert "typ" in rejected(auth, bearer(token))


def test_crit_header_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """RFC 7515 4.1.11: extensions we do not understand make the token invalid."""
    token = tokens.make(ec_key, "ES384", "ec-1", headers={"crit": ["exp"]})
    rejected(auth, bearer(token))


def test_jku_not_on_the_allow_list_is_never_fetched(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """cds-hooks_2.0@195: jku checked against the issuer's allow-list BEFORE any request (SSRF)."""
    allowed, other = jwks_server.url("/jwks.json"), jwks_server.url("/attacker.json")
    jwks_server.documents["/attacker.json"] = {"keys": [public_jwk(ec_key, "ec-x")]}
    auth, _ = authenticator([ClientSettings(ISS, (allowed,), None, (FHIR,))], clock)
    for jku in (other, allowed + "?", allowed.upper(), allowed + "/", "http://169.254.169.254/"):
        token = tokens.make(ec_key, "ES384", "ec-x", headers={"jku": jku})
        assert "allow-list" in rejected(auth, bearer(token))
    assert jwks_server.requests == []


def test_jku_of_another_configured_client_is_not_allowed(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """Allow-lists are per issuer: client A cannot point at client B's JWKS."""
    url_b = jwks_server.url("/b.json")
    jwks_server.documents["/b.json"] = {"keys": [public_jwk(ec_key, "ec-b")]}
    clients = [
        ClientSettings(ISS, (jwks_server.url("/a.json"),), None, (FHIR,)),
        ClientSettings(
            "https://other-ehr.example.org", (url_b,), None, ("https://o.example/fhir",)
        ),
    ]
    auth, _ = authenticator(clients, clock)
    token = tokens.make(ec_key, "ES384", "ec-b", headers={"jku": url_b})
    assert "allow-list" in rejected(auth, bearer(token))
    assert jwks_server.requests == []


# ---------------------------------------------------------------- claims


def test_unknown_iss_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@187 @195."""
    token = tokens.make(ec_key, "ES384", "ec-1", claims={"iss": "https://evil.example.com"})
    assert "iss" in rejected(auth, bearer(token))


def test_missing_iss_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = tokens.make(ec_key, "ES384", "ec-1", drop=("iss",))
    assert "iss" in rejected(auth, bearer(token))


def test_wrong_aud_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@189 @196: aud is the URL of the endpoint being invoked."""
    other = "https://cds.example.org/cds-services/icaht-order-sign"
    token = tokens.make(ec_key, "ES384", "ec-1", claims={"aud": other})
    assert "InvalidAudienceError" in rejected(auth, bearer(token))


def test_aud_as_array_containing_the_endpoint_is_accepted(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@189: aud may be a string or an array of strings."""
    token = tokens.make(ec_key, "ES384", "ec-1", claims={"aud": ["https://x.example", AUDIENCE]})
    assert auth.authenticate(bearer(token), AUDIENCE).iss == ISS


def test_expired_beyond_the_leeway_is_rejected(
    auth: Authenticator, tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@190."""
    token = tokens.make(ec_key, "ES384", "ec-1")  # exp = now + 300
    clock.advance(300 + 61)
    assert "expired" in rejected(auth, bearer(token))


def test_expired_within_the_leeway_is_accepted(
    auth: Authenticator, tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = tokens.make(ec_key, "ES384", "ec-1")
    clock.advance(300 + 45)
    assert auth.authenticate(bearer(token), AUDIENCE).iss == ISS


def test_missing_exp_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = tokens.make(ec_key, "ES384", "ec-1", drop=("exp",))
    assert "MissingRequiredClaimError" in rejected(auth, bearer(token))


def test_iat_in_the_future_is_rejected(
    auth: Authenticator, tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@191."""
    issued_at = int(clock.now.timestamp()) + 120
    claims = {"iat": issued_at, "exp": issued_at + 300}
    token = tokens.make(ec_key, "ES384", "ec-1", claims=claims)
    assert "future" in rejected(auth, bearer(token))


def test_iat_slightly_in_the_future_is_accepted(
    auth: Authenticator, tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """Clock skew within the leeway."""
    issued_at = int(clock.now.timestamp()) + 30
    token = tokens.make(ec_key, "ES384", "ec-1", claims={"iat": issued_at, "exp": issued_at + 60})
    assert auth.authenticate(bearer(token), AUDIENCE).iss == ISS


def test_missing_iat_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = tokens.make(ec_key, "ES384", "ec-1", drop=("iat",))
    assert "MissingRequiredClaimError" in rejected(auth, bearer(token))


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_non_numeric_times_are_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey, claim: str
) -> None:
    token = tokens.make(ec_key, "ES384", "ec-1", claims={claim: "soon"})
    assert claim in rejected(auth, bearer(token))


def test_overlong_lifetime_is_rejected(
    auth: Authenticator, tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """A token valid for a year would pin a replay-cache row for a year."""
    exp = int(clock.now.timestamp()) + 365 * 86400
    token = tokens.make(ec_key, "ES384", "ec-1", claims={"exp": exp})
    assert "exp too far" in rejected(auth, bearer(token))


def test_missing_jti_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@192."""
    token = tokens.make(ec_key, "ES384", "ec-1", drop=("jti",))
    assert "MissingRequiredClaimError" in rejected(auth, bearer(token))


def test_replayed_jti_is_rejected(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """cds-hooks_2.0@192: the jti nonce protects against replay."""
    token = tokens.make(ec_key, "ES384", "ec-1")
    auth.authenticate(bearer(token), AUDIENCE)
    assert "replayed" in rejected(auth, bearer(token))


def test_replay_cache_keeps_jti_until_exp_plus_leeway(
    inline_client: ClientSettings, tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    claims: list[tuple[str, str, datetime]] = []

    class Recorder:
        def claim(self, iss: str, jti: str, expires_at: datetime) -> bool:
            claims.append((iss, jti, expires_at))
            return True

    auth = Authenticator([inline_client], Recorder(), clock=clock)
    token = tokens.make(ec_key, "ES384", "ec-1", claims={"jti": "abc"})
    auth.authenticate(bearer(token), AUDIENCE)
    assert claims == [(ISS, "abc", clock.now + timedelta(seconds=300 + 60))]


def test_a_forged_token_never_reaches_the_replay_cache(
    inline_client: ClientSettings, tokens: Tokens, clock: Clock
) -> None:
    """Only verified tokens claim a jti: forgeries cannot fill the cache or burn real jtis."""

    class Refuse:
        def claim(self, iss: str, jti: str, expires_at: datetime) -> bool:
            raise AssertionError("claim() called for an unverified token")

    auth = Authenticator([inline_client], Refuse(), clock=clock)
    token = tokens.make(ec.generate_private_key(ec.SECP384R1()), "ES384", "ec-1")
    rejected(auth, bearer(token))


# ---------------------------------------------------------------- JWKS fetching


def test_key_rotation_refetches_the_jwks_once(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """A new kid in the client's JWKS is found by one refetch; unknown kids do not hammer it."""
    url = jwks_server.url("/jwks.json")
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, "2026-a")]}
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock)
    auth.authenticate(
        bearer(tokens.make(ec_key, "ES384", "2026-a", headers={"jku": url})), AUDIENCE
    )
    assert len(jwks_server.requests) == 1

    new_key = ec.generate_private_key(ec.SECP384R1())
    jwks_server.documents["/jwks.json"] = {
        "keys": [public_jwk(ec_key, "2026-a"), public_jwk(new_key, "2026-b")]
    }
    clock.advance(15)  # past the refetch interval, well within the cache lifespan
    token = tokens.make(new_key, "ES384", "2026-b", headers={"jku": url})
    assert auth.authenticate(bearer(token), AUDIENCE).iss == ISS
    assert len(jwks_server.requests) == 2

    # a made-up kid right after: one refetch at most per interval, none here
    forged = tokens.make(new_key, "ES384", "made-up", headers={"jku": url})
    assert "unknown kid" in rejected(auth, bearer(forged))
    assert len(jwks_server.requests) == 2


def test_jwks_is_refetched_after_its_lifespan(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    url = jwks_server.url("/jwks.json")
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, "k")]}
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock, jwks_lifespan=300)
    auth.authenticate(bearer(tokens.make(ec_key, "ES384", "k")), AUDIENCE)
    clock.advance(301)
    jwks_server.documents["/jwks.json"] = {"keys": []}  # the key was revoked
    assert "unknown kid" in rejected(auth, bearer(tokens.make(ec_key, "ES384", "k")))
    assert len(jwks_server.requests) == 2


class SilentServer:
    """Accepts TCP connections, reads the request and never answers: a JWKS host that hangs.

    Records per connection whether the client hung up (EOF) before `hang_up_wait` seconds: the
    behaviour the timeout tests assert, instead of timing the client with a wall clock."""

    hang_up_wait = 60.0  # far beyond any timeout under test: only a client that hangs waits

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.accepted = 0
        self.hung_up = threading.Semaphore(0)  # released once per connection the client closed
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/jwks.json"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed by the fixture
            self.accepted += 1
            threading.Thread(target=self._wait_for_hang_up, args=(connection,), daemon=True).start()

    def _wait_for_hang_up(self, connection: socket.socket) -> None:
        connection.settimeout(self.hang_up_wait)
        with connection:
            try:
                while connection.recv(4096):  # the request, then nothing until EOF
                    pass
            except OSError:
                return  # no hang-up within hang_up_wait (or a reset): not counted
            self.hung_up.release()

    def wait_for_hang_ups(self, count: int) -> bool:
        """True once `count` connections were closed by the client (each within hang_up_wait)."""
        return all(self.hung_up.acquire(timeout=self.hang_up_wait) for _ in range(count))


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.listener.close()


def test_jwks_server_hanging_fails_within_the_timeout(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, silent_server: SilentServer
) -> None:
    """The fetch gives up on its read timeout and hangs up; while the host is down, the next
    request fails at once without connecting again. Asserted on what the host saw (no wall-clock
    bound: a loaded CI machine must not turn this red; pytest-timeout catches a real hang)."""
    url = silent_server.url
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock, jwks_timeout=0.5)
    token = tokens.make(ec_key, "ES384", "k", headers={"jku": url})
    reason = rejected(auth, bearer(token))
    assert "JWKS unavailable" in reason
    assert "ReadTimeout" in reason and "read timeout=0.5" in reason  # the configured timeout
    assert silent_server.wait_for_hang_ups(1), "the client did not give up the connection"
    assert silent_server.accepted == 1
    # and while it is down, the next request fails fast instead of waiting again: no new
    # connection within the refetch interval (the test clock does not move)
    again = rejected(auth, bearer(tokens.make(ec_key, "ES384", "k", headers={"jku": url})))
    assert "not retrying yet" in again
    assert silent_server.accepted == 1


def test_jwks_server_down_is_an_auth_error(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """A refused connection fails as such (ConnectionError), not by waiting out a timeout."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/jwks.json"
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock, jwks_timeout=0.5)
    reason = rejected(auth, bearer(tokens.make(ec_key, "ES384", "k")))
    assert "JWKS unavailable" in reason
    assert "ConnectionError" in reason and "Timeout" not in reason


def test_a_second_configured_jwks_url_is_used_when_the_first_is_down(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}/jwks.json"
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, "k")]}
    urls = (down, jwks_server.url("/jwks.json"))
    auth, _ = authenticator([ClientSettings(ISS, urls, None, (FHIR,))], clock, jwks_timeout=0.5)
    assert auth.authenticate(bearer(tokens.make(ec_key, "ES384", "k")), AUDIENCE).iss == ISS


def test_jwks_redirects_are_not_followed(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """An allow-listed URL answering 3xx cannot lead the service elsewhere."""
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, "k")]}
    jwks_server.redirects["/moved.json"] = jwks_server.url("/jwks.json")
    url = jwks_server.url("/moved.json")
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock)
    rejected(auth, bearer(tokens.make(ec_key, "ES384", "k", headers={"jku": url})))
    assert jwks_server.requests == ["/moved.json"]


# ---------------------------------------------------------------- fhirServer allow-list


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org/fhir",
        "https://ehr.example.org/fhir/",
        "HTTPS://EHR.Example.ORG/fhir",
        "https://ehr.example.org:443/fhir",
    ],
)
def test_fhir_server_allowed(url: str) -> None:
    """docs/design.md §4: the fhirServer must belong to the authenticated issuer."""
    client = AuthenticatedClient(ISS, None, "j", (FHIR,))
    assert client.allows_fhir_server(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://other.example.org/fhir",
        "http://ehr.example.org/fhir",
        "https://ehr.example.org:8443/fhir",
        "https://ehr.example.org/fhir2",
        "https://ehr.example.org/FHIR",
        "https://ehr.example.org/",
    ],
)
def test_fhir_server_not_allowed(url: str) -> None:
    client = AuthenticatedClient(ISS, None, "j", (FHIR,))
    assert not client.allows_fhir_server(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org.evil.com/fhir",
        "https://ehr.example.org/fhir.evil.com",
        "https://ehr.example.org/fhir/../other",
        "https://ehr.example.org/fhir/%2e%2e/other",
        "https://ehr.example.org/fhir/%2E%2E/other",
        "https://ehr.example.org/fhir/./",
        "https://ehr.example.org/fhir%2fadmin",
        "https://ehr.example.org/fhir\\..\\other",
        "https://ehr.example.org/fhir/extra",
        "https://ehr.example.org//fhir",
        "https://ehr.example.org@evil.com/fhir",
        "https://evil.com@ehr.example.org/fhir",
        "https://ehr.example.org/fhir?x=https://ehr.example.org/fhir",
        "https://ehr.example.org/fhir#frag",
        "https://ehr.example.org/fhir\n",
        " https://ehr.example.org/fhir",
        "https://ehr.example.org./fhir",
        "https://ehr.example.org:0/fhir",
        "//ehr.example.org/fhir",
        "ehr.example.org/fhir",
        "file:///etc/passwd",
        "",
    ],
)
def test_fhir_server_prefix_and_path_tricks_are_not_allowed(url: str) -> None:
    client = AuthenticatedClient(ISS, None, "j", (FHIR,))
    assert not client.allows_fhir_server(url)


SUSPICIOUS = "/.%2eEfF5cC?#@:\\ aA0"


def same_target_as_fhir(url: str) -> bool:
    """Independent oracle: the URL reaches host ehr.example.org:443, path /fhir, nothing else."""
    parts = urlsplit(url)
    return (
        parts.scheme.lower() == "https"
        and parts.hostname == "ehr.example.org"
        and "@" not in parts.netloc
        and parts.port in (None, 443)
        and parts.path.rstrip("/") == "/fhir"
        and not parts.query
        and not parts.fragment
    )


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=SUSPICIOUS, max_size=12))
def test_nothing_appended_to_an_allowed_url_reaches_another_target(suffix: str) -> None:
    client = AuthenticatedClient(ISS, None, "j", (FHIR,))
    if client.allows_fhir_server(FHIR + suffix):
        assert same_target_as_fhir(FHIR + suffix)
        assert suffix.strip("/") == ""


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=SUSPICIOUS + "-lveiom", max_size=12))
def test_nothing_inserted_after_the_host_reaches_another_target(infix: str) -> None:
    url = f"https://ehr.example.org{infix}/fhir"
    client = AuthenticatedClient(ISS, None, "j", (FHIR,))
    if client.allows_fhir_server(url):
        assert same_target_as_fhir(url)


def test_allowed_fhir_server_returns_the_configured_url() -> None:
    """The FHIR client should call the configured URL, not the caller's spelling of it."""
    client = AuthenticatedClient(ISS, None, "j", (FHIR,))
    assert client.allowed_fhir_server("HTTPS://EHR.EXAMPLE.ORG:443/fhir/") == FHIR
    assert client.allowed_fhir_server("https://ehr.example.org.evil.com/fhir") is None


def test_fhir_server_of_the_authenticated_client(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    client = auth.authenticate(bearer(tokens.make(ec_key, "ES384", "ec-1")), AUDIENCE)
    assert client.allows_fhir_server(FHIR + "/")
    assert not client.allows_fhir_server("https://attacker.example/fhir")


# ---------------------------------------------------------------- logging, config, demo


def test_rejections_are_logged_with_a_reason_and_without_the_token(
    auth: Authenticator,
    tokens: Tokens,
    ec_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = tokens.make(ec_key, "ES384", "ec-1", claims={"aud": "https://wrong.example"})
    rejected(auth, bearer(token))
    messages = [r.getMessage() for r in caplog.records if r.name == "cds_service.security"]
    assert messages == ["EHR JWT rejected: JWT verification failed (InvalidAudienceError)"]
    # the `tokens` fixture then checks the token appears nowhere in the captured log


def test_demo_client_key_file_and_signed_jwt(tmp_path: Path, tokens: Tokens) -> None:
    demo = create_demo_client(tmp_path / "state", ["http://127.0.0.1:8090/fhir"])
    assert stat.S_IMODE(demo.private_key_path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in demo.private_key_path.read_bytes()
    assert "PRIVATE" not in demo.clients_path.read_text()
    clients = load_clients(demo.clients_path)
    auth = Authenticator(clients, InMemoryReplayCache())
    token = sign_demo_jwt(demo.private_key_path, demo.iss, AUDIENCE, demo.kid)
    tokens.issued.append(token)
    assert jwt.get_unverified_header(token)["alg"] == "ES384"
    client = auth.authenticate(bearer(token), AUDIENCE)
    assert client.allows_fhir_server("http://127.0.0.1:8090/fhir/")
    again = create_demo_client(tmp_path / "state", ["http://127.0.0.1:8090/fhir"])
    assert again.kid == demo.kid  # the key is kept across demo runs


def test_authenticator_rejects_a_duplicate_issuer(inline_client: ClientSettings) -> None:
    with pytest.raises(ValueError, match="twice"):
        Authenticator([inline_client, inline_client], InMemoryReplayCache())


def test_concurrent_authentications_share_one_jwks_fetch(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """gthread workers: 16 threads at once, one fetch, every token accepted once."""
    url = jwks_server.url("/jwks.json")
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, "k")]}
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock)
    batch = [tokens.make(ec_key, "ES384", "k", headers={"jku": url}) for _ in range(16)]
    results: list[str] = []

    def run(token: str) -> None:
        results.append(auth.authenticate(bearer(token), AUDIENCE).jti)

    threads = [threading.Thread(target=run, args=(t,)) for t in batch]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 16
    assert jwks_server.requests == ["/jwks.json"]


# ---------------------------------------------------------------- EHRs as they sign (issue 18)

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def reason_of(auth: Authenticator, header: str, audience: str = AUDIENCE) -> RefusalReason:
    with pytest.raises(AuthError) as raised:
        auth.authenticate(header, audience)
    return raised.value.reason


def sandbox_token(tokens: Tokens, key: ec.EllipticCurvePrivateKey, kid: str, jku: str) -> str:
    """As the CDS Hooks Sandbox signs: ES384, typ JWT, a uuid kid and its own jku; iss, aud
    (the endpoint), exp, iat, jti (no sub)."""
    return tokens.make(
        key, "ES384", kid, claims={"iss": SANDBOX_ISS}, drop=("sub",), headers={"jku": jku}
    )


def sandbox_client(key: ec.EllipticCurvePrivateKey, kid: str, *jwks_urls: str) -> ClientSettings:
    """The Sandbox's public key pinned inline in a clients file, with optional jwks_url(s)."""
    item: dict[str, Any] = {
        "iss": SANDBOX_ISS,
        "jwks": {"keys": [public_jwk(key, kid) | {"alg": "ES384"}]},
        "fhir_servers": [FHIR],
    }
    if jwks_urls:
        item["jwks_url"] = list(jwks_urls)
    (client,) = clients_from_document({"clients": [item]})
    return client


def test_sandbox_token_with_its_jku_is_verified_by_the_pinned_key_without_fetching(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """Issue 18: the Sandbox's jku is on no allow-list (no jwks_url configured); the kid is
    pinned, so the pinned key verifies the token and nothing is fetched: neither the Sandbox's
    URL (no network here: a fetch would fail) nor a local URL that counts every request."""
    kid = str(uuid.uuid4())
    auth, _ = authenticator([sandbox_client(ec_key, kid)], clock)
    token = sandbox_token(tokens, ec_key, kid, SANDBOX_JKU)
    assert jwt.get_unverified_header(token) == {
        "alg": "ES384",
        "typ": "JWT",
        "kid": kid,
        "jku": SANDBOX_JKU,
    }
    client = auth.authenticate(bearer(token), AUDIENCE)
    assert (client.iss, client.sub) == (SANDBOX_ISS, None)
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, kid)]}
    local = sandbox_token(tokens, ec_key, kid, jwks_server.url("/jwks.json"))
    assert auth.authenticate(bearer(local), AUDIENCE).iss == SANDBOX_ISS
    assert jwks_server.requests == []


def test_pinned_key_wins_over_an_allow_listed_jku(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """Issue 18: jku allow-listed AND the kid pinned -> the pinned key, no request at all
    (the allow-listed set would serve the key too, so only the pinned path explains no fetch)."""
    kid = str(uuid.uuid4())
    url = jwks_server.url("/jwks.json")
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(ec_key, kid)]}
    auth, _ = authenticator([sandbox_client(ec_key, kid, url)], clock)
    for _ in range(2):
        token = sandbox_token(tokens, ec_key, kid, url)
        assert auth.authenticate(bearer(token), AUDIENCE).iss == SANDBOX_ISS
    assert jwks_server.requests == []


def test_pinned_key_is_not_bypassed_by_a_jku_serving_another_key(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """A token signed by another key under the pinned kid, its jku (even allow-listed) serving
    that other key: the pinned key decides, the signature fails, nothing is fetched."""
    kid = str(uuid.uuid4())
    impostor = ec.generate_private_key(ec.SECP384R1())
    url = jwks_server.url("/jwks.json")
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(impostor, kid)]}
    auth, _ = authenticator([sandbox_client(ec_key, kid, url)], clock)
    for jku in (url, SANDBOX_JKU):
        token = sandbox_token(tokens, impostor, kid, jku)
        assert reason_of(auth, bearer(token)) is RefusalReason.BAD_SIGNATURE
    assert jwks_server.requests == []


def test_kid_not_pinned_and_jku_allow_listed_is_fetched(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    """Key rotation at a jku-sending EHR: a new kid, not pinned, from the allow-listed set."""
    rotated = ec.generate_private_key(ec.SECP384R1())
    url = jwks_server.url("/jwks.json")
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(rotated, "rotated")]}
    auth, _ = authenticator([sandbox_client(ec_key, "pinned", url)], clock)
    token = sandbox_token(tokens, rotated, "rotated", url)
    assert auth.authenticate(bearer(token), AUDIENCE).iss == SANDBOX_ISS
    assert jwks_server.requests == ["/jwks.json"]


def test_kid_not_pinned_and_jku_not_allow_listed_is_refused_unfetched(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    rotated = ec.generate_private_key(ec.SECP384R1())
    allowed, other = jwks_server.url("/jwks.json"), jwks_server.url("/other.json")
    jwks_server.documents["/other.json"] = {"keys": [public_jwk(rotated, "rotated")]}
    for client in (sandbox_client(ec_key, "pinned"), sandbox_client(ec_key, "pinned", allowed)):
        auth, _ = authenticator([client], clock)
        for jku in (other, SANDBOX_JKU):
            token = sandbox_token(tokens, rotated, "rotated", jku)
            assert reason_of(auth, bearer(token)) is RefusalReason.JKU_NOT_ALLOWED
    assert jwks_server.requests == []


def test_pinned_key_still_fixes_the_algorithm(
    tokens: Tokens, clock: Clock, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """An RS384 token naming the pinned EC key's kid, with a jku: refused (alg vs key type)."""
    auth, _ = authenticator([sandbox_client(ec_key, "k")], clock)
    token = tokens.make(
        rsa_key, "RS384", "k", claims={"iss": SANDBOX_ISS}, headers={"jku": SANDBOX_JKU}
    )
    assert reason_of(auth, bearer(token)) is RefusalReason.ALG_MISMATCH


EPIC_KID = "ab+cd/ef=="
SITE_AUDIENCE = "urn:example-site:icaht-cds"


def epic_client(
    key: rsa.RSAPrivateKey, *, audience: Any = None, jwks_url: str = ""
) -> ClientSettings:
    item: dict[str, Any] = {"iss": ISS, "fhir_servers": [FHIR]}
    if jwks_url:
        item["jwks_url"] = jwks_url
    else:
        item["jwks"] = {"keys": [public_jwk(key, EPIC_KID) | {"alg": "RS384"}]}
    if audience is not None:
        item["audience"] = audience
    (client,) = clients_from_document({"clients": [item]})
    return client


def epic_token(tokens: Tokens, key: rsa.RSAPrivateKey, clock: Clock, **claims: Any) -> str:
    """Epic-style: RS384 (2048-bit RSA), a base64 kid with + / =, sub, nbf, a site audience."""
    now = int(clock.now.timestamp())
    payload = {"sub": "epic-client-id", "nbf": now, "aud": SITE_AUDIENCE, **claims}
    return tokens.make(key, "RS384", EPIC_KID, claims=payload)


def test_epic_style_token_with_a_site_audience_is_accepted(
    tokens: Tokens, clock: Clock, rsa_key: rsa.RSAPrivateKey
) -> None:
    """Issue 18: the kid's + / = reach the key lookup untouched; aud is the configured site
    audience (string, or a list naming it), the endpoint URL is still accepted too."""
    assert rsa_key.key_size == 2048
    auth, _ = authenticator([epic_client(rsa_key, audience=[SITE_AUDIENCE])], clock)
    token = epic_token(tokens, rsa_key, clock)
    assert jwt.get_unverified_header(token)["kid"] == EPIC_KID
    client = auth.authenticate(bearer(token), AUDIENCE)
    assert (client.iss, client.sub) == (ISS, "epic-client-id")
    for aud in (["https://other.example", SITE_AUDIENCE], AUDIENCE):
        assert auth.authenticate(bearer(epic_token(tokens, rsa_key, clock, aud=aud)), AUDIENCE)


def test_epic_style_kid_is_looked_up_as_is_in_a_fetched_jwks(
    tokens: Tokens, clock: Clock, rsa_key: rsa.RSAPrivateKey, jwks_server: JwksServer
) -> None:
    jwks_server.documents["/jwks.json"] = {"keys": [public_jwk(rsa_key, EPIC_KID)]}
    client = epic_client(rsa_key, audience=SITE_AUDIENCE, jwks_url=jwks_server.url("/jwks.json"))
    auth, _ = authenticator([client], clock)
    assert auth.authenticate(bearer(epic_token(tokens, rsa_key, clock)), AUDIENCE).iss == ISS
    near_miss = tokens.make(rsa_key, "RS384", "ab cd/ef==", claims={"aud": SITE_AUDIENCE})
    assert reason_of(auth, bearer(near_miss)) is RefusalReason.UNKNOWN_KID
    assert jwks_server.requests == ["/jwks.json"]


def test_site_audience_not_configured_is_refused(
    tokens: Tokens, clock: Clock, rsa_key: rsa.RSAPrivateKey
) -> None:
    for client in (epic_client(rsa_key), epic_client(rsa_key, audience="urn:another-site")):
        auth, _ = authenticator([client], clock)
        token = epic_token(tokens, rsa_key, clock)
        assert reason_of(auth, bearer(token)) is RefusalReason.BAD_AUDIENCE


def test_site_audience_of_another_client_is_refused(
    tokens: Tokens, clock: Clock, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """Audiences are per client: client B's site audience does not open client A."""
    other = clients_from_document(
        {
            "clients": [
                {
                    "iss": "https://other-ehr.example.org",
                    "jwks": {"keys": [public_jwk(ec_key, "o")]},
                    "fhir_servers": ["https://o.example/fhir"],
                    "audience": SITE_AUDIENCE,
                }
            ]
        }
    )
    auth, _ = authenticator([epic_client(rsa_key), *other], clock)
    assert reason_of(auth, bearer(epic_token(tokens, rsa_key, clock))) is RefusalReason.BAD_AUDIENCE


def test_nbf_is_checked_with_the_leeway(
    tokens: Tokens, clock: Clock, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth, _ = authenticator([epic_client(rsa_key, audience=SITE_AUDIENCE)], clock)
    now = int(clock.now.timestamp())
    soon = epic_token(tokens, rsa_key, clock, nbf=now + 60, iat=now)
    assert auth.authenticate(bearer(soon), AUDIENCE).iss == ISS  # within the 60 s leeway
    later = epic_token(tokens, rsa_key, clock, nbf=now + 61, iat=now)
    assert reason_of(auth, bearer(later)) is RefusalReason.NOT_YET_VALID


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"header": None}, RefusalReason.MISSING_TOKEN),
        ({"header": "Basic abc"}, RefusalReason.MISSING_TOKEN),
        ({"header": "Bearer not-a-jwt"}, RefusalReason.MALFORMED),
        ({"kid": None}, RefusalReason.BAD_HEADER),
        ({"claims": {"iss": "https://evil.example"}}, RefusalReason.UNKNOWN_ISSUER),
        ({"kid": "nope"}, RefusalReason.UNKNOWN_KID),
        ({"claims": {"aud": "https://wrong.example"}}, RefusalReason.BAD_AUDIENCE),
        ({"drop": ("jti",)}, RefusalReason.BAD_CLAIMS),
        ({"claims": {"exp": int(NOW.timestamp()) - 61}}, RefusalReason.EXPIRED),
        ({"claims": {"iat": int(NOW.timestamp()) + 61}}, RefusalReason.NOT_YET_VALID),
        ({"claims": {"exp": int(NOW.timestamp()) + 7200}}, RefusalReason.LIFETIME),
        ({"key": "impostor"}, RefusalReason.BAD_SIGNATURE),
    ],
)
def test_every_refusal_carries_its_reason_class(
    auth: Authenticator,
    tokens: Tokens,
    ec_key: ec.EllipticCurvePrivateKey,
    change: dict[str, Any],
    reason: RefusalReason,
) -> None:
    """Issue 18: the reason class an operator sees in the log and in /metrics."""
    key = ec.generate_private_key(ec.SECP384R1()) if change.get("key") else ec_key
    kid = change.get("kid", "ec-1")
    token = tokens.make(key, "ES384", kid, claims=change.get("claims"), drop=change.get("drop", ()))
    header = change["header"] if "header" in change else bearer(token)
    assert reason_of(auth, header) is reason


def test_a_replayed_token_has_the_reason_replayed(
    auth: Authenticator, tokens: Tokens, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = tokens.make(ec_key, "ES384", "ec-1")
    auth.authenticate(bearer(token), AUDIENCE)
    assert reason_of(auth, bearer(token)) is RefusalReason.REPLAYED


def test_an_unreachable_jwks_has_the_reason_jwks_unavailable(
    tokens: Tokens, clock: Clock, ec_key: ec.EllipticCurvePrivateKey, jwks_server: JwksServer
) -> None:
    url = jwks_server.url("/missing.json")  # answers 404
    auth, _ = authenticator([ClientSettings(ISS, (url,), None, (FHIR,))], clock)
    token = tokens.make(ec_key, "ES384", "k", headers={"jku": url})
    assert reason_of(auth, bearer(token)) is RefusalReason.JWKS_UNAVAILABLE
