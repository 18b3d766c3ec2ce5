"""Public keys from JSON Web Key Sets (RFC 7517) usable for RS384 or ES384, indexed by `kid`.

Each key is parsed once into a `cryptography` public key when its set is loaded; the algorithm a
key may verify is decided by the key itself (RSA >= 2048 bits -> RS384, EC P-384 -> ES384), never
by the token. Keys of other types, private keys and keys whose `kid` appears twice are dropped
(a configured set is checked strictly instead: see `parse_jwks(strict=True)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK
from jwt.exceptions import PyJWTError

ALGORITHMS = ("RS384", "ES384")
# what an RSA key's declared `alg` may be: RS384 for the hooks; OpenID Connect id_tokens
# (the assessment API, launch_tokens.py) are RS256 at most EHRs
HOOK_RSA_ALGORITHMS = ("RS384",)
MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class KeySetError(ValueError):
    """A configured JWKS holds an unusable key; `where` names it (`keys[1]`)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class PublicKey:
    kid: str
    alg: str  # the one algorithm this key verifies: RS384 or ES384
    key: Any = None  # cryptography RSAPublicKey / EllipticCurvePublicKey
    declared_alg: str | None = None  # the JWK's own `alg`, when it has one


@dataclass(frozen=True)
class KeySet:
    by_kid: Mapping[str, PublicKey]

    def get(self, kid: str) -> PublicKey | None:
        return self.by_kid.get(kid)


EMPTY_KEY_SET = KeySet({})


def parse_jwks(
    document: Any, *, strict: bool, rsa_algs: tuple[str, ...] = HOOK_RSA_ALGORITHMS
) -> KeySet:
    """Usable keys of a JWKS document; with `strict`, any unusable key raises KeySetError.
    `rsa_algs`: the `alg` an RSA key may declare (see HOOK_RSA_ALGORITHMS)."""
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise KeySetError("keys", "a JWKS needs a 'keys' array")
    found: dict[str, PublicKey] = {}
    duplicates: set[str] = set()
    for index, jwk in enumerate(keys):
        try:
            key = parse_jwk(jwk, rsa_algs)
        except KeySetError as error:
            if strict:
                raise KeySetError(f"keys[{index}]", error.message) from None
            continue
        if key.kid in found:
            if strict:
                raise KeySetError(f"keys[{index}]", "kid is not unique in the set")
            duplicates.add(key.kid)
        found[key.kid] = key
    return KeySet({kid: key for kid, key in found.items() if kid not in duplicates})


def parse_jwk(jwk: Any, rsa_algs: tuple[str, ...] = HOOK_RSA_ALGORITHMS) -> PublicKey:
    if not isinstance(jwk, Mapping):
        raise KeySetError("key", "must be an object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise KeySetError("kid", "must be a non-empty string")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        raise KeySetError("key", "must be a public key (private members present)")
    if jwk.get("use", "sig") != "sig":
        raise KeySetError("use", "must be 'sig'")
    alg = _algorithm_for(jwk)
    declared = jwk.get("alg")
    allowed = rsa_algs if alg == "RS384" else (alg,)
    if declared is not None and declared not in allowed:
        raise KeySetError("alg", f"must be {' or '.join(allowed)} for this key type")
    try:
        key = PyJWK(dict(jwk), alg).key
    except (PyJWTError, ValueError, TypeError):
        raise KeySetError("key", f"is not a valid {alg} public key") from None
    _check_strength(key)
    return PublicKey(kid, alg, key, declared)


def _algorithm_for(jwk: Mapping[str, Any]) -> str:
    kty = jwk.get("kty")
    if kty == "RSA":
        return "RS384"
    if kty == "EC" and jwk.get("crv") == "P-384":
        return "ES384"
    raise KeySetError("kty", "only RSA (RS384) and EC P-384 (ES384) keys are accepted")


def _check_strength(key: Any) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeySetError("key", f"RSA keys need at least {MIN_RSA_BITS} bits")
        return
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise KeySetError("key", "is not an RSA or P-384 public key")
