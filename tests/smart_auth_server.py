"""A test EHR for the SMART app: an OAuth 2 authorization server and a token-checking FHIR gateway.

The browser tests need what a real EHR offers a SMART App Launch 2 app, and sekmet (the real FHIR
server of the tests) offers only client_credentials. So this module plays the EHR's part, built on
authlib's authorization server rather than on hand-written OAuth:

- `GET  /fhir/.well-known/smart-configuration`: discovery (PKCE S256 only, public clients);
- `GET  /auth/authorize`: authorization code grant, auto-approved for one test clinician; the
  `aud` must be this FHIR base, an EHR `launch` must be one registered by the test, a standalone
  launch needs `launch/patient`; PKCE is required and only S256 is accepted (plain or missing ->
  invalid_request back to the app);
- `POST /auth/token`: the code for a token; the verifier is checked (authlib's RFC 7636 code);
  the answer carries `patient`, `scope`, `expires_in` and, when the launch had one, `appContext`;
  with the `openid` scope also an OpenID Connect `id_token` (RS256, a real 2048-bit RSA key of this
  EHR; `iss` this server, `aud` the client id, `sub` and `fhirUser` the clinician), which the app
  sends to the assessment API (issue 13, finding 8);
- `GET  /auth/jwks`: the public key of the id_tokens (`jwks_uri` in the discovery document);
- `/fhir/...`: a gateway to the real FHIR server that refuses unknown or expired bearer tokens
  (401) and resource types outside the token's scopes (403), rewrites the upstream base URL in
  bodies (paging links, fullUrl) and adds CORS headers, as an EHR's FHIR endpoint would.

Everything runs in a thread of the test process on a free port of 127.0.0.1.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from icaht_demo.fhir_server import free_port

TEST_CLINICIAN = "Practitioner/test-clinician"
ID_TOKEN_KID = "test-ehr-id-token-1"
DEFAULT_TOKEN_SECONDS = 3600
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Expose-Headers": "Location, WWW-Authenticate",
}
_HOP_BY_HOP = {"connection", "transfer-encoding", "content-encoding", "content-length"}


@dataclass(frozen=True)
class LaunchContext:
    """What the EHR hands the app for one launch: the patient and the card's appContext."""

    patient: str
    app_context: str | None = None
    token_seconds: int = DEFAULT_TOKEN_SECONDS  # 0: the token is already expired when issued


@dataclass(frozen=True)
class Grant:
    """An issued access token: who it is for and until when (epoch seconds)."""

    patient: str
    scope: str
    expires_at: float


@dataclass(frozen=True)
class PublicClient:
    """The SMART app: a public client (no secret), redirect URIs under the app's base URL."""

    client_id: str
    redirect_prefix: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.startswith(self.redirect_prefix)

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass(frozen=True)
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    launch: LaunchContext

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None


@dataclass(frozen=True)
class LaunchUser:
    """The resource owner authlib passes around: the test clinician in one launch context."""

    launch: LaunchContext
    sub: str = TEST_CLINICIAN

    def get_user_id(self) -> str:
        return self.sub


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE as SMART App Launch 2 wants it: required on every request, S256 only.

    authlib lets an authorization request without a challenge through (and fails it only at
    the token endpoint) and accepts `plain`; both are refused here at the authorization step.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib's class attribute)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE: 'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


@dataclass
class _State:
    """The server's memory; guarded by one lock since werkzeug serves requests in threads."""

    launches: dict[str, LaunchContext] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens: dict[str, Grant] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, event: str) -> None:
        with self.lock:
            self.events.append(event)


