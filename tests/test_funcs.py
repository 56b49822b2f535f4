"""The function ops of vector unit v3 (exp, log, sqrt, rsqrt, reciprocal, div, silu, softplus,
gelu, softmax, log_softmax, LayerNorm, RMSNorm, compares and where): compiled models against
torch, each within a stated bound, and the numerics functions against float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import rill
from rill.errors import UnsupportedError
from rill.fx import prepare_shape
from rill.fx.nnir import to_nnir
from rill.hw import numerics as nm

CFG = rill.Config(num_cores=2, block_size=16, rf_depth=256)

# Every result leaves as bf16 (relative step 2^-8): the bound is that rounding plus the op's
# own absolute error (the function tables, bf16-rounded sums), stated per op.
BF16_REL = 2.0**-8


class Fn(nn.Module):
    def __init__(self, f, feats=24):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


def run(model, x, cfg=CFG):
    """VM output, and torch's (float32) on the input the accelerator sees: x rounded to bf16."""
    x = x.to(torch.bfloat16).float()
    gm, _ = prepare_shape(model, x)
    prog = to_nnir(gm).to_program(cfg)
    return prog.to_vm().run(x.numpy()), model(x).detach().numpy(), prog


def check(y, ref, atol):
    err = np.abs(y.astype(np.float64) - ref)
    bound = BF16_REL * np.abs(ref) + atol
    assert np.all(err <= bound), f"max excess {np.max(err - bound):.3g}, max err {err.max():.3g}"
    # the floor, like the commercial tools
    np.testing.assert_allclose(y, ref, atol=1e-2, rtol=1e-2)


def _x(rows=3, feats=24, scale=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, feats, generator=g) * scale


