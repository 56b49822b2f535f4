"""The VM's fast kernels: hw.numerics specialised to canonical operands.

Every value the VM produces is canonical (subnormals flushed, NaN = 0x7FC00000), and so are its
inputs; only a hand-made constant image can hold anything else, and then the VM runs the plain
numerics functions instead. Knowing that, these kernels skip the input canonicalisation and do
the common case in a few numpy calls, falling back to hw.numerics whenever a result might need
flushing. Callers run them under np.errstate(all="ignore"). tests/test_vm_kernels.py compares
each one against hw.numerics bit for bit.
"""

from __future__ import annotations

import numpy as np

from ..hw import numerics
from ..hw.numerics import ACT_IN_FRAC, ACT_OUT_FRAC, ACT_U_MAX, F32_MIN_NORMAL, F_ALIGN

_U32 = np.uint32
_TINY64 = 2.0**-120  # below this f64_to_f32_ftz needs its careful path


def is_canonical(x: np.ndarray) -> bool:
    return numerics.canonical(x) is x


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r = a + b
    if not (np.abs(r) >= F32_MIN_NORMAL).all():  # zero, subnormal or NaN somewhere: check
        r = numerics.canonical(r)
    return r


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r = a - b
    if not (np.abs(r) >= F32_MIN_NORMAL).all():
        r = numerics.canonical(r)
    return r


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = a.astype(np.float64) * b
    if (np.abs(p) >= _TINY64).all():  # no zero, tiny or NaN product: a plain rounding
        return p.astype(np.float32)
    return numerics.f64_to_f32_ftz(p)


def relu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.float32(0)) if not np.isnan(x).any() else numerics.relu(x)


def fp32_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r = np.maximum(a, b)
    if np.isnan(r).any() or ((a == 0) & (b == 0)).any():  # NaN bits or the sign of a zero
        return numerics.fp32_max(a, b)
    return r


def fp32_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r = np.minimum(a, b)
    if np.isnan(r).any() or ((a == 0) & (b == 0)).any():
        return numerics.fp32_min(a, b)
    return r


def fp32_abs(x: np.ndarray) -> np.ndarray:
    return np.abs(x)  # canonical x: the NaN 0x7FC00000 has no sign to clear


def fp32_neg(x: np.ndarray) -> np.ndarray:
    return -x if not np.isnan(x).any() else numerics.fp32_neg(x)


def _act_tables() -> tuple[np.ndarray, np.ndarray]:
    """act_tanh / act_sigmoid of every fixed-point input u (and its sign), as float32."""
    u = np.arange(ACT_U_MAX + 1, dtype=np.int64)
    seg, frac = u >> numerics.ACT_FRAC_BITS, u & ((1 << numerics.ACT_FRAC_BITS) - 1)
    y = numerics._C0[seg] + ((numerics._C1[seg] * frac) >> numerics.ACT_FRAC_BITS)
    y = np.concatenate([y, -y])  # index u + (sign << 19)
    th = (y.astype(np.float64) * 2.0**-ACT_OUT_FRAC).astype(np.float32) + np.float32(0)  # -0 -> +0
    sg = (((1 << ACT_OUT_FRAC) + y).astype(np.float64) * 2.0 ** -(ACT_OUT_FRAC + 1))
    return th, sg.astype(np.float32)


_TABLES: tuple[np.ndarray, np.ndarray] | None = None
_SIGN_SHIFT = ACT_U_MAX.bit_length()


def _act(x: np.ndarray, in_frac: int, which: int) -> np.ndarray:
    global _TABLES
    if _TABLES is None:
        _TABLES = _act_tables()
    b = x.view(_U32)
    mag = (b & _U32(0x7FFFFFFF)).view(np.float32)
    u = np.fmin(mag * np.float32(2.0**in_frac), np.float32(ACT_U_MAX)).astype(np.int32)
    out = _TABLES[which][u | ((b >> 31).astype(np.int32) << _SIGN_SHIFT)]
    if np.isnan(x).any():
        out = np.where(np.isnan(x), numerics.from_f32_bits(numerics.NAN32), out)
    return out


def act_tanh(x: np.ndarray) -> np.ndarray:
    return _act(x, ACT_IN_FRAC, 0)


def act_sigmoid(x: np.ndarray) -> np.ndarray:
    return _act(x, ACT_IN_FRAC - 1, 1)


def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """numerics.round_to_bf16 for canonical x (no negative NaN, so no uint32 wrap)."""
    u = x.view(_U32)
    return ((u + (_U32(0x7FFF) + ((u >> 16) & _U32(1)))) & _U32(0xFFFF0000)).view(np.float32)


def block_dot_trunc(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """numerics.block_dot_exact for finite canonical x [n, B] (bf16 values) and finite bf16 w
    [n, B] (float64), one row each, in float64: every bf16 x bf16 product is exact, dividing
    by the alignment unit 2**(E - 292) is exact, so truncating gives the hardware's integer
    product, and the sum of n <= 2**6 integers below 2**41 is exact in any order."""
    ex = ((x.view(_U32) >> 23) & _U32(0xFF)).astype(np.int64)
    ew = ((w.astype(np.float32).view(_U32) >> 23) & _U32(0xFF)).astype(np.int64)
    live = (ex != 0) & (ew != 0)
    e_max = np.where(live, ex + ew, -1).max(axis=-1)
    unit = np.exp2((e_max - numerics.BLOCK_EXP_OFFSET).astype(np.float64))[:, None]
    t = np.trunc(np.where(live, x.astype(np.float64) * w, 0.0) / unit)
    s = t.sum(axis=-1) + 0.0  # the integer sum has no sign
    return numerics.f64_to_f32_ftz(np.where(e_max < 0, 0.0, s * unit[:, 0]))


def block_dot(x: np.ndarray, w: np.ndarray, w_spread: np.ndarray, w_spread_max: np.ndarray
              ) -> np.ndarray:
    """numerics.block_dot for canonical x [m, B] already rounded to bf16, w [m, R, B] float64;
    w_spread [m, R] = w_emax - w_emin of each weight row, w_spread_max [m] its max per block.
    The same matmul, then a plain float64 -> float32 cast where no sum is tiny or NaN; blocks
    whose spread might exceed F_ALIGN are checked row by row as numerics.block_dot does."""
    e = (x.view(_U32) >> 23) & _U32(0xFF)
    x_emax = e.max(axis=-1).astype(np.int64)
    x_emin = np.where(e == 0, _U32(1000), e).min(axis=-1).astype(np.int64)
    x_spread = x_emax - x_emin
    s = np.matmul(w, x.astype(np.float64)[:, :, None])[..., 0]
    a = np.abs(s)
    if ((a >= _TINY64) | (a == 0)).all():  # f64_to_f32_ftz is a plain cast here
        s += 0.0  # an exactly zero sum is +0 (the integer sum has no sign)
        out = s.astype(np.float32)
    else:
        out = np.where(s == 0, np.float32(0), numerics.f64_to_f32_ftz(s))
    bad_blk = (x_spread + w_spread_max > F_ALIGN) | (x_emax == 255)
    if bad_blk.any():
        blk = np.nonzero(bad_blk)[0]
        for m in blk[x_emax[blk] == 255]:  # inf or NaN in the vector
            out[m] = numerics.block_dot_exact(x[m : m + 1], w[m : m + 1])[0]
        blk = blk[x_emax[blk] != 255]
        mi, ri = np.nonzero(x_spread[blk, None] + w_spread[blk] > F_ALIGN)
        if mi.size:
            mi = blk[mi]
            out[mi, ri] = block_dot_trunc(x[mi], w[mi, ri])
    return out