class SmartTestEhr:
    """The authorization server and FHIR gateway on one port (see the module docstring)."""

    def __init__(
        self,
        upstream_fhir: str,
        client_id: str,
        redirect_prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.upstream = upstream_fhir.rstrip("/")
        self.client = PublicClient(client_id, redirect_prefix)
        self.clock = clock
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.standalone_patient: str | None = None
        self.id_token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.state = _State()
        self.http = requests.Session()
        self.app = self._build_app()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def fhir_base(self) -> str:
        return f"{self.url}/fhir"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/auth/jwks"

    def jwks(self) -> dict[str, Any]:
        """The id_tokens' public key, as /auth/jwks publishes it."""
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.id_token_key.public_key(), as_dict=True)
        return {"keys": [public | {"kid": ID_TOKEN_KID, "alg": "RS256", "use": "sig"}]}

    def id_token(self, client_id: str, lifetime: int) -> str:
        """An OpenID Connect id_token for the test clinician, signed with this EHR's key."""
        now = int(self.clock())
        claims = {
            "iss": self.url,
            "sub": "test-clinician",
            "aud": client_id,
            "iat": now,
            "exp": now + lifetime,
            "fhirUser": f"{self.fhir_base}/{TEST_CLINICIAN}",
        }
        return jwt.encode(claims, self.id_token_key, "RS256", headers={"kid": ID_TOKEN_KID})

    @property
    def events(self) -> list[str]:
        with self.state.lock:
            return list(self.state.events)

    def register_launch(
        self,
        patient: str,
        app_context: str | None = None,
        token_seconds: int = DEFAULT_TOKEN_SECONDS,
    ) -> str:
        """An EHR launch: the opaque `launch` value the EHR puts in the app's launch URL."""
        launch_id = secrets.token_urlsafe(16)
        with self.state.lock:
            self.state.launches[launch_id] = LaunchContext(patient, app_context, token_seconds)
        return launch_id

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.http.close()

    # ------------------------------------------------------------------------------ the app

    def _build_app(self) -> Flask:
        app = Flask("smart-test-ehr")
        server = self._authorization_server(app)
        app.add_url_rule(
            "/fhir/.well-known/smart-configuration", "discovery", self._discovery, methods=["GET"]
        )
        app.add_url_rule("/auth/authorize", "authorize", lambda: self._authorize(server))
        app.add_url_rule(
            "/auth/token", "token", lambda: self._token(server), methods=["POST", "OPTIONS"]
        )
        app.add_url_rule("/auth/jwks", "jwks", lambda: _with_cors(jsonify(self.jwks())))
        app.add_url_rule(
            "/fhir/<path:path>", "fhir", self._gateway, methods=["GET", "POST", "OPTIONS"]
        )
        return app

    def _authorization_server(self, app: Flask) -> AuthorizationServer:
        state = self.state
        clock = self.clock
        ehr = self

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 (authlib's class attribute)

            def save_authorization_code(self, code: str, oauth_request: Any) -> None:
                data = oauth_request.payload.data
                with state.lock:
                    state.codes[code] = AuthorizationCode(
                        code=code,
                        client_id=oauth_request.client.get_client_id(),
                        redirect_uri=oauth_request.payload.redirect_uri,
                        scope=oauth_request.scope,
                        code_challenge=data.get("code_challenge"),
                        code_challenge_method=data.get("code_challenge_method"),
                        launch=oauth_request.user.launch,
                    )

            def query_authorization_code(
                self, code: str, client: PublicClient
            ) -> AuthorizationCode | None:
                with state.lock:
                    found = state.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
                with state.lock:
                    state.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: AuthorizationCode) -> LaunchUser:
                return LaunchUser(authorization_code.launch)

        def issue_token(  # authlib's token generator signature
            grant_type: str,
            client: PublicClient,
            *,
            user: LaunchUser | None = None,
            scope: str | None = None,
            expires_in: int | None = None,
            include_refresh_token: bool = False,
        ) -> dict[str, Any]:
            assert user is not None, "an authorization code always has its launch user"
            launch = user.launch
            token = secrets.token_urlsafe(32)
            granted = scope or ""
            with state.lock:
                state.tokens[token] = Grant(launch.patient, granted, clock() + launch.token_seconds)
            answer: dict[str, Any] = {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": launch.token_seconds,
                "scope": granted,
                "patient": launch.patient,
                "need_patient_banner": False,
            }
            if launch.app_context is not None:
                answer["appContext"] = launch.app_context
            if "openid" in granted.split():
                answer["id_token"] = ehr.id_token(client.client_id, launch.token_seconds)
            return answer

        server = AuthorizationServer(app, query_client=self._query_client, save_token=_no_store)
        server.register_token_generator("default", issue_token)
        server.register_grant(CodeGrant, [S256Only(required=True)])
        return server

    def _query_client(self, client_id: str) -> PublicClient | None:
        return self.client if client_id == self.client.client_id else None

    def _discovery(self) -> Response:
        document = {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/auth/authorize",
            "token_endpoint": f"{self.url}/auth/token",
            "jwks_uri": self.jwks_url,
            "grant_types_supported": ["authorization_code"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "patient/*.rs"],
            "capabilities": [
                "launch-ehr",
                "launch-standalone",
                "client-public",
                "context-ehr-patient",
                "context-standalone-patient",
                "permission-patient",
                "permission-v2",
            ],
        }
        return _with_cors(jsonify(document))

    # ---------------------------------------------------------------- authorize and token

    def _authorize(self, server: AuthorizationServer) -> Response:
        try:
            launch = self._launch_context()
            user = LaunchUser(launch)
            grant = server.get_consent_grant(end_user=user)
            response: Response = server.create_authorization_response(grant_user=user, grant=grant)
        except OAuth2Error as error:
            self.state.note(f"authorize-refused:{error.error}")
            return server.handle_error_response(request, error)  # type: ignore[no-any-return]
        self.state.note("authorize-approved")
        return response

    def _launch_context(self) -> LaunchContext:
        """The launch this authorization belongs to; refusals travel back to the app (state)."""
        args = request.args
        redirect = args.get("redirect_uri", "")
        redirect_uri = redirect if self.client.check_redirect_uri(redirect) else None
        state = args.get("state")

        def refuse(description: str) -> InvalidRequestError:
            return InvalidRequestError(description, redirect_uri=redirect_uri, state=state)

        if args.get("aud", "").rstrip("/") != self.fhir_base:
            raise refuse("'aud' must be this EHR's FHIR base URL")
        scopes = args.get("scope", "").split()
        launch_id = args.get("launch")
        if launch_id is not None:
            with self.state.lock:
                launch = self.state.launches.get(launch_id)
            if launch is None or "launch" not in scopes:
                raise refuse("unknown 'launch', or the 'launch' scope is missing")
            return launch
        if "launch/patient" in scopes and self.standalone_patient is not None:
            return LaunchContext(self.standalone_patient)
        raise refuse("a standalone launch needs the 'launch/patient' scope")

    def _token(self, server: AuthorizationServer) -> Response:
        if request.method == "OPTIONS":
            return _with_cors(Response(status=204))
        response: Response = server.create_token_response()
        self.state.note("token-issued" if response.status_code == 200 else "token-refused")
        return _with_cors(response)

    # ------------------------------------------------------------------------- the gateway

    def _gateway(self, path: str) -> Response:
        if request.method == "OPTIONS":  # CORS preflight carries no token
            return _with_cors(Response(status=204))
        if path != "metadata":
            refusal = self._check_token(path)
            if refusal is not None:
                return _with_cors(refusal)
        upstream = self.http.request(
            request.method,
            f"{self.upstream}/{path}",
            params=list(request.args.items(multi=True)),
            data=request.get_data(),
            headers={"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"},
            timeout=30,
        )
        body = upstream.content.replace(self.upstream.encode(), self.fhir_base.encode())
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        return _with_cors(Response(body, status=upstream.status_code, headers=headers))

    def _check_token(self, path: str) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self.state.lock:
            grant = self.state.tokens.get(token)
        if grant is None or self.clock() >= grant.expires_at:
            self.state.note("fhir-401")
            return _outcome(401, "login", "the access token is unknown or expired")
        resource_type = path.split("/", 1)[0]
        if not _scope_allows(grant.scope, resource_type):
            self.state.note("fhir-403")
            return _outcome(403, "forbidden", f"the token's scopes do not cover {resource_type}")
        return None


def _scope_allows(scope: str, resource_type: str) -> bool:
    wanted = {f"patient/{resource_type}.rs", f"patient/{resource_type}.read", "patient/*.rs"}
    return bool(wanted & set(scope.split()))


def _outcome(status: int, code: str, text: str) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def _with_cors(response: Response) -> Response:
    response.headers.update(_CORS)
    return response


def _no_store(token: dict[str, Any], oauth_request: Any) -> None:
    """authlib's save_token hook: issue_token already keeps the grant."""


def authorize_url(ehr: SmartTestEhr, **params: str) -> str:
    """An authorization request URL (for tests that talk to the server without a browser)."""
    return f"{ehr.url}/auth/authorize?{urlencode(params)}"
