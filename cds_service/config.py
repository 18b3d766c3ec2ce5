"""Service configuration, read once from the environment (documented in README.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    fhir_url: str | None = None  # default FHIR server when a hook request names none (demo)
    public_url: str = "http://127.0.0.1:8080"  # the service's public base URL

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            fhir_url=os.environ.get("ICAHT_CDS_FHIR_URL") or None,
            public_url=os.environ.get("ICAHT_CDS_PUBLIC_URL", cls.public_url).rstrip("/"),
        )
