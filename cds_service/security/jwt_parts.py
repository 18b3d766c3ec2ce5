"""What the two JWT checks share: the EHR's hook JWTs (authenticator.py) and the SMART launch's
id_tokens for the assessment API (launch_tokens.py). Both read a bearer header, look up the
unverified issuer to find its keys, and check claim types and times the same way; the keys,
algorithms, audiences and replay rules differ and stay with each check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

import jwt
from jwt.exceptions import PyJWTError

MAX_TOKEN_LENGTH = 16 * 1024
MAX_CLAIM_LENGTH = 256
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class AuthError(Exception):
    """The caller is not authenticated. The message is a reason for the log, never a token."""


def bearer_token(authorization: str | None) -> str:
    """The compact JWS of an `Authorization: Bearer <jwt>` header."""
    if authorization is None:
        raise AuthError("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header is not 'Bearer <jwt>'")
    if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
        raise AuthError("bearer token is not a compact JWS")
    return token


def checked_header(token: str, algorithms: Collection[str], *, typ_jwt: bool) -> dict[str, Any]:
    """The JOSE header, when its alg is one of `algorithms`, its kid a short string, it asks
    for no `crit` extension, any `jku` is a string and (with `typ_jwt`) any `typ` is "JWT"."""
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError as error:
        raise AuthError(f"malformed JWT header ({type(error).__name__})") from None
    if header.get("alg") not in algorithms:
        raise AuthError(f"alg is not {' or '.join(sorted(algorithms))}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_CLAIM_LENGTH:
        raise AuthError("kid missing or invalid")
    typ = header.get("typ")
    if typ_jwt and typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise AuthError("typ is not JWT")
    if "crit" in header:
        raise AuthError("crit header extensions are not supported")
    if header.get("jku") is not None and not isinstance(header["jku"], str):
        raise AuthError("jku is not a string")
    return header


def unverified_issuer(token: str) -> str | None:
    """The `iss` the token claims, read before any signature check: only to find its keys."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except PyJWTError as error:
        raise AuthError(f"malformed JWT payload ({type(error).__name__})") from None
    iss = unverified.get("iss")
    return iss if isinstance(iss, str) else None


def number_claim(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError(f"{name} is not a number")
    return float(value)


def string_claim(claims: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_LENGTH:
        raise AuthError(f"{name} missing or not a short string")
    return value


def check_times(claims: Mapping[str, Any], now: float, leeway: float) -> float:
    """exp, iat and nbf (when present) against `now`, with `leeway` seconds; returns exp."""
    exp = number_claim(claims, "exp")
    if exp + leeway <= now:
        raise AuthError("expired (exp)")
    if number_claim(claims, "iat") > now + leeway:
        raise AuthError("issued in the future (iat)")
    if claims.get("nbf") is not None and number_claim(claims, "nbf") > now + leeway:
        raise AuthError("not yet valid (nbf)")
    return exp
