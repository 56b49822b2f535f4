"""Bit-exact arithmetic of the rill datapath, as specified in docs/numerics.md.

These functions are the reference the VM runs and the cosim unit benches compare the RTL
against. Everything is vectorised numpy; values travel as float32 arrays whose bit patterns
are the hardware's (bf16 values are float32 with the low 16 bits zero).
"""

from __future__ import annotations

import numpy as np

F_ALIGN = 24
"""Fraction bits kept below the largest product exponent in a block reduction."""

BLOCK_EXP_OFFSET = 268 + F_ALIGN
"""A block sum S with max exponent sum E has value S * 2**(E - BLOCK_EXP_OFFSET)."""

ACT_IN_FRAC = 16
"""Fixed-point fraction bits of |x| at the activation unit's input (tanh; sigmoid uses 15)."""
ACT_SEG_BITS = 10
ACT_FRAC_BITS = 9
ACT_OUT_FRAC = 16
ACT_U_MAX = (1 << (ACT_SEG_BITS + ACT_FRAC_BITS)) - 1

NAN32 = np.uint32(0x7FC00000)
NAN16 = np.uint16(0x7FC0)
F32_MIN_NORMAL = 2.0**-126


def f32_bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def from_f32_bits(b: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(b, dtype=np.uint32).view(np.float32)


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round float32 to bf16 bits: nearest-even, NaN to 0x7FC0 (torch.bfloat16's rule)."""
    u = f32_bits(x).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), NAN16, rounded)


def bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return from_f32_bits(np.asarray(b, dtype=np.uint32) << 16)


def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> nearest bf16 value, still as float32."""
    return bf16_bits_to_f32(f32_to_bf16_bits(np.asarray(x, dtype=np.float32)))


def canonical(x: np.ndarray) -> np.ndarray:
    """Flush subnormals to signed zero and make every NaN the canonical 0x7FC00000."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    b = x.view(np.uint32)
    m = b & np.uint32(0x7FFFFFFF)
    tiny = (m - np.uint32(1)) < np.uint32(0x007FFFFF)  # 0 < m < 2^23 (m = 0 wraps round)
    nan = m > np.uint32(0x7F800000)
    if not (tiny.any() or nan.any()):  # the common case: nothing to change, no copy
        return x
    b = b.copy()
    b[tiny] &= np.uint32(0x80000000)
    b[nan] = NAN32
    return b.view(np.float32)


def bf16_input(x: np.ndarray) -> np.ndarray:
    """Host float32 -> what the input stream holds: bf16 (torch rule), subnormals flushed."""
    return canonical(round_to_bf16(x))


