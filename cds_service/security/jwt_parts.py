"""What the two JWT checks share: the EHR's hook JWTs (authenticator.py) and the SMART launch's
id_tokens for the assessment API (launch_tokens.py). Both read a bearer header, look up the
unverified issuer to find its keys, fetch a kid from a JWKS URL, let PyJWT verify signature,
`aud` and `iss`, and check claim types and times the same way; which key may serve (pinned or
fetched), the algorithms, audiences and replay rules differ and stay with each check.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import jwt
from jwt.exceptions import (
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from cds_service.security.keys import HOOK_RSA_ALGORITHMS
from cds_service.security.remote import JwksUnavailableError, RemoteKeySets

if TYPE_CHECKING:
    from cds_service.security.keys import PublicKey

_Issuer = TypeVar("_Issuer")

MAX_TOKEN_LENGTH = 16 * 1024
MAX_CLAIM_LENGTH = 256
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class RefusalReason(StrEnum):
    """Why a call was refused (401 or 403): a closed set, logged and counted in /metrics
    (`icaht_auth_refused_total{reason}`) so that an operator can tell a clock skew from a
    missing key without the token. The detailed message stays in the security log."""

    MISSING_TOKEN = "missing_token"  # no Authorization header, or not `Bearer <jwt>`
    MALFORMED = "malformed"  # not a compact JWS, undecodable, a claim of the wrong type
    BAD_HEADER = "bad_header"  # alg, kid, typ, crit or jku unacceptable
    UNKNOWN_ISSUER = "unknown_issuer"
    UNKNOWN_KID = "unknown_kid"  # no pinned key and no fetched key has the kid
    JKU_NOT_ALLOWED = "jku_not_allowed"  # kid not pinned and jku not on the allow-list
    JWKS_UNAVAILABLE = "jwks_unavailable"
    ALG_MISMATCH = "alg_mismatch"  # the header's alg is not the one the key's type fixes
    BAD_SIGNATURE = "bad_signature"
    BAD_AUDIENCE = "bad_audience"
    BAD_CLAIMS = "bad_claims"  # a required claim missing, iss differing after verification
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"  # nbf, or iat, in the future beyond the leeway
    LIFETIME = "lifetime"  # exp further away than the maximum lifetime
    REPLAYED = "replayed"
    # refusals decided by the routes, not by a token check
    FHIR_SERVER_NOT_ALLOWED = "fhir_server_not_allowed"  # 403: fhirServer not the client's
    PATIENT_NOT_ALLOWED = "patient_not_allowed"  # 403: not the launch token's patient
    METRICS_TOKEN = "metrics_token"  # 401 on /metrics: not ICAHT_CDS_METRICS_TOKEN


class AuthError(Exception):
    """The caller is not authenticated. The message is a reason for the log, never a token;
    `reason` is its class (RefusalReason), for the operators' log event and /metrics."""

    def __init__(self, message: str, reason: RefusalReason) -> None:
        super().__init__(message)
        self.reason = reason


def refusal_of(error: PyJWTError) -> RefusalReason:
    """The reason class of a PyJWT verification failure (signature, audience, claims)."""
    if isinstance(error, InvalidSignatureError):
        return RefusalReason.BAD_SIGNATURE
    if isinstance(error, InvalidAudienceError):
        return RefusalReason.BAD_AUDIENCE
    if isinstance(error, InvalidIssuerError | MissingRequiredClaimError):
        return RefusalReason.BAD_CLAIMS
    if isinstance(error, ImmatureSignatureError):
        return RefusalReason.NOT_YET_VALID
    return RefusalReason.MALFORMED  # DecodeError and the like: the token is not well formed


def bearer_token(authorization: str | None) -> str:
    """The compact JWS of an `Authorization: Bearer <jwt>` header."""
    if authorization is None:
        raise AuthError("no Authorization header", RefusalReason.MISSING_TOKEN)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header is not 'Bearer <jwt>'", RefusalReason.MISSING_TOKEN)
    if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
        raise AuthError("bearer token is not a compact JWS", RefusalReason.MALFORMED)
    return token


def checked_header(token: str, algorithms: Collection[str], *, typ_jwt: bool) -> dict[str, Any]:
    """The JOSE header, when its alg is one of `algorithms`, its kid a short string, it asks
    for no `crit` extension, any `jku` is a string and (with `typ_jwt`) any `typ` is "JWT"."""
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError as error:
        raise AuthError(
            f"malformed JWT header ({type(error).__name__})", RefusalReason.MALFORMED
        ) from None
    if header.get("alg") not in algorithms:
        raise AuthError(f"alg is not {' or '.join(sorted(algorithms))}", RefusalReason.BAD_HEADER)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_CLAIM_LENGTH:
        raise AuthError("kid missing or invalid", RefusalReason.BAD_HEADER)
    typ = header.get("typ")
    if typ_jwt and typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise AuthError("typ is not JWT", RefusalReason.BAD_HEADER)
    if "crit" in header:
        raise AuthError("crit header extensions are not supported", RefusalReason.BAD_HEADER)
    if header.get("jku") is not None and not isinstance(header["jku"], str):
        raise AuthError("jku is not a string", RefusalReason.BAD_HEADER)
    return header


