"""EASIX, m-EASIX and s-EASIX (docs/clinical/07-easix.md §7)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

EasixKind = Literal["EASIX", "m-EASIX", "s-EASIX"]

# §7, Korell et al. Front Immunol 2022: EASIX before lymphodepletion > 4.67 -> higher odds of
# grade >= 3 CRS and/or ICANS. Raw scale assumed [UNVERIFIED whether raw or log2].
KORELL_CUTOFF = 4.67


@dataclass(frozen=True, slots=True)
class EasixResult:
    """Score value and log2 (None when not computable; log2 None if any factor <= 0)."""

    kind: EasixKind
    value: float | None
    log2: float | None
    above_korell_cutoff: bool | None  # EASIX only; None for the other kinds or no value
    reason: str | None = None


def _compute(
    kind: EasixKind, numerators: list[float | None], platelets: float | None
) -> EasixResult:
    factors = [*numerators, platelets]
    if any(f is None for f in factors):
        return EasixResult(kind, None, None, None, "a factor is missing")
    clean = [f for f in factors if f is not None]
    if any(not math.isfinite(f) or f < 0 for f in clean):
        return EasixResult(kind, None, None, None, "a factor is negative or not finite")
    assert platelets is not None
    if platelets == 0:
        return EasixResult(kind, None, None, None, "platelets are 0")
    value = math.prod(f for f in clean[:-1]) / platelets
    log2 = math.log2(value) if all(f > 0 for f in clean) else None  # §7: undefined if factor <= 0
    korell = value > KORELL_CUTOFF if kind == "EASIX" else None
    reason = None if log2 is not None else "log2 undefined: a factor is 0"
    return EasixResult(kind, value, log2, korell, reason)


def easix(
    *, ldh: float | None = None, creatinine: float | None = None, platelets: float | None = None
) -> EasixResult:
    """EASIX = LDH (U/L) x creatinine (mg/dL) / platelets (10^9/L) (§7; Luft 2017)."""
    return _compute("EASIX", [ldh, creatinine], platelets)


def m_easix(
    *, ldh: float | None = None, crp: float | None = None, platelets: float | None = None
) -> EasixResult:
    """m-EASIX = LDH (U/L) x CRP (mg/dL) / platelets (§7; Pennisi 2021). `crp` in mg/L."""
    crp_mg_dl = None if crp is None else crp / 10  # §11.3: mg/L -> mg/dL
    return _compute("m-EASIX", [ldh, crp_mg_dl], platelets)


def s_easix(*, ldh: float | None = None, platelets: float | None = None) -> EasixResult:
    """s-EASIX = LDH (U/L) / platelets (10^9/L) (§7; Pennisi 2021)."""
    return _compute("s-EASIX", [ldh], platelets)
