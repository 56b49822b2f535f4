"""The numerics reference against torch/numpy, and the VM's fast paths against the exact ones."""

import numpy as np
import pytest
import torch

from rill.hw import numerics as n

SPECIALS = np.array(
    [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001,
     0x00000001, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F808000, 0x3F818000,
     0x3F80FFFF, 0x7F7F8000, 0x7F7F7FFF, 0x00FFFFFF], dtype=np.uint32)


def random_bits(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, count, dtype=np.uint64).astype(np.uint32)
    # half of them with low halves near the rounding tie
    ties = rng.integers(0, 2, count).astype(bool)
    bits[ties] = (bits[ties] & 0xFFFF0000) | rng.choice([0x7FFF, 0x8000, 0x8001], ties.sum())
    return np.concatenate([SPECIALS, bits])


def test_bf16_rounding_matches_torch_on_a_million_values():
    bits = random_bits(1_000_000)
    x = bits.view(np.float32)
    ours = n.f32_to_bf16_bits(x)
    theirs = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy()
    theirs = theirs.view(np.uint16)
    nan = np.isnan(x)
    assert np.array_equal(ours[~nan], theirs[~nan])
    assert (ours[nan] == 0x7FC0).all()  # canonical NaN (torch's vector path gives 0xFFFF)
    back = n.bf16_bits_to_f32(ours[~nan])
    assert np.array_equal(back, torch.from_numpy(x[~nan].copy()).to(torch.bfloat16).float().numpy())


def test_canonical_flushes_subnormals_and_nans():
    x = SPECIALS.view(np.float32)
    c = n.f32_bits(n.canonical(x))
    assert c[7] == 0 and c[8] == 0x80000000  # subnormals -> signed zero
    assert (c[np.isnan(x)] == 0x7FC00000).all()


def _ref_round(v: np.ndarray) -> np.ndarray:
    """Independent reference: round float64 to 24 bits with frexp, unbounded exponent."""
    m, e = np.frexp(v)
    r = np.ldexp(np.round(np.ldexp(m, 24)), e - 24)  # np.round is half-to-even
    with np.errstate(over="ignore"):
        r32 = r.astype(np.float32)
    return np.where(np.abs(r) < 2.0**-126, np.copysign(0.0, v), r32).astype(np.float32)


def test_f64_to_f32_ftz_against_frexp_reference():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(200_000) * np.exp2(rng.integers(-160, 140, 200_000))
    edge = np.array([2.0**-126, 2.0**-126 * (1 - 2.0**-25), 2.0**-126 * (1 - 2.0**-24),
                     -2.0**-127, 2.0**128 * (1 - 2.0**-25), 2.0**128 * (1 - 2.0**-24.5)])
    v = np.concatenate([v, edge, -edge])
    assert np.array_equal(n.f32_bits(n.f64_to_f32_ftz(v)), n.f32_bits(_ref_round(v)))


def test_fp32_add_mul_against_exact_reference():
    bits = random_bits(300_000, seed=2)
    a = n.canonical(bits.view(np.float32))
    b = n.canonical(np.roll(bits, 7).view(np.float32))
    fin = np.isfinite(a) & np.isfinite(b)
    a, b = a[fin], b[fin]
    with np.errstate(over="ignore", invalid="ignore"):
        mul_ref = _ref_round(a.astype(np.float64) * b.astype(np.float64))
    assert np.array_equal(n.f32_bits(n.fp32_mul(a, b)), n.f32_bits(mul_ref))
    # sums of fp32 values close in magnitude are exact in float64
    close = np.abs(np.frexp(a)[1] - np.frexp(b)[1]) < 20
    s_ref = _ref_round(a[close].astype(np.float64) + b[close].astype(np.float64))
    s_ref = np.where((s_ref == 0) & (a[close] == -b[close]) & (a[close] != 0), np.float32(0), s_ref)
    assert np.array_equal(n.f32_bits(n.fp32_add(a[close], b[close])), n.f32_bits(s_ref))


def test_specials_of_vector_ops():
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    a = np.array([inf, inf, 0, -0.0, -0.0, 3], np.float32)
    b = np.array([-inf, 0, inf, -0.0, 0, -3], np.float32)
    add = n.f32_bits(n.fp32_add(a, b))
    assert add[0] == 0x7FC00000 and add[3] == 0x80000000 and add[4] == 0 and add[5] == 0
    mul = n.f32_bits(n.fp32_mul(a, b))
    assert mul[1] == 0x7FC00000 and mul[2] == 0x7FC00000 and mul[4] == 0x80000000
    assert n.f32_bits(n.relu(np.array([-0.0, nan, -1, 2], np.float32))).tolist() == [
        0, 0x7FC00000, 0, 0x40000000]