CASES = {
    # name: (function, input transform, absolute error bound)
    "exp": (torch.exp, lambda x: x, 1e-5),
    "exp_method": (lambda x: x.exp(), lambda x: x, 1e-5),
    "exp2": (torch.exp2, lambda x: x, 1e-5),
    "log": (torch.log, lambda x: x.abs() + 1e-3, 1e-5),
    "log2": (lambda x: x.log2(), lambda x: x.abs() + 1e-3, 1e-5),
    "sqrt": (torch.sqrt, lambda x: x.abs(), 1e-5),
    "rsqrt": (torch.rsqrt, lambda x: x.abs() + 0.01, 1e-5),
    "reciprocal": (torch.reciprocal, lambda x: x + 0.01, 1e-5),
    "div": (lambda x: x / (x.abs() + 1.0), lambda x: x, 1e-5),
    "div_const": (lambda x: x / 3.0, lambda x: x, 1e-6),
    "const_div": (lambda x: 2.0 / x, lambda x: x + 0.01, 1e-5),
    "silu": (F.silu, lambda x: x, 1e-4),
    "silu_module": (nn.SiLU(), lambda x: x, 1e-4),
    "softplus": (F.softplus, lambda x: x * 4, 2e-5),
    "softplus_module": (nn.Softplus(), lambda x: x, 2e-5),
    "gelu": (F.gelu, lambda x: x, 2e-4),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: x, 2e-4),
    "gelu_module": (nn.GELU(), lambda x: x, 2e-4),
    "softmax": (lambda x: F.softmax(x, dim=-1), lambda x: x, 1e-4),
    "softmax_method": (lambda x: x.softmax(-1), lambda x: x * 10, 1e-4),
    "softmax_module": (nn.Softmax(dim=-1), lambda x: x, 1e-4),
    "log_softmax": (lambda x: F.log_softmax(x, dim=-1), lambda x: x, 1e-4),
    "log_softmax_module": (nn.LogSoftmax(dim=1), lambda x: x, 1e-4),
    "gt_where": (lambda x: torch.where(x > 0.5, x, 0.1 * x), lambda x: x, 0),
    "ge_lt_le": (lambda x: (x >= 0).float() + (x < 1.0).float() * 2 + (0.5 <= x).float() * 4,
                 lambda x: x, 0),
    "where_tensors": (lambda x: torch.where(x * 2 <= x + 1, x * 3, -x), lambda x: x, 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_vs_torch(name):
    f, prep, atol = CASES[name]
    x = prep(_x())
    y, ref, _ = run(Fn(f), x)
    check(y, ref, atol)


def _norm_models():
    torch.manual_seed(1)
    ln = nn.LayerNorm(24)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
    rms = nn.RMSNorm(24, eps=1e-6)
    with torch.no_grad():
        rms.weight.uniform_(0.5, 1.5)
    w = torch.rand(24) + 0.5
    return {
        "layernorm": ln,
        "layernorm_plain": nn.LayerNorm(24, elementwise_affine=False),
        "layer_norm_fn": Fn(lambda x: F.layer_norm(x, (24,), w, None, 1e-5)),
        "rmsnorm": rms,
        "rms_norm_fn": Fn(lambda x: F.rms_norm(x, (24,), w)),
    }


@pytest.mark.parametrize("name", sorted(_norm_models()))
@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_norms_vs_torch(name, offset):
    # the mean and variance are sums over bf16-rounded values (docs/numerics.md): the output
    # error stays within 2^-8 of the normalised scale plus the rounding of the output
    x = _x(scale=1.5) + offset
    y, ref, _ = run(_norm_models()[name].eval(), x)
    check(y, ref, 1.5e-2 if offset else 8e-3)


def test_reference_block_layernorm_linear_gelu():
    torch.manual_seed(2)
    m = nn.Sequential(nn.LayerNorm(48), nn.Linear(48, 48), nn.GELU()).eval()
    x = _x(feats=48)
    y, ref, prog = run(m, x)
    np.testing.assert_allclose(y, ref, atol=2e-2, rtol=1e-2)
    assert prog.cycle_count_per_inference() > 0


def test_softmax_padded_lanes_and_large_logits():
    # 20 features on 16-lane blocks: the padded lanes must not win the maximum; logits of
    # 1000 overflow exp without the shift by the maximum
    x = torch.cat([_x(feats=20) - 50.0, _x(feats=20) * 0 + torch.arange(20) * 50.0])
    y, ref, _ = run(Fn(lambda x: F.softmax(x, -1)), x)
    check(y, ref, 1e-4)
    y, ref, _ = run(Fn(lambda x: F.log_softmax(x, -1)), x)
    check(y, ref, 1e-3)


def test_streaming_lstm_with_norm_and_softmax():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(16, 24)
            self.ln = nn.LayerNorm(24)
            self.fc = nn.Linear(24, 10)

        def forward(self, x):
            return F.log_softmax(self.fc(F.silu(self.ln(self.lstm(x)[0]))), dim=-1)

    torch.manual_seed(3)
    m = M().eval()
    x = _x(rows=6, feats=16)
    gm, _ = prepare_shape(m, x)
    nnir = to_nnir(gm)
    seq = nnir.to_program(CFG).to_vm().run(x.numpy())
    snnir, _ = nnir.streaming_transform(0)
    vm = snnir.to_program(CFG).to_vm()
    steps = np.stack([vm.run(x[t].numpy()) for t in range(6)])
    assert np.array_equal(steps.view(np.uint32), seq.view(np.uint32))
    np.testing.assert_allclose(seq, m(x).detach().numpy(), atol=2e-2, rtol=1e-2)


def test_unsupported_forms_are_listed():
    class M(nn.Module):
        def forward(self, x):
            a = F.softmax(x.unsqueeze(0), dim=1)[0]
            b = F.softplus(x, beta=2.0)
            c = torch.div(x, 2.0, rounding_mode="floor")
            return a + b + c

    gm, _ = prepare_shape(M(), _x())
    with pytest.raises(UnsupportedError) as e:
        to_nnir(gm)
    msg = str(e.value)
    assert "dim=1" in msg and "beta=2.0" in msg and "rounding_mode='floor'" in msg
    assert "test_funcs.py" in msg  # the user's source line


# ---- the numerics functions against float64 (the figures docs/numerics.md states) ----------

def _wide(n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * np.exp(rng.uniform(-60, 60, n))).astype(np.float32)


def test_function_unit_accuracy():
    x = np.abs(_wide())
    x = x[(x > 1e-37) & (x < 1e37)]
    x64 = x.astype(np.float64)
    rel = lambda a, b: np.max(np.abs(a.astype(np.float64) - b) / np.abs(b))  # noqa: E731
    assert rel(nm.fn_recip(x), 1 / x64) < 4e-6
    assert rel(nm.fn_rsqrt(x), 1 / np.sqrt(x64)) < 1.5e-6
    assert np.max(np.abs(nm.fn_log2(x) - np.log2(x64))) < 1e-5  # 4.6e-6 + half an fp32 ulp
    e = np.random.default_rng(1).uniform(-126, 128, 200_000).astype(np.float32)
    assert rel(nm.fn_exp2(e), np.exp2(e.astype(np.float64))) < 1e-6
    t = np.linspace(-10, 10, 100_001).astype(np.float32)
    phi = 0.5 * (1 + np.vectorize(math.erf)(t.astype(np.float64) / math.sqrt(2)))
    assert np.max(np.abs(nm.act_phi(t) - phi)) < 2e-5


def test_function_unit_specials():
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    x = np.array([0.0, -0.0, inf, -inf, nan, 1.0, 4.0, -4.0, 1e-40, -1e-40], np.float32)
    bits = lambda a: a.view(np.uint32).tolist()  # noqa: E731
    f32 = lambda *v: np.array(v, np.float32)  # noqa: E731
    assert bits(nm.fn_recip(x)) == bits(f32(inf, -inf, 0, -0.0, nan, 1, 0.25, -0.25, inf, -inf))
    assert bits(nm.fn_rsqrt(x)) == bits(f32(inf, -inf, 0, nan, nan, 1, 0.5, nan, inf, -inf))
    assert bits(nm.fn_log2(x)) == bits(f32(-inf, -inf, inf, nan, nan, 0, 2, nan, -inf, -inf))
    assert bits(nm.fn_exp2(x)) == bits(f32(1, 1, inf, 0, nan, 2, 16, 1 / 16, 1, 1))
    # the FTZ and overflow edges of EXP2
    e = np.array([-126.0, -126.5, 127.99, 128.0, 300.0, -300.0], np.float32)
    got = nm.fn_exp2(e)
    assert got[0] == 2.0**-126 and got[1] == 0 and np.isfinite(got[2])
    assert np.isinf(got[3]) and np.isinf(got[4]) and got[5] == 0
    # where: KEEP | DROP gives either side exactly, -0 and NaN included
    m = np.array([1, 0, 1, 0], np.float32)
    a = np.array([-0.0, 1, nan, 2], np.float32)
    b = np.array([5, -0.0, 3, nan], np.float32)
    w = nm.fp32_or(nm.fp32_keep(m, a), nm.fp32_drop(m, b))
    assert bits(w) == bits(f32(-0.0, -0.0, nan, nan))
    # RMAX over lanes: NaN wins, -0 < +0
    r = nm.fp32_rmax(np.array([[-0.0, 0.0, -1], [1, nan, 2]], np.float32))
    assert bits(r[0]) == bits(f32(0, 0, 0)) and np.isnan(r[1]).all()


class HandRmsNorm(nn.Module):
    """The usual hand-written RMSNorm (Llama style): the (rows, 1) scale broadcast over the
    features is a lane move, rounded to bf16 (docs/numerics.md, "Data movement")."""

    def __init__(self, d=24, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.rand(d) + 0.5)

    def forward(self, x):
        r = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * r * self.weight


class HandSoftmax(nn.Module):
    """exp(x) / sum(exp(x)): the sum broadcast over the features (a lane move, bf16)."""

    def forward(self, x):
        e = torch.exp(x)
        return e / e.sum(-1, keepdim=True)


@pytest.mark.parametrize("model", [HandRmsNorm(), HandSoftmax()], ids=["rmsnorm", "softmax"])
def test_hand_written_forms(model):
    y, ref, _ = run(model.eval(), _x(scale=1.0))
    check(y, ref, 8e-3)


def test_power_forms():
    y, ref, _ = run(Fn(lambda x: x ** 2 + torch.square(x) + x.abs().pow(0.5)
                       + (x.abs() + 1) ** -0.5 + torch.pow(x + 0.01, -1)), _x())
    check(y, ref, 1e-4)