def unverified_issuer(token: str) -> str | None:
    """The `iss` the token claims, read before any signature check: only to find its keys."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except PyJWTError as error:
        raise AuthError(
            f"malformed JWT payload ({type(error).__name__})", RefusalReason.MALFORMED
        ) from None
    iss = unverified.get("iss")
    return iss if isinstance(iss, str) else None


def number_claim(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError(f"{name} is not a number", RefusalReason.MALFORMED)
    return float(value)


def string_claim(claims: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_LENGTH:
        raise AuthError(f"{name} missing or not a short string", RefusalReason.MALFORMED)
    return value


def check_times(claims: Mapping[str, Any], now: float, leeway: float) -> float:
    """exp, iat and nbf (when present) against `now`, with `leeway` seconds; returns exp."""
    exp = number_claim(claims, "exp")
    if exp + leeway <= now:
        raise AuthError("expired (exp)", RefusalReason.EXPIRED)
    if number_claim(claims, "iat") > now + leeway:
        raise AuthError("issued in the future (iat)", RefusalReason.NOT_YET_VALID)
    if claims.get("nbf") is not None and number_claim(claims, "nbf") > now + leeway:
        raise AuthError("not yet valid (nbf)", RefusalReason.NOT_YET_VALID)
    return exp


class JwksTiming(TypedDict, total=False):
    """The keyword settings both checks take as they are (defaults: KeyedJwtCheck)."""

    leeway_seconds: int
    jwks_timeout: float
    jwks_lifespan: int
    jwks_refetch_interval: float
    clock: Callable[[], datetime] | None


class KeyedJwtCheck:
    """What both checks hold: the leeway on times, the clock and the cache of fetched JWKS."""

    def __init__(
        self,
        *,
        rsa_algs: tuple[str, ...] = HOOK_RSA_ALGORITHMS,
        leeway_seconds: int = 60,
        jwks_timeout: float = 2.0,
        jwks_lifespan: int = 300,
        jwks_refetch_interval: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`leeway_seconds`: clock skew allowed on exp, iat and nbf. `jwks_timeout`: seconds per
        JWKS request (connect, and between bytes). `jwks_lifespan`: seconds a fetched JWKS is
        trusted. `jwks_refetch_interval`: at most one fetch per JWKS URL per this many seconds
        (rotation vs. unknown-kid floods). `clock`: for tests; the JWKS cache ages on a
        monotonic clock unless a test drives time through it."""
        self._leeway = leeway_seconds
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        cache_clock = time.monotonic if clock is None else (lambda: self._clock().timestamp())
        self._remote = RemoteKeySets(
            timeout=jwks_timeout,
            lifespan=jwks_lifespan,
            refetch_interval=jwks_refetch_interval,
            clock=cache_clock,
            rsa_algs=rsa_algs,
        )


def read_token(
    authorization: str | None,
    algorithms: Collection[str],
    issuers: Mapping[str, _Issuer],
    *,
    typ_jwt: bool,
) -> tuple[str, dict[str, Any], _Issuer]:
    """The first, cheap steps of both checks, before any key is looked up: the bearer JWS, its
    checked header (see checked_header) and the configuration of the issuer it claims
    (unverified: only to find its keys), or AuthError."""
    token = bearer_token(authorization)
    header = checked_header(token, algorithms, typ_jwt=typ_jwt)
    iss = unverified_issuer(token)
    issuer = issuers.get(iss) if iss is not None else None
    if issuer is None:
        raise AuthError("unknown or missing iss", RefusalReason.UNKNOWN_ISSUER)
    return token, header, issuer


def fetched_key(remote: RemoteKeySets, urls: Iterable[str], kid: str, iss: str) -> PublicKey | None:
    """The kid's key from the first of `urls` whose key set holds it; None when none does.
    A set that cannot be fetched is skipped (another may hold the kid); when no set holds it
    and one was unavailable, that is the refusal."""
    unavailable: JwksUnavailableError | None = None
    for url in urls:
        try:
            key = remote.lookup(url, kid)
        except JwksUnavailableError as error:
            unavailable = error  # another configured set may still hold the kid
            continue
        if key is not None:
            return key
    if unavailable is not None:
        raise AuthError(
            f"JWKS unavailable for iss {iss}: {unavailable}", RefusalReason.JWKS_UNAVAILABLE
        )
    return None


def verified_claims(
    token: str,
    key: PublicKey,
    *,
    algorithm: str,
    audience: str | Sequence[str],
    issuer: str,
    required: Sequence[str],
) -> dict[str, Any]:
    """The claims, once PyJWT has checked the signature with `key` and `algorithm` (never the
    token's choice), `aud`, `iss` and that the `required` claims are there. Times are not
    checked here: check_times does it against the caller's clock."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=audience if isinstance(audience, str) else list(audience),
            issuer=issuer,
            options={
                "require": list(required),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except PyJWTError as error:
        raise AuthError(
            f"JWT verification failed ({type(error).__name__})", refusal_of(error)
        ) from None
    return claims
