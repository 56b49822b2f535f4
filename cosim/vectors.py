"""Random fp32 / bf16 stimulus for the unit benches: raw bit patterns as numpy uint32.

Each generator mixes plain random bits with the cases that break floating-point units:
zeros of both signs, subnormals (DAZ), inf, NaN payloads, max/min normal, sparse significands
(exact products and rounding ties), near-equal pairs (cancellation), tiny results (FTZ) and
huge ones (overflow).
"""

from __future__ import annotations

import os

import numpy as np

SPECIALS32 = np.array(
    [
        0x00000000, 0x80000000,  # +-0
        0x00000001, 0x807FFFFF, 0x00400000,  # subnormals
        0x7F800000, 0xFF800000,  # +-inf
        0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF,  # NaNs
        0x7F7FFFFF, 0xFF7FFFFF,  # max normal
        0x00800000, 0x80800000, 0x00800001,  # min normal
        0x3F800000, 0xBF800000, 0x3F800001, 0x3FFFFFFF,  # around 1
        0x4B800000, 0x33800000, 0x34000000,  # 2^24, 2^-24, 2^-23
    ],
    dtype=np.uint32,
)


def n_vectors(default: int) -> int:
    """Vector count for a bench: env RILL_COSIM_VECTORS overrides the default."""
    v = os.environ.get("RILL_COSIM_VECTORS")
    return int(v) if v else default


def rng(seed_env: str = "RILL_COSIM_SEED", default: int = 1) -> np.random.Generator:
    return np.random.default_rng(int(os.environ.get(seed_env, default)))


def fp32(r: np.random.Generator, n: int, exp_lo: int = 0, exp_hi: int = 255) -> np.ndarray:
    """n fp32 bit patterns, mixed classes."""
    cls = r.integers(0, 8, n)
    sign = r.integers(0, 2, n, dtype=np.uint32) << 31
    exp = r.integers(exp_lo, exp_hi + 1, n, dtype=np.uint32)
    frac = r.integers(0, 1 << 23, n, dtype=np.uint32)
    # sparse significands: only the top k fraction bits random (exact products, ties)
    k = r.integers(0, 12, n, dtype=np.uint32)
    sparse = frac & ~((np.uint32(1) << (np.uint32(23) - k)) - np.uint32(1)) & 0x7FFFFF
    mid = r.integers(100, 156, n, dtype=np.uint32)  # modest exponents: ordinary numbers
    out = sign | (exp << 23) | frac                                          # 0: any bits
    out = np.where(cls == 1, sign | (mid << 23) | frac, out)                 # 1: ordinary
    out = np.where(cls == 2, sign | (mid << 23) | sparse, out)               # 2: sparse
    out = np.where(cls == 3, SPECIALS32[r.integers(0, len(SPECIALS32), n)], out)
    out = np.where(cls == 4, sign | (exp << 23) | sparse, out)               # 4: sparse any exp
    low = r.integers(0, 8, n, dtype=np.uint32)
    out = np.where(cls == 5, sign | (low << 23) | frac, out)                 # 5: tiny
    high = r.integers(247, 255, n, dtype=np.uint32)
    out = np.where(cls == 6, sign | (high << 23) | frac, out)                # 6: huge
    out = np.where(cls == 7, sign | (mid << 23) | (frac & 0x7FFF00), out)    # 7: short
    return out.astype(np.uint32)