@pytest.mark.parametrize("fn, ref, tol", [
    (n.act_tanh, np.tanh, 4e-5),
    (n.act_sigmoid, lambda x: 1 / (1 + np.exp(-x)), 2e-5),
])
def test_activation_accuracy_and_symmetry(fn, ref, tol):
    x = np.linspace(-20, 20, 400_001).astype(np.float32)
    y = fn(x)
    assert np.abs(y - ref(x.astype(np.float64))).max() < tol
    assert (np.diff(y[x >= 0]) >= 0).all()  # monotone
    special = fn(np.array([np.inf, -np.inf, np.nan, 0.0], np.float32))
    assert np.isnan(special[2]) and abs(special[0]) <= 1 and abs(special[1]) <= 1


def test_activation_table_shape():
    c0, c1 = n.activation_table()
    assert c0.shape == (1024,) and c0[0] == 0 and c0[-1] <= 65536
    assert c1.min() >= 0 and c1.max() <= 512


def _bf16(a):
    return n.canonical(n.round_to_bf16(a.astype(np.float32)))


@pytest.mark.parametrize("B", [8, 64])
def test_block_dot_fast_path_equals_integer_emulation(B):
    rng = np.random.default_rng(B)
    m = 300
    x = _bf16(rng.standard_normal((m, B)) * np.exp2(rng.integers(-30, 30, (m, B))))
    x[:, : B // 8] = 0
    w = _bf16(rng.uniform(-1, 1, (m, B, B)) * np.exp2(rng.integers(-12, 3, (m, B, B))))
    w[:, 0, :] = 0  # an all-zero row
    emax, emin = n.exponent_range(w)
    fast = n.block_dot(x, w.astype(np.float64), emax, emin)
    exact = n.block_dot_exact(x, w)
    assert np.array_equal(n.f32_bits(fast), n.f32_bits(exact))
    # and it is close to the true dot product
    true = np.einsum("mrb,mb->mr", w.astype(np.float64), x.astype(np.float64))
    scale = np.einsum("mrb,mb->mr", np.abs(w.astype(np.float64)), np.abs(x.astype(np.float64)))
    assert (np.abs(exact - true) <= 2.0**-20 * scale + 1e-37).all()


def test_block_dot_truncation_and_specials():
    x = np.zeros((8, 8), np.float32)
    w = np.zeros((8, 1, 8), np.float32)
    x[0, :2] = [1.0, 2.0**-40]  # tiny term is truncated away by the alignment
    w[0, 0, :2] = [1.0, 1.0]
    x[1, :2] = [np.inf, 1]
    w[1, 0, :2] = [0, 1]  # a zero weight's lane contributes nothing, even inf
    x[2, :2] = [np.inf, -np.inf]
    w[2, 0, :2] = [1, 1]  # +inf and -inf -> NaN
    x[3, :2] = [-np.inf, 5]
    w[3, 0, :2] = [2, 1]  # -inf
    x[4, :2] = [1.0, -1.0]
    w[4, 0, :2] = [3.0, 3.0]  # exact cancellation -> +0
    x[5, :3] = [np.nan, -np.inf, 2.0]
    w[5, 0, :3] = [0, -0.0, 0.5]  # NaN and inf facing zero weights: nothing
    x[6, :2] = [np.nan, 2.0]
    w[6, 0, :2] = [1, 1]  # NaN facing a nonzero weight -> NaN
    x[7, :2] = [0, 1]
    w[7, 0, :2] = [np.inf, 1]  # an infinite weight times a zero x -> NaN
    r = n.f32_bits(n.block_dot_exact(x, w)[:, 0])
    assert r.tolist() == [0x3F800000, 0x3F800000, 0x7FC00000, 0xFF800000, 0, 0x3F800000,
                          0x7FC00000, 0x7FC00000]
    emax, emin = n.exponent_range(w)
    assert np.array_equal(n.f32_bits(n.block_dot(x[:7], w[:7].astype(np.float64), emax[:7],
                                                 emin[:7])[:, 0]), r[:7])


def test_block_dot_alignment_rounds_once():
    """1 + 2**-24 + 2**-24: the integer sum keeps both halves, a sequential fp32 sum would not."""
    x = np.array([[1.0, 2.0**-24, 2.0**-24, 0, 0, 0, 0, 0]], np.float32)
    w = np.ones((1, 1, 8), np.float32)
    assert n.block_dot_exact(x, w)[0, 0] == np.float32(1 + 2.0**-23)
