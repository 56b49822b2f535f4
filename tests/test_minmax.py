"""MAX, MIN, ABS, NEG (issue 9): numerics with specials, the VM's kernels, the ISA encoding and
the frontend ops (maximum/minimum, max/min of two tensors, clamp/clip, hardtanh, relu6, abs,
neg) against torch, bit-exact on bf16 inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import rill
from rill.errors import ProgramError
from rill.hw import isa
from rill.hw import numerics as nx
from rill.vm import kernels

SPECIAL = np.array([0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000, 0x80800000,
                    0x3F800000, 0xBF800000, 0x3F800001, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000,
                    0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFFFFFFF], np.uint32)


def _bits(x):
    return nx.f32_bits(x).copy()


def _value(b):
    """The value an fp32 operand stands for after DAZ (float64), NaN as NaN."""
    with np.errstate(invalid="ignore"):
        v = nx.from_f32_bits(b).astype(np.float64)
    return np.where(np.abs(v) < 2.0**-126, np.copysign(0.0, v), v)


def _pairs():
    r = np.random.default_rng(9)
    a, b = np.meshgrid(SPECIAL, SPECIAL)
    ra = r.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    rb = np.where(r.random(20000) < 0.3, ra ^ np.uint32(0x80000000),
                  r.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32))
    return np.concatenate([a.ravel(), ra]), np.concatenate([b.ravel(), rb])


@pytest.mark.parametrize("want_max", [True, False])
def test_max_min_definition(want_max):
    a, b = _pairs()
    got = _bits((nx.fp32_max if want_max else nx.fp32_min)(nx.from_f32_bits(a),
                                                           nx.from_f32_bits(b)))
    va, vb = _value(a), _value(b)
    nan = np.isnan(va) | np.isnan(vb)
    assert (got[nan] == nx.NAN32).all()
    # -0 < +0: order by (value, sign bit)
    ka = va + 0.0, ~np.signbit(va)
    kb = vb + 0.0, ~np.signbit(vb)
    a_first = (ka[0] > kb[0]) | ((ka[0] == kb[0]) & (ka[1] >= kb[1]))
    if not want_max:
        a_first = (ka[0] < kb[0]) | ((ka[0] == kb[0]) & (ka[1] <= kb[1]))
    want = np.where(a_first, va, vb)
    g = _value(got)
    assert (g[~nan] == want[~nan]).all()
    assert (np.signbit(g[~nan]) == np.signbit(want[~nan])).all()
    assert nx.canonical(nx.from_f32_bits(got)).view(np.uint32).tolist() == got.tolist()
    # the specific signed-zero rules
    f = nx.fp32_max if want_max else nx.fp32_min
    z = np.float32([0.0, -0.0])
    assert _bits(f(z, z[::-1])).tolist() == ([0, 0] if want_max else [0x80000000] * 2)


def test_abs_neg_specials():
    x = nx.from_f32_bits(SPECIAL)
    ab, ng = _bits(nx.fp32_abs(x)), _bits(nx.fp32_neg(x))
    c = _bits(nx.canonical(x))
    nan = c == nx.NAN32
    assert (ab[nan] == nx.NAN32).all() and (ng[nan] == nx.NAN32).all()
    assert (ab[~nan] == c[~nan] & 0x7FFFFFFF).all()
    assert (ng[~nan] == c[~nan] ^ 0x80000000).all()
    assert _bits(nx.fp32_neg(nx.from_f32_bits(np.uint32([0x00000001, 0x80000001])))).tolist() \
        == [0x80000000, 0x00000000]  # DAZ, then the sign flips


def test_kernels_match_numerics():
    a, b = _pairs()
    fa, fb = nx.canonical(nx.from_f32_bits(a)), nx.canonical(nx.from_f32_bits(b))
    with np.errstate(all="ignore"):
        for k, n in ((kernels.fp32_max, nx.fp32_max), (kernels.fp32_min, nx.fp32_min)):
            assert (_bits(k(fa, fb)) == _bits(n(fa, fb))).all()
            ok = ~(np.isnan(fa) | np.isnan(fb)) & ((fa != 0) | (fb != 0))  # the fast path too
            assert (_bits(k(fa[ok], fb[ok])) == _bits(n(fa[ok], fb[ok]))).all()
        for k, n in ((kernels.fp32_abs, nx.fp32_abs), (kernels.fp32_neg, nx.fp32_neg)):
            assert (_bits(k(fa)) == _bits(n(fa))).all()


def test_encoding_and_latency():
    assert isa.V_OP_BITS == 5 and max(isa.VOp) < 1 << isa.V_OP_BITS
    tm = isa.Timing.of(rill.Config.c1b8())
    for op in (isa.VOp.RELU, isa.VOp.ABS, isa.VOp.NEG):
        assert tm.vop(op) == tm.relu == isa.RELU_STAGES + 2 == 3
    for op in (isa.VOp.MAX, isa.VOp.MIN):
        assert tm.vop(op) == tm.minmax == isa.MINMAX_STAGES + 2 == 4
    assert {isa.VOp.MAX, isa.VOp.MIN} <= set(isa.BINARY_VOPS)


# ----------------------------------------------------------------------------- frontend vs torch
class Net(nn.Module):
    def __init__(self, fn, f=12):
        super().__init__()
        self.fn = fn
        self.register_buffer("k", torch.linspace(-2, 2, f))
        self.register_buffer("k2", torch.linspace(-1, 3, f))
        self.h = nn.Hardtanh(-0.5, 0.75)
        self.r6 = nn.ReLU6()

    def forward(self, x):
        return self.fn(self, x)


FNS = {
    "maximum": lambda m, x: torch.maximum(x, x * m.k),
    "minimum": lambda m, x: torch.minimum(x * m.k, x),
    "max2": lambda m, x: torch.max(x, x * m.k),
    "min2": lambda m, x: torch.min(x * m.k, x),
    "max_method": lambda m, x: x.max(x * m.k),
    "minimum_method": lambda m, x: x.minimum(x * m.k),
    "maximum_const_left": lambda m, x: torch.maximum(m.k, x),
    "min_const_right": lambda m, x: torch.min(x, m.k),
    "abs": lambda m, x: torch.abs(x),
    "abs_method": lambda m, x: x.abs(),
    "neg": lambda m, x: -x,
    "neg_function": lambda m, x: torch.neg(x),
    "clamp": lambda m, x: torch.clamp(x, -0.5, 0.5),
    "clamp_min": lambda m, x: x.clamp(min=0.1),
    "clamp_max": lambda m, x: x.clamp(max=-0.1),
    "clip_tensors": lambda m, x: torch.clip(x, m.k, m.k2),
    "clamp_tensor_node": lambda m, x: torch.clamp(x, min=x * m.k),
    "clamp_min_fn": lambda m, x: torch.clamp_min(x, 0.3),
    "clamp_max_method": lambda m, x: x.clamp_max(m.k),
    "clamp_lo_above_hi": lambda m, x: torch.clamp(x, 1.0, 0.0),
    "clamp_nan": lambda m, x: torch.clamp(x, min=float("nan")),
    "hardtanh": lambda m, x: F.hardtanh(x),
    "hardtanh_args": lambda m, x: F.hardtanh(x, -2.0, 0.5),
    "Hardtanh": lambda m, x: m.h(x),
    "relu6": lambda m, x: F.relu6(x * 4),
    "ReLU6": lambda m, x: m.r6(x * 4),
}


def _input():
    x = torch.randn(3, 12, generator=torch.Generator().manual_seed(3)) * 2
    x[0, :9] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 0.5, -0.0,
                             3e38, -7.0])
    return x.bfloat16().float()  # bf16 values: the input stream holds them exactly


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
@pytest.mark.parametrize("name", sorted(FNS))
def test_vm_matches_torch_exactly(name, cfg):
    x = _input()
    gm, _ = rill.fx.prepare_shape(Net(FNS[name]).eval(), x)
    nnir = rill.fx.nnir.to_nnir(gm)
    kinds = {n.op.value for n in nnir.graph.nodes}
    assert kinds & {"max", "min", "abs", "neg"}, kinds
    assert not kinds & {"relu"}  # one hardware op, not a relu composition
    got = nnir.to_program(getattr(rill.Config, cfg)()).to_vm().run(x.numpy())
    want = FNS[name](Net(FNS[name]).eval(), x).bfloat16().float().numpy()
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all()
    np.testing.assert_array_equal(got[~nan], want[~nan])  # atol = 0 (a -0/+0 tie aside)
    both_zero = (got == 0) & (want == 0)
    ties = np.zeros_like(both_zero)
    if name not in ("abs", "abs_method", "neg", "neg_function"):
        ties = both_zero  # torch's sign of max/min(+-0, +-0) depends on its code path
    assert (np.signbit(got) == np.signbit(want))[~nan & ~ties].all()


def test_reduction_forms_are_not_taken_for_elementwise():
    class R(nn.Module):
        def forward(self, x):
            return torch.max(x, 1, keepdim=True)[0]

    x = torch.randn(2, 8)
    gm, _ = rill.fx.prepare_shape(R(), x)
    with pytest.raises(rill.UnsupportedError):
        rill.fx.nnir.to_nnir(gm)


def test_illegal_vector_opcode_is_refused():
    x = torch.randn(1, 8).bfloat16().float()
    gm, _ = rill.fx.prepare_shape(Net(lambda m, x: x.abs(), 8).eval(), x)
    prog = rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c1b8())
    bundles = isa.decode(prog.bundles[0], prog.config)
    k = next(i for i, b in enumerate(bundles) if b.v_op == isa.VOp.ABS)
    bundles[k] = isa.Bundle(**{**bundles[k].__dict__, "v_op": 15})
    prog.bundles[0] = isa.encode(bundles, prog.config)
    with pytest.raises(ProgramError, match="illegal vector opcode 15"):
        prog.to_vm()
    with pytest.raises(rill.InvalidProgramError, match="v_op 15"):
        rill.Program.load_bytes(prog.save_bytes())