def f64_to_f32_ftz(v: np.ndarray) -> np.ndarray:
    """Round an exact float64 value to fp32 as the hardware does.

    Nearest-even with an unbounded exponent, then |r| < 2**-126 flushes to signed zero and
    overflow gives inf. numpy rounds tiny values onto the subnormal grid instead, so those are
    scaled up by 2**128 before rounding (exact in float64) and judged there.
    """
    v = np.asarray(v, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        direct = v.astype(np.float32)
        tiny = np.abs(v) < 2.0**-120
        if not tiny.any():
            return canonical(direct)
        scaled = (v * 2.0**128).astype(np.float32)
        flushed = np.abs(scaled) < np.float32(4.0)
        unscaled = (scaled.astype(np.float64) * 2.0**-128).astype(np.float32)  # exact: normal
        small = np.where(flushed, np.copysign(np.float32(0), scaled), unscaled)
        out = np.where(tiny, small, direct).astype(np.float32)
    return canonical(out)


def fp32_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fp32 add, nearest-even, DAZ/FTZ. Sums of normals that land below 2**-126 are exact in
    numpy's subnormal range, so flushing numpy's result equals the hardware's unbounded rounding."""
    with np.errstate(over="ignore", invalid="ignore"):
        return canonical(canonical(a) + canonical(b))


def fp32_sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return canonical(canonical(a) - canonical(b))


def fp32_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fp32 multiply: the float64 product of two fp32 values is exact, rounded once."""
    with np.errstate(over="ignore", invalid="ignore"):
        p = canonical(a).astype(np.float64) * canonical(b).astype(np.float64)
    return f64_to_f32_ftz(p)


def relu(x: np.ndarray) -> np.ndarray:
    x = canonical(x)
    return np.where(np.isnan(x), x, np.where(x > 0, x, np.float32(0))).astype(np.float32)


def _order_key(b: np.ndarray) -> np.ndarray:
    """fp32 bits -> unsigned keys in the value order, -0 below +0 (NaN excluded by callers)."""
    neg = (b >> np.uint32(31)).astype(bool)
    return np.where(neg, ~b, b | np.uint32(0x80000000))


def _minmax(a: np.ndarray, b: np.ndarray, want_max: bool) -> np.ndarray:
    a, b = canonical(a), canonical(b)
    ab, bb = a.view(np.uint32), b.view(np.uint32)
    ka, kb = _order_key(ab), _order_key(bb)
    pick_a = ka >= kb if want_max else ka <= kb
    out = np.where(pick_a, ab, bb)
    out = np.where(np.isnan(a) | np.isnan(b), NAN32, out)
    return np.asarray(out, dtype=np.uint32).view(np.float32)


def fp32_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IEEE 754-2019 maximum after DAZ: NaN (canonical) if either operand is NaN, -0 < +0."""
    return _minmax(a, b, True)


def fp32_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IEEE 754-2019 minimum after DAZ: NaN (canonical) if either operand is NaN, -0 < +0."""
    return _minmax(a, b, False)


def fp32_abs(x: np.ndarray) -> np.ndarray:
    """Sign cleared after DAZ (a subnormal gives +0); NaN stays the canonical NaN."""
    return (canonical(x).view(np.uint32) & np.uint32(0x7FFFFFFF)).view(np.float32)


def fp32_neg(x: np.ndarray) -> np.ndarray:
    """Sign flipped after DAZ (a subnormal gives the zero of the other sign); NaN gives the
    canonical NaN (its sign is not flipped)."""
    x = canonical(x)
    out = x.view(np.uint32) ^ np.uint32(0x80000000)
    return np.where(np.isnan(x), NAN32, out).astype(np.uint32).view(np.float32)


def activation_table() -> tuple[np.ndarray, np.ndarray]:
    """The tanh segment table shared by the VM and the RTL: c0 = tanh at the segment start and
    c1 = chord rise over the segment, both in units of 2**-16."""
    seg = np.arange(1 << ACT_SEG_BITS, dtype=np.float64)
    step = 2.0 ** (ACT_FRAC_BITS - ACT_IN_FRAC)
    lo = np.rint(np.tanh(seg * step) * 2**ACT_OUT_FRAC).astype(np.int64)
    hi = np.rint(np.tanh((seg + 1) * step) * 2**ACT_OUT_FRAC).astype(np.int64)
    return lo, hi - lo


_C0, _C1 = activation_table()


def _tanh_fixed(x: np.ndarray, in_frac: int, c0: np.ndarray | None = None,
                c1: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """|x| -> tanh(|x| * 2**(16 - in_frac)) in units of 2**-16 (or the table c0, c1: PHI's
    erf), and the sign of x."""
    x = canonical(x)
    mag = np.abs(x.astype(np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        u = np.floor(np.minimum(mag * 2.0**in_frac, ACT_U_MAX))
    u = np.where(np.isnan(x), 0, u).astype(np.int64)
    seg, frac = u >> ACT_FRAC_BITS, u & ((1 << ACT_FRAC_BITS) - 1)
    c0, c1 = (_C0, _C1) if c0 is None else (c0, c1)
    y = c0[seg] + ((c1[seg] * frac) >> ACT_FRAC_BITS)
    return y, np.signbit(x)


def act_tanh(x: np.ndarray) -> np.ndarray:
    y, neg = _tanh_fixed(x, ACT_IN_FRAC)
    out = (np.where(neg, -y, y).astype(np.float64) * 2.0**-ACT_OUT_FRAC).astype(np.float32)
    out = np.where(out == 0, np.float32(0), out)
    return np.where(np.isnan(x), from_f32_bits(NAN32), out).astype(np.float32)


def act_sigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) = (1 + tanh(x/2)) / 2, the tanh read with one fraction bit less."""
    y, neg = _tanh_fixed(x, ACT_IN_FRAC - 1)
    s = (1 << ACT_OUT_FRAC) + np.where(neg, -y, y)
    out = (s.astype(np.float64) * 2.0 ** -(ACT_OUT_FRAC + 1)).astype(np.float32)
    return np.where(np.isnan(x), from_f32_bits(NAN32), out).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Block reduction: one row of a block_size x block_size weight block times a bf16 vector.


def _unpack_bf16(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bf16 values (float32 arrays) -> sign, biased exponent, 8-bit significand (0 when zero)."""
    b = f32_bits(v) >> 16
    sign = (b >> 15).astype(np.int64)
    exp = ((b >> 7) & 0xFF).astype(np.int64)
    sig = np.where(exp == 0, 0, (b & 0x7F) | 0x80).astype(np.int64)
    return sign, exp, sig


def block_dot_exact(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reference block reduction by integer emulation, specials included.

    x: [m, B] bf16 values; w: [m, R, B] bf16 values. Returns [m, R] fp32: for each row, the
    products aligned to the largest exponent sum with F_ALIGN fraction bits (truncated toward
    zero), summed exactly as integers and rounded once to fp32.
    """
    x = np.asarray(x, dtype=np.float32)[:, None, :]
    w = np.asarray(w, dtype=np.float32)
    sx, ex, mx = _unpack_bf16(x)
    sw, ew, mw = _unpack_bf16(w)
    x_inf, w_inf = np.isinf(x), np.isinf(w)
    x_zero, w_zero = mx == 0, mw == 0
    live = ~(x_zero | w_zero) & ~(x_inf | w_inf)
    q = np.where(live, ex + ew, -1)
    e_max = q.max(axis=-1, keepdims=True)
    shift = np.minimum(e_max - q, 63)
    mag = ((mx * mw) << F_ALIGN) >> shift
    s = np.where(live, np.where((sx ^ sw) == 1, -mag, mag), 0).sum(axis=-1)
    e_max = e_max[..., 0]
    value = s.astype(np.float64) * np.exp2((e_max - BLOCK_EXP_OFFSET).astype(np.float64))
    out = f64_to_f32_ftz(np.where(e_max < 0, 0.0, value))
    # specials: a zero weight's lane contributes nothing, whatever x (so padding, whose
    # weights are zero, never reaches a real lane); else a NaN operand or inf*0 -> NaN;
    # +inf and -inf products -> NaN; else inf wins
    x_nan = np.isnan(x) & ~w_zero
    x_inf = x_inf & ~w_zero
    nan_in = x_nan | np.isnan(w) | (w_inf & x_zero)
    inf_prod = (x_inf | w_inf) & ~nan_in
    neg = (sx ^ sw) == 1
    pos_inf = (inf_prod & ~neg).any(axis=-1)
    neg_inf = (inf_prod & neg).any(axis=-1)
    nan = nan_in.any(axis=-1) | (pos_inf & neg_inf)
    out = np.where(pos_inf, np.float32(np.inf), out)
    out = np.where(neg_inf, np.float32(-np.inf), out)
    return np.where(nan, from_f32_bits(NAN32), out).astype(np.float32)


def exponent_range(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest biased exponent of the nonzero finite entries along the last axis
    (an all-zero row gives max -1000, min +1000, so any spread test on it passes)."""
    e = ((f32_bits(v) >> 23) & 0xFF).astype(np.int32)
    nz = e != 0
    return (np.where(nz, e, -1000).max(axis=-1), np.where(nz, e, 1000).min(axis=-1))


def block_dot(
    x: np.ndarray, w: np.ndarray, w_emax: np.ndarray, w_emin: np.ndarray
) -> np.ndarray:
    """Block reduction, fast where provably exact.

    When every nonzero product's exponent sum is within F_ALIGN of the row's largest, no bit
    is truncated, every partial sum of the products is a multiple of 2**(E-292) below 2**(E-246),
    so a float64 matmul in any order gives the exact sum. The spread is bounded from the
    per-row weight exponent range (precomputed) and the vector's; rows that might exceed it,
    and vectors holding inf/NaN, take block_dot_exact.
    x: [m, B] fp32 already rounded to bf16; w: [m, R, B] finite bf16 values (float64 saves a
    conversion per call); w_emax/w_emin: [m, R].
    """
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.matmul(np.asarray(w, dtype=np.float64), x.astype(np.float64)[:, :, None])[..., 0]
    # an exactly zero sum is +0 (the integer sum has no sign); float64 may give -0
    out = np.where(s == 0, np.float32(0), f64_to_f32_ftz(s))
    x_emax, x_emin = exponent_range(x)
    spread = (x_emax[:, None] + w_emax) - (x_emin[:, None] + w_emin)
    bad = (spread > F_ALIGN) | ~np.isfinite(x).all(axis=-1)[:, None]
    if bad.any():
        mi, ri = np.nonzero(bad)
        out[mi, ri] = block_dot_exact(x[mi], w[mi, ri][:, None, :])[:, 0]
    return out


# ---------------------------------------------------------------------------------------------
# Vector unit v3: PHI (a second activation table), the function unit (RECIP, RSQRT, EXP2,
# LOG2: one segment table over the significand), compares and selects, and RMAX across lanes.


def phi_table() -> tuple[np.ndarray, np.ndarray]:
    """The standard normal CDF's segment table, in the activation table's format: c0 =
    erf(|x| / sqrt(2)) at the segment start and c1 = the chord rise, in units of 2**-16, over
    |x| in [0, 8) (PHI reads u as TANH does, then combines as SIGMOID does)."""
    import math

    erf = np.vectorize(math.erf)
    seg = np.arange(1 << ACT_SEG_BITS, dtype=np.float64)
    step = 2.0 ** (ACT_FRAC_BITS - ACT_IN_FRAC)
    lo = np.rint(erf(seg * step / math.sqrt(2.0)) * 2**ACT_OUT_FRAC).astype(np.int64)
    hi = np.rint(erf((seg + 1) * step / math.sqrt(2.0)) * 2**ACT_OUT_FRAC).astype(np.int64)
    return lo, hi - lo


_P0, _P1 = phi_table()


def act_phi(x: np.ndarray) -> np.ndarray:
    """PHI(x) = (1 + erf(x / sqrt 2)) / 2, the normal CDF: u = min(floor(|x| 2^16), 2^19 - 1)
    as TANH, y from the erf table, s = 2^16 +- y, result s 2^-17 (exact)."""
    y, neg = _tanh_fixed(x, ACT_IN_FRAC, _P0, _P1)
    s = (1 << ACT_OUT_FRAC) + np.where(neg, -y, y)
    out = (s.astype(np.float64) * 2.0 ** -(ACT_OUT_FRAC + 1)).astype(np.float32)
    return np.where(np.isnan(x), from_f32_bits(NAN32), out).astype(np.float32)


FN_SEG_BITS = 8
"""Segments of the function unit's tables: the top 8 fraction bits of the significand."""
FN_FRAC_BITS = 15
"""The low 15 fraction bits interpolate within a segment."""
FN_RECIP, FN_RSQRT, FN_EXP2, FN_LOG2 = 0, 1, 2, 3
"""Function-unit selects (the low two bits of the opcode): the table address is
{select, parity, segment}, 11 bits; parity is the exponent's for RSQRT and 0 otherwise."""
FN_ADDR_BITS = 2 + 1 + FN_SEG_BITS
FN_C0_BITS = 25  # unsigned, up to 2^24
FN_C1_BITS = 18  # signed


def fn_table() -> tuple[np.ndarray, np.ndarray]:
    """The function unit's table, shared by the VM and the RTL (rtl/rill_fn_table.svh is
    generated from it): 2^11 words {c0, c1}; word {sel, p, k} holds f at the start of segment
    k (c0) and the chord rise to its end (c1), rounded to integers (nearest, ties to even):

    RECIP   2^24 / m              m = 1 + k/256      values in (2^23, 2^24]
    RSQRT   2^24 / sqrt(m 2^p)                        values in (2^23, 2^24]
    EXP2    2^23 * 2^(k/256)                          values in [2^23, 2^24)
    LOG2    2^24 * log2(m)                            values in [0, 2^24)

    Unused words (parity 1 outside RSQRT) are zero."""
    n = 1 << FN_SEG_BITS
    c0 = np.zeros(1 << FN_ADDR_BITS, dtype=np.int64)
    c1 = np.zeros(1 << FN_ADDR_BITS, dtype=np.int64)
    k = np.arange(n + 1, dtype=np.float64)
    m = 1.0 + k / n

    def put(sel: int, p: int, vals: np.ndarray) -> None:
        q = np.rint(vals).astype(np.int64)
        base = (sel * 2 + p) * n
        c0[base : base + n] = q[:-1]
        c1[base : base + n] = q[1:] - q[:-1]

    put(FN_RECIP, 0, 2.0**24 / m)
    put(FN_RSQRT, 0, 2.0**24 / np.sqrt(m))
    put(FN_RSQRT, 1, 2.0**24 / np.sqrt(2.0 * m))
    put(FN_EXP2, 0, 2.0**23 * np.exp2(k / n))
    put(FN_LOG2, 0, 2.0**24 * np.log2(m))
    return c0, c1


_F0, _F1 = fn_table()


def _fn_interp(sel: int, p: np.ndarray, frac23: np.ndarray) -> np.ndarray:
    """y = c0 + floor(c1 * r / 2^15) for the 23-bit fraction frac23 = {k, r}."""
    frac23 = frac23.astype(np.int64)
    addr = ((sel * 2 + p.astype(np.int64)) << FN_SEG_BITS) | (frac23 >> FN_FRAC_BITS)
    r = frac23 & ((1 << FN_FRAC_BITS) - 1)
    return _F0[addr] + ((_F1[addr] * r) >> FN_FRAC_BITS)


def _fields(x: np.ndarray) -> tuple[np.ndarray, ...]:
    b = canonical(x).view(np.uint32).astype(np.int64)
    s, e, f = b >> 31, (b >> 23) & 0xFF, b & 0x7FFFFF
    zero, inf, nan = e == 0, (e == 255) & (f == 0), (e == 255) & (f != 0)
    return s, e, f, zero, inf, nan


def _pack(s: np.ndarray, biased: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """{s, biased, frac}; biased <= 0 flushes to the zero of sign s (FTZ)."""
    bits = np.where(biased >= 1, (s << 31) | (np.clip(biased, 0, 255) << 23) | frac, s << 31)
    return bits.astype(np.uint32)


def _finish(bits: np.ndarray, specials: list[tuple[np.ndarray, int]]) -> np.ndarray:
    for mask, val in specials:
        bits = np.where(mask, np.uint32(val), bits)
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def fn_recip(x: np.ndarray) -> np.ndarray:
    """1/x: y = RECIP table at the significand, result y 2^-24 2^-E with E the unbiased
    exponent; +-0 -> +-inf, +-inf -> +-0, NaN -> NaN, results below 2^-126 flush."""
    s, e, f, zero, inf, nan = _fields(x)
    y = _fn_interp(FN_RECIP, np.zeros_like(e), f)
    one = y == 1 << 24
    bits = _pack(s, 253 - e + one, np.where(one, 0, y - (1 << 23)))
    return _finish(bits, [(zero, 0x7F800000), (zero & (s == 1), 0xFF800000),
                          (inf, 0), (inf & (s == 1), 0x80000000), (nan, NAN32)])


def fn_rsqrt(x: np.ndarray) -> np.ndarray:
    """1/sqrt(x): E = unbiased exponent, p = E mod 2, y = RSQRT table at {p, significand},
    result y 2^-24 2^-((E - p)/2). +0 -> +inf, -0 -> -inf, +inf -> +0; NaN and every other
    negative x (-inf too) -> NaN."""
    s, e, f, zero, inf, nan = _fields(x)
    E = e - 127
    p = E & 1
    y = _fn_interp(FN_RSQRT, p, f)
    one = y == 1 << 24
    bits = _pack(s, 126 - (E - p) // 2 + one, np.where(one, 0, y - (1 << 23)))
    return _finish(bits, [((s == 1) & ~zero, NAN32), (zero, 0x7F800000),
                          (zero & (s == 1), 0xFF800000), (inf & (s == 0), 0), (nan, NAN32)])


def fn_exp2(x: np.ndarray) -> np.ndarray:
    """2^x: v = floor(x 2^23) (an integer; |x| >= 256 saturates), i = v >> 23, y = EXP2
    table at the fraction v mod 2^23, result y 2^-23 2^i; i > 127 -> +inf, i < -126 -> +0
    (FTZ); +inf -> +inf, -inf -> +0, NaN -> NaN."""
    xc = canonical(x)
    s, e, f, zero, inf, nan = _fields(xc)
    big = e >= 127 + 8  # |x| >= 256
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.floor(np.where(big | nan, 0.0, xc.astype(np.float64)) * 2.0**23).astype(np.int64)
    i = v >> 23
    y = _fn_interp(FN_EXP2, np.zeros_like(v), v & ((1 << 23) - 1))
    bits = _pack(np.zeros_like(v), 127 + i, y - (1 << 23))
    over = (i > 127) | (big & (s == 0))
    under = (i < -126) | (big & (s == 1))
    return _finish(bits, [(under, 0), (over, 0x7F800000), (nan, NAN32)])


def fn_log2(x: np.ndarray) -> np.ndarray:
    """log2(x): E = unbiased exponent, y = LOG2 table at the significand (log2(m) 2^24),
    S = E 2^24 + y (an integer), result S 2^-24 rounded to fp32 (nearest-even; x = 1 gives
    +0). +-0 -> -inf, +inf -> +inf; NaN and every negative x (-inf too) -> NaN."""
    s, e, f, zero, inf, nan = _fields(x)
    y = _fn_interp(FN_LOG2, np.zeros_like(e), f)
    S = (e - 127) * (1 << 24) + y
    out = f64_to_f32_ftz(S.astype(np.float64) * 2.0**-24).view(np.uint32)
    return _finish(out, [(zero, 0xFF800000), (inf, 0x7F800000), ((s == 1) & ~zero, NAN32),
                         (nan, NAN32)])


ONE32 = np.uint32(0x3F800000)


def fp32_gt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1.0 if a > b else +0 (after DAZ; NaN on either side is false; -0 == +0)."""
    with np.errstate(invalid="ignore"):
        t = canonical(a) > canonical(b)
    return np.where(t, ONE32, np.uint32(0)).astype(np.uint32).view(np.float32)


def fp32_ge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1.0 if a >= b else +0 (after DAZ; NaN on either side is false; -0 == +0)."""
    with np.errstate(invalid="ignore"):
        t = canonical(a) >= canonical(b)
    return np.where(t, ONE32, np.uint32(0)).astype(np.uint32).view(np.float32)


def _true(m: np.ndarray) -> np.ndarray:
    """A mask lane is true unless it is a zero (after DAZ): NaN counts as true."""
    return (canonical(m).view(np.uint32) & np.uint32(0x7FFFFFFF)) != 0


def fp32_keep(m: np.ndarray, a: np.ndarray) -> np.ndarray:
    """KEEP(m, a): a (flushed) where m is true, +0 elsewhere."""
    return np.where(_true(m), canonical(a).view(np.uint32), np.uint32(0)).view(np.float32)


def fp32_drop(m: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DROP(m, b): +0 where m is true, b (flushed) elsewhere."""
    return np.where(_true(m), np.uint32(0), canonical(b).view(np.uint32)).view(np.float32)


def fp32_or(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The bitwise OR of the flushed operands, a NaN pattern made canonical: with one side +0
    (KEEP | DROP) it is the other side exactly, so where(m, a, b) = KEEP(m, a) | DROP(m, b)."""
    o = canonical(a).view(np.uint32) | canonical(b).view(np.uint32)
    return canonical(o.view(np.float32))


def fp32_rmax(x: np.ndarray) -> np.ndarray:
    """RMAX: the IEEE maximum of all lanes (last axis), in every lane: NaN if any lane is NaN,
    -0 < +0. A pairwise tree of fp32_max gives the same bits in any shape (it is one of the
    operands, and maximum is associative and commutative bit for bit)."""
    x = canonical(x)
    b = x.view(np.uint32)
    k = _order_key(b)
    pick = np.take_along_axis(b, np.argmax(k, axis=-1)[..., None], axis=-1)
    out = np.where(np.isnan(x).any(axis=-1, keepdims=True), NAN32, pick)
    return np.broadcast_to(out, x.shape).astype(np.uint32).view(np.float32)
