"""A demo EHR client: a real ES384 key pair, a clients file, and signed request JWTs.

`create_demo_client` keeps the private key in the state directory (mode 0600) and writes a
clients file (the ICAHT_CDS_CLIENTS format) with the public key inline and the allowed FHIR
base URL(s); `sign_demo_jwt` signs a request JWT exactly as an EHR would, so the demo can print
a working `curl` example. Nothing here is used to verify requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.security.files import write_private_file

DEMO_ISSUER = "https://ehr.demo.invalid"
DEMO_ALGORITHM = "ES384"
KEY_FILE = "demo-ehr-es384.pem"
CLIENTS_FILE = "clients.json"


@dataclass(frozen=True)
class DemoClient:
    iss: str
    kid: str
    private_key_path: Path
    clients_path: Path  # point ICAHT_CDS_CLIENTS here


def create_demo_client(
    state_dir: str | Path,
    fhir_servers: Sequence[str],
    *,
    iss: str = DEMO_ISSUER,
) -> DemoClient:
    """Make (or reuse) the demo key pair and write the clients file next to it."""
    state = Path(state_dir)
    key_path = state / KEY_FILE
    private_key = _load_or_create_key(key_path)
    public_jwk = _public_jwk(private_key.public_key())
    document = {
        "clients": [
            {"iss": iss, "jwks": {"keys": [public_jwk]}, "fhir_servers": list(fhir_servers)}
        ]
    }
    clients_path = state / CLIENTS_FILE
    clients_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return DemoClient(iss, public_jwk["kid"], key_path, clients_path)


def sign_demo_jwt(
    private_key_path: str | Path,
    iss: str,
    aud: str,
    kid: str,
    *,
    lifetime_seconds: int = 300,
    now: float | None = None,
) -> str:
    """A CDS Hooks request JWT (ES384, typ JWT, kid; iss, sub, aud, iat, exp, jti)."""
    key = serialization.load_pem_private_key(Path(private_key_path).read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{private_key_path} is not an EC private key")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": iss,
        "sub": "demo-ehr",
        "aud": aud,
        "iat": issued,
        "exp": issued + lifetime_seconds,
        "jti": str(uuid.uuid4()),
    }
    headers = {"kid": kid, "typ": "JWT"}
    return jwt.encode(claims, key, algorithm=DEMO_ALGORITHM, headers=headers)


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
            path.chmod(0o600)
            return key
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem)
    return key


def _public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    jwk = {"crv": "P-384", "kty": "EC", "x": _b64(numbers.x), "y": _b64(numbers.y)}
    # RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order, no spaces
    canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "alg": DEMO_ALGORITHM, "use": "sig"}


def _b64(value: int) -> str:
    raw = value.to_bytes(48, "big")  # P-384 coordinates are 48 bytes
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
