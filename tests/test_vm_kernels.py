"""The VM's fast kernels against hw.numerics, bit for bit, on canonical operands."""

import numpy as np
import pytest

from rill.hw import numerics
from rill.vm import kernels

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.0**-126, -(2.0**-126), 2.0**-125,
                     3.4e38, -3.4e38, 1.0, -1.0, 2.0**-63, 2.0**64, 65504.0, 1e-30],
                    np.float32)


def canonical_values(rng, n, bf16=False):
    """Random canonical fp32: every exponent, the specials, and values near 2**-126."""
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x = numerics.canonical(bits.view(np.float32))
    x = np.concatenate([x, SPECIALS, rng.standard_normal(n).astype(np.float32),
                        (rng.standard_normal(n) * 2.0**-120).astype(np.float32)])
    x = numerics.canonical(x)
    return numerics.round_to_bf16(x) if bf16 else x


def same(a, b):
    return np.array_equal(np.asarray(a, np.float32).view(np.uint32),
                          np.asarray(b, np.float32).view(np.uint32))


@pytest.mark.parametrize("name", ["add", "sub", "mul"])
def test_binary(name):
    rng = np.random.default_rng(1)
    a = canonical_values(rng, 20000)
    ops = [a, rng.permutation(a), -a, a * np.float32(0.999), np.zeros_like(a)]
    ref = {"add": numerics.fp32_add, "sub": numerics.fp32_sub, "mul": numerics.fp32_mul}[name]
    with np.errstate(all="ignore"):
        for b in ops:
            b = numerics.canonical(b)
            assert same(getattr(kernels, name)(a, b), ref(a, b))
        s = np.tile(SPECIALS, len(SPECIALS))
        t = np.repeat(SPECIALS, len(SPECIALS))
        assert same(getattr(kernels, name)(s, t), ref(s, t))


def test_unary():
    rng = np.random.default_rng(2)
    x = canonical_values(rng, 50000)
    # every segment and fraction boundary of the activation input, and its neighbours
    k = np.arange(numerics.ACT_U_MAX + 2, dtype=np.float64)
    for frac in (numerics.ACT_IN_FRAC, numerics.ACT_IN_FRAC - 1):
        b = (k * 2.0**-frac).astype(np.float32)
        x = np.concatenate([x, b, -b, np.nextafter(b, np.float32(0)), np.nextafter(b, np.inf)])
    x = numerics.canonical(x)
    with np.errstate(all="ignore"):
        assert same(kernels.act_tanh(x), numerics.act_tanh(x))
        assert same(kernels.act_sigmoid(x), numerics.act_sigmoid(x))
        assert same(kernels.relu(x), numerics.relu(x))
        assert same(kernels.round_to_bf16(x), numerics.round_to_bf16(x))
        y = x[np.isfinite(x)]
        assert same(kernels.act_tanh(y), numerics.act_tanh(y))
        assert same(kernels.relu(y), numerics.relu(y))


def random_blocks(rng, m, B, spread):
    """bf16 x [m, B] and w [m, B, B] with exponents spread over `spread` binades, zeros too."""
    def vals(shape):
        v = rng.standard_normal(shape) * np.exp2(rng.integers(-spread, spread + 1, shape))
        v[rng.random(shape) < 0.1] = 0
        return numerics.canonical(numerics.round_to_bf16(v.astype(np.float32)))
    return vals((m, B)), vals((m, B, B))


@pytest.mark.parametrize("spread", [0, 4, 12, 30, 120])
def test_block_dot(spread):
    rng = np.random.default_rng(spread)
    B = 16
    for scale in (1.0, 2.0**-100, 2.0**100, 2.0**-60):
        x, w = random_blocks(rng, 40, B, spread)
        w[5:9, :, 0] = np.float32(2.0**-130)  # bf16 subnormal weights: DAZ in the exact path
        with np.errstate(over="ignore"):
            x = numerics.canonical((x * np.float32(scale)).astype(np.float32))
        x[0, 3], x[1, :] = np.inf, 0  # one vector with inf: the integer path
        x[2, 5], x[3, 1], x[3, 2] = np.nan, np.inf, -np.inf
        w64 = w.astype(np.float64)
        w_emax, w_emin = numerics.exponent_range(w)
        spr = w_emax.astype(np.int64) - w_emin
        with np.errstate(all="ignore"):
            got = kernels.block_dot(x, w64, spr, spr.max(axis=-1))
            ref = numerics.block_dot(x, w64, w_emax, w_emin)
            assert same(got, ref)
            fin = np.isfinite(x).all(axis=-1)
            xr = np.repeat(x[fin], B, axis=0)
            exact = numerics.block_dot_exact(x[fin], w[fin]).reshape(-1)
            assert same(kernels.block_dot_trunc(xr, w64[fin].reshape(-1, B)), exact)
