"""Authentication of the SMART app's calls to `POST /api/v1/assessment` (issue 13, finding 8).

The app sends the OpenID Connect `id_token` its SMART launch got from the EHR (scope `openid
fhirUser`) as `Authorization: Bearer <jwt>`; this module verifies it against the EHR's own keys,
as the hook JWTs are verified (`authenticator.py`), with the EHR's OAuth server configured in the
file named by ICAHT_CDS_SMART_ISSUERS:

```yaml
issuers:
  - iss: https://ehr.example.org/oauth2          # the id_token's `iss`, compared exactly
    jwks_url: https://ehr.example.org/oauth2/jwks  # or a list (the only URLs a `jku` may name)
    jwks: {keys: [...]}                            # and/or public keys pinned inline
    audience: icaht-cds-smart                      # optional; default ICAHT_CDS_SMART_CLIENT_ID
```

Checks, cheapest first: compact JWS of bounded length; `alg` RS256, RS384 (an RSA key of >= 2048
bits) or ES384 (a P-384 key): RS256 because OpenID Connect makes it the one algorithm every
provider must offer, and the family is fixed by the key's type, never by the token (no `none`, no
HMAC); `kid` required; `iss` configured; signature; `aud` holds the SMART client id (and `azp` is
it when there are several audiences, OIDC Core 3.1.3.7); `exp`, `iat`, `nbf` with 60 s leeway;
`sub` present. An id_token is a bearer credential for the launch's session, used for every
assessment of that session, so there is no `jti` replay check (the hooks' JWTs are one per call).

Patient binding: an id_token names the user, not the patient in context (SMART hands the patient
over in the token response, which the service never sees). When the token does carry a patient
(a `patient` claim, as some EHRs put in JWT access tokens, or a `fhirUser` that is a Patient: a
patient-facing launch) the request's `patientId` must be that patient (-> 403).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Unpack

import yaml

from cds_service.security.jwt_parts import (
    MAX_CLAIM_LENGTH,
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
from cds_service.security.keys import EMPTY_KEY_SET, KeySet, KeySetError, PublicKey, parse_jwks
from cds_service.security.urls import UrlError, https_or_loopback

log = logging.getLogger("cds_service.security")

ISSUERS_ENV = "ICAHT_CDS_SMART_ISSUERS"
# header alg -> the key type (keys.PublicKey.alg names the key's family) that may verify it
ALGORITHM_FAMILY = {"RS256": "RS384", "RS384": "RS384", "ES384": "ES384"}
RSA_ALGORITHMS = ("RS256", "RS384")
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})$")
_ISSUER_FIELDS = frozenset({"iss", "jwks_url", "jwks", "audience"})


class IssuersFileError(ValueError):
    """The issuers file is unreadable or invalid; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{ISSUERS_ENV}: {field}: {message}")
        self.field = field


@dataclass(frozen=True)
class SmartIssuer:
    """An EHR's OAuth server whose id_tokens the assessment API accepts."""

    iss: str
    jwks_urls: tuple[str, ...] = ()
    jwks: Mapping[str, Any] | None = None  # pinned public keys
    audience: str | None = None  # None: the SMART client id of the settings


@dataclass(frozen=True)
class LaunchIdentity:
    """Who called: the EHR (iss), its user (sub) and, when the token names one, the patient."""

    iss: str
    sub: str
    patient: str | None

    @property
    def rate_key(self) -> str:
        return f"{self.iss} {self.sub}"


@dataclass(frozen=True)
class _Issuer:
    config: SmartIssuer
    inline: KeySet
    audience: str


class LaunchTokenVerifier(KeyedJwtCheck):
    def __init__(
        self, issuers: Sequence[SmartIssuer], client_id: str, **timing: Unpack[JwksTiming]
    ) -> None:
        """`issuers`: the allow-list (load_issuers). `client_id`: the default audience.
        `timing`: leeway, JWKS timeouts and lifespans, clock (KeyedJwtCheck)."""
        if not issuers:
            raise IssuersFileError("issuers", "at least one issuer is needed")
        self._issuers = {
            issuer.iss: _Issuer(
                issuer,
                _pinned(issuer.jwks) if issuer.jwks else EMPTY_KEY_SET,
                issuer.audience or client_id,
            )
            for issuer in issuers
        }
        super().__init__(rsa_algs=RSA_ALGORITHMS, **timing)

    def verify(self, authorization: str | None) -> LaunchIdentity:
        """The caller's identity, or AuthError (the reason is logged, never the token)."""
        try:
            return self._verify(authorization)
        except AuthError as error:
            log.warning("SMART launch token rejected: %s", error)
            raise

    def _verify(self, authorization: str | None) -> LaunchIdentity:
        token, header, issuer = read_token(
            authorization, ALGORITHM_FAMILY, self._issuers, typ_jwt=False
        )
        key = self._key(issuer, header)
        claims = _verified_claims(token, key, header["alg"], issuer)
        self._check_times(claims)
        sub = string_claim(claims, "sub")
        assert sub is not None
        return LaunchIdentity(issuer.config.iss, sub, _patient_of(claims))

    def _key(self, issuer: _Issuer, header: Mapping[str, Any]) -> PublicKey:
        config = issuer.config
        kid, jku = header["kid"], header.get("jku")
        if jku is not None and jku not in config.jwks_urls:
            raise AuthError(
                f"jku is not on the allow-list of iss {config.iss}", RefusalReason.JKU_NOT_ALLOWED
            )
        key = issuer.inline.get(kid) if jku is None else None
        if key is None:
            urls = (jku,) if jku is not None else config.jwks_urls
            key = fetched_key(self._remote, urls, kid, config.iss)
        if key is None:
            raise AuthError(f"unknown kid for iss {config.iss}", RefusalReason.UNKNOWN_KID)
        family = key.alg == ALGORITHM_FAMILY[header["alg"]]
        if not family or key.declared_alg not in (None, header["alg"]):
            raise AuthError(
                f"alg does not match the key of kid (iss {config.iss})", RefusalReason.ALG_MISMATCH
            )
        return key

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        check_times(claims, self._clock().timestamp(), self._leeway)