def pair(r: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Operand pairs for add/sub/mul: independent, near-equal (cancellation), close exponents."""
    a = fp32(r, n)
    b = fp32(r, n)
    cls = r.integers(0, 6, n)
    delta = r.integers(-3, 4, n).astype(np.int64)
    near = (a.astype(np.int64) + delta).clip(0, 0xFFFFFFFF).astype(np.uint32)
    near ^= (r.integers(0, 2, n, dtype=np.uint32) << 31)  # same or opposite sign
    b = np.where(cls == 1, near, b)
    # exponent of b within +-30 of a's, random fraction: alignment shifts, sticky, ties
    ea = ((a >> 23) & 0xFF).astype(np.int64)
    eb = (ea + r.integers(-30, 31, n)).clip(1, 254).astype(np.uint32)
    close = (b & 0x807FFFFF) | (eb << 23)
    b = np.where(cls == 2, close, b)
    # mul: exponents summing near the FTZ / overflow thresholds
    eb2 = (128 - ea + r.integers(-3, 4, n)).clip(0, 254).astype(np.uint32)  # ~2^-126 product
    b = np.where(cls == 3, (b & 0x807FFFFF) | (eb2 << 23), b)
    eb3 = (254 + 127 - ea + r.integers(-3, 3, n)).clip(0, 254).astype(np.uint32)  # ~2^128
    b = np.where(cls == 4, (b & 0x807FFFFF) | (eb3 << 23), b)
    return a.astype(np.uint32), b.astype(np.uint32)


SPECIALS16 = np.array(
    [0x0000, 0x8000, 0x0001, 0x807F, 0x0040, 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0x7F7F,
     0xFF7F, 0x0080, 0x8080, 0x3F80],
    dtype=np.uint32,
)


def bf16_rows(r: np.random.Generator, n: int, b: int, center: np.ndarray | None = None,
              spread: np.ndarray | None = None) -> np.ndarray:
    """[n, b] bf16 bit patterns (uint32 holding 16 bits): per row an exponent centre and
    spread, per lane random or sparse significands."""
    if center is None:
        center = r.integers(1, 255, (n, 1))
    if spread is None:
        spread = np.array([0, 2, 6, 12, 24, 30, 60, 254])[r.integers(0, 8, (n, 1))]
    exp = (center + r.integers(-1000, 1001, (n, b)) % (2 * spread + 1) - spread).clip(1, 254)
    frac = r.integers(0, 128, (n, b))
    k = r.integers(0, 8, (n, 1))
    sparse = frac & ~((1 << (7 - k)) - 1) & 0x7F
    frac = np.where(r.integers(0, 2, (n, 1)) == 1, sparse, frac)
    sign = r.integers(0, 2, (n, b)) << 15
    return (sign | (exp << 7) | frac).astype(np.uint32)


def dot_rows(r: np.random.Generator, n: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, w): [n, b] bf16 bit patterns each, one dot-product row per vector.

    Row classes: independent spreads (alignment truncation), ordinary numbers, exact pairwise
    cancellation plus a perturbation or one surviving lane far below, results near the FTZ
    threshold and near overflow, and specials sprinkled per lane (zeros, subnormals, inf, NaN,
    max/min normal)."""
    cls = r.integers(0, 6, (n, 1))
    cx = np.where(cls == 3, r.integers(55, 72, (n, 1)), r.integers(1, 255, (n, 1)))
    cx = np.where(cls == 4, r.integers(185, 197, (n, 1)), cx)
    cx = np.where(cls == 1, r.integers(110, 140, (n, 1)), cx)
    cw = np.where(cls == 3, 127 - cx + r.integers(-6, 7, (n, 1)), r.integers(1, 255, (n, 1)))
    cw = np.where(cls == 4, 381 - cx + r.integers(-4, 4, (n, 1)), cw)
    cw = np.where(cls == 1, r.integers(110, 140, (n, 1)), cw).clip(1, 254)
    x = bf16_rows(r, n, b, cx)
    w = bf16_rows(r, n, b, cw)
    # cancellation: lane 2j+1 = -(lane 2j) exactly, then perturb one lane
    canc = (cls == 2)[:, 0]
    x[canc, 1::2] = x[canc, 0::2]
    w[canc, 1::2] = w[canc, 0::2] ^ 0x8000
    lane = r.integers(0, b, n)
    bump = canc & (r.integers(0, 2, n) == 1)
    w[bump, lane[bump]] ^= r.integers(1, 4, bump.sum()).astype(np.uint32)
    # one survivor: its partner zeroed and its exponent 0..46 below the pairs', so the sum is
    # one aligned product of either sign with its leading one anywhere in |S| (the dot row's
    # zero counts per byte, with the carries of S - 1 and S across the byte boundaries)
    surv = canc & ~bump & (r.integers(0, 2, n) == 1)
    rows, ln = np.nonzero(surv)[0], lane[surv]
    x[rows, ln ^ 1] = 0
    e = (x[rows, ln] >> 7) & 0xFF
    e = np.maximum(e - r.integers(0, 47, len(rows)), 1)
    x[rows, ln] = (x[rows, ln] & 0x807F) | (e << 7)
    # specials, per lane, at a per-row rate
    rate = np.array([0.0, 0.0, 0.01, 0.05, 0.2])[r.integers(0, 5, (n, 1))]
    for v in (x, w):
        hit = r.random((n, b)) < rate
        v[hit] = SPECIALS16[r.integers(0, len(SPECIALS16), hit.sum())]
    return x.astype(np.uint32), w.astype(np.uint32)
