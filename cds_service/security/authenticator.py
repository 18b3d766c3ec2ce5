"""Authentication of the EHR's JWT on every CDS Hooks call (CDS Hooks 2.0 "Trusting CDS Clients").

Order of checks, cheapest and safest first; nothing is fetched unless the issuer is configured,
no pinned key has the token's `kid`, and any `jku` is on the issuer's allow-list:

1. `Authorization: Bearer <jwt>`, compact JWS syntax, bounded length.
2. Header: `alg` RS384 or ES384 only (no `none`, no HMAC), `kid` required (any short string:
   Epic-style kids with `+ / =` are compared as they are), `typ` JWT if present, no `crit`.
3. `iss` (read before verification only to pick the client) must be a configured client.
4. Key, by `kid`:
   a. a key pinned in the client's inline `jwks` wins, whatever the `jku` says (allow-listed,
      foreign or absent): nothing is fetched. The pinned key is what the operator trusts; a
      `jku` is only a hint where to find a key, and the signature still has to verify.
   b. otherwise a `jku`, when present, must be exactly one of the client's `jwks_url`s (else
      refused, never fetched) and the kid is looked up in that set; without a `jku`, in each
      configured `jwks_url` in turn.
   The key's type fixes the algorithm, and it must equal the header's.
5. Signature, `aud`, `iss` (PyJWT). `aud` (a string or a list) must name the endpoint's public
   URL or one of the client's configured `audience` values (some EHRs send a site-configured
   audience instead of the URL). Then `exp` (60 s leeway), `iat` (not in the future beyond
   the leeway), `nbf` when present (not in the future beyond the leeway), a bounded lifetime,
   `jti`.
6. `jti` claimed in the shared replay cache, keyed by (iss, jti), kept until exp + leeway.

Every failure raises `AuthError` with its `reason` (RefusalReason); the route answers a bare 401.
The message is logged (logger `cds_service.security`) without the token. Errors of the replay
cache itself (database down) are not authentication failures and propagate unchanged (the route
answers 500).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol, Unpack

from cds_service.security.clients import ClientSettings
from cds_service.security.jwt_parts import (
    AuthError,
    JwksTiming,
    KeyedJwtCheck,
    RefusalReason,
    check_times,
    fetched_key,
    read_token,
    string_claim,
    verified_claims,
)
from cds_service.security.keys import ALGORITHMS, EMPTY_KEY_SET, KeySet, PublicKey, parse_jwks
from cds_service.security.urls import UrlError, normalise_url, same_base_url

log = logging.getLogger("cds_service.security")

_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]


class ReplayCache(Protocol):
    def claim(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """Record (iss, jti) until `expires_at`; False when it was already recorded."""
        ...


@dataclass(frozen=True)
class AuthenticatedClient:
    iss: str
    sub: str | None
    jti: str
    fhir_servers: tuple[str, ...]

    def allows_fhir_server(self, url: str) -> bool:
        """True when `url` is, in normal form, exactly one of the client's FHIR base URLs."""
        return self.allowed_fhir_server(url) is not None

    def allowed_fhir_server(self, url: str) -> str | None:
        """The configured FHIR base URL that `url` denotes, or None. Call this one, not the
        caller's spelling of it: the request then goes exactly where the operator allowed."""
        return next((a for a in self.fhir_servers if same_base_url(url, _normal(a))), None)


@lru_cache(maxsize=1024)
def _normal(url: str) -> Any:
    return normalise_url(url)


@dataclass(frozen=True)
class _Client:
    settings: ClientSettings
    inline: KeySet


class Authenticator(KeyedJwtCheck):
    def __init__(
        self,
        clients: Sequence[ClientSettings],
        replay_cache: ReplayCache,
        *,
        max_lifetime_seconds: int = 3600,
        **timing: Unpack[JwksTiming],
    ) -> None:
        """`clients`: the allow-list (see load_clients). `replay_cache`: shared by all workers
        (cds_service.store.Store). `max_lifetime_seconds`: refuse tokens whose exp is further
        away than this. `timing`: leeway, JWKS timeouts and lifespans, clock (KeyedJwtCheck).
        """
        self._clients = _index_clients(clients)
        self._replay = replay_cache
        self._max_lifetime = max_lifetime_seconds
        super().__init__(**timing)

    def authenticate(self, authorization: str | None, audience: str) -> AuthenticatedClient:
        """The authenticated client of a request, or AuthError (reason logged, token not)."""
        try:
            return self._authenticate(authorization, audience)
        except AuthError as error:
            log.warning("EHR JWT rejected: %s", error)
            raise

    def _authenticate(self, authorization: str | None, audience: str) -> AuthenticatedClient:
        token, header, client = read_token(authorization, ALGORITHMS, self._clients, typ_jwt=True)
        key = self._key(client.settings, client.inline, header)
        audiences = [audience, *client.settings.audiences]
        claims = verified_claims(
            token,
            key,
            algorithm=key.alg,  # fixed by the key's type, never by the token
            audience=audiences,  # the token's aud must name at least one of them
            issuer=client.settings.iss,
            required=_REQUIRED_CLAIMS,
        )
        now = self._clock()
        expires = self._check_times(claims, now.timestamp())
        jti = string_claim(claims, "jti", required=True)
        assert jti is not None
        if not self._replay.claim(client.settings.iss, jti, expires):
            raise AuthError(f"replayed jti (iss {client.settings.iss})", RefusalReason.REPLAYED)
        sub = string_claim(claims, "sub", required=False)
        return AuthenticatedClient(client.settings.iss, sub, jti, client.settings.fhir_servers)

    def _key(
        self, settings: ClientSettings, inline: KeySet, header: Mapping[str, Any]
    ) -> PublicKey:
        kid, jku = header["kid"], header.get("jku")
        # a pinned key wins over any jku: no fetch, whatever URL the token names (step 4a)
        key = inline.get(kid)
        if key is None:
            if jku is not None and jku not in settings.jwks_urls:
                raise AuthError(
                    f"kid not pinned and jku is not on the allow-list of iss {settings.iss}",
                    RefusalReason.JKU_NOT_ALLOWED,
                )
            urls = (jku,) if jku is not None else settings.jwks_urls
            key = fetched_key(self._remote, urls, kid, settings.iss)
        if key is None:
            raise AuthError(f"unknown kid for iss {settings.iss}", RefusalReason.UNKNOWN_KID)
        if key.alg != header["alg"]:
            raise AuthError(
                f"alg does not match the key type of kid (iss {settings.iss})",
                RefusalReason.ALG_MISMATCH,
            )
        return key

    def _check_times(self, claims: Mapping[str, Any], now: float) -> datetime:
        exp = check_times(claims, now, self._leeway)
        if exp > now + self._max_lifetime + self._leeway:
            raise AuthError("exp too far in the future", RefusalReason.LIFETIME)
        return datetime.fromtimestamp(exp + self._leeway, UTC)


def _index_clients(clients: Sequence[ClientSettings]) -> dict[str, _Client]:
    index: dict[str, _Client] = {}
    for settings in clients:
        if settings.iss in index:
            raise ValueError(f"issuer configured twice: {settings.iss}")
        for server in settings.fhir_servers:
            try:
                normalise_url(server)
            except UrlError as error:
                raise ValueError(f"fhir_servers of {settings.iss}: {error}") from None
        inline = parse_jwks(settings.jwks, strict=True) if settings.jwks else EMPTY_KEY_SET
        index[settings.iss] = _Client(settings, inline)
    return index