def _pinned(jwks: Mapping[str, Any]) -> KeySet:
    return parse_jwks(jwks, strict=True, rsa_algs=RSA_ALGORITHMS)


def _verified_claims(token: str, key: PublicKey, alg: str, issuer: _Issuer) -> dict[str, Any]:
    claims = verified_claims(
        token,
        key,
        algorithm=alg,  # one of the key family's, checked in _key
        audience=issuer.audience,
        issuer=issuer.config.iss,
        required=_REQUIRED_CLAIMS,
    )
    audiences = claims["aud"]
    if isinstance(audiences, list) and len(audiences) > 1 and claims.get("azp") != issuer.audience:
        raise AuthError(
            "several audiences and azp is not the SMART client id", RefusalReason.BAD_AUDIENCE
        )
    return claims


def _patient_of(claims: Mapping[str, Any]) -> str | None:
    patient = claims.get("patient")
    if patient is not None:
        if not isinstance(patient, str) or not patient or len(patient) > MAX_CLAIM_LENGTH:
            raise AuthError("patient claim is not a short string", RefusalReason.MALFORMED)
        match = _PATIENT_REFERENCE.search(patient)
        return match.group(1) if match else patient
    user = claims.get("fhirUser")
    match = _PATIENT_REFERENCE.search(user) if isinstance(user, str) else None
    return match.group(1) if match else None


# ------------------------------------------------------------------------ the issuers file


def load_issuers(path: str | Path) -> tuple[SmartIssuer, ...]:
    """Read and check the ICAHT_CDS_SMART_ISSUERS file (YAML, or JSON by its .json name)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise IssuersFileError("(file)", f"cannot read {source}: {error.strerror}") from None
    try:
        document = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise IssuersFileError("(file)", f"{source} is not valid JSON/YAML") from None
    return issuers_from_document(document)


def issuers_from_document(document: Any) -> tuple[SmartIssuer, ...]:
    items = document.get("issuers") if isinstance(document, Mapping) else None
    if not isinstance(items, list) or not items:
        raise IssuersFileError("issuers", "must be a non-empty list")
    issuers = tuple(_issuer(item, f"issuers[{index}]") for index, item in enumerate(items))
    seen: set[str] = set()
    for index, issuer in enumerate(issuers):
        if issuer.iss in seen:
            raise IssuersFileError(f"issuers[{index}].iss", "issuer is configured twice")
        seen.add(issuer.iss)
    return issuers


def _issuer(item: Any, where: str) -> SmartIssuer:
    if not isinstance(item, Mapping):
        raise IssuersFileError(where, "must be an object")
    unknown = sorted(set(item) - _ISSUER_FIELDS)
    if unknown:
        raise IssuersFileError(f"{where}.{unknown[0]}", "unknown field")
    iss = item.get("iss")
    if not isinstance(iss, str) or not iss or len(iss) > 2048:
        raise IssuersFileError(f"{where}.iss", "is required (a string)")
    urls = item.get("jwks_url", ())
    jwks_urls = (urls,) if isinstance(urls, str) else urls
    if not isinstance(jwks_urls, list | tuple):
        raise IssuersFileError(f"{where}.jwks_url", "must be a URL or a list of URLs")
    for position, url in enumerate(jwks_urls):
        _check_url(url, f"{where}.jwks_url[{position}]")
    jwks = item.get("jwks")
    if jwks is not None:
        try:
            _pinned(jwks)
        except KeySetError as error:
            raise IssuersFileError(f"{where}.jwks.{error.where}", error.message) from None
        jwks = MappingProxyType(dict(jwks))
    if not jwks_urls and jwks is None:
        raise IssuersFileError(f"{where}.jwks_url|jwks", "an issuer needs jwks_url or jwks")
    audience = item.get("audience")
    if audience is not None and (not isinstance(audience, str) or not audience):
        raise IssuersFileError(f"{where}.audience", "must be a non-empty string")
    return SmartIssuer(iss, tuple(jwks_urls), jwks, audience)


def _check_url(url: Any, field: str) -> None:
    try:
        https_or_loopback(url)
    except UrlError as error:
        raise IssuersFileError(field, str(error)) from None
