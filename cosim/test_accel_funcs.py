"""Whole-accelerator cosim of vector unit v3: every function op (PHI, the function unit's
RECIP/RSQRT/EXP2/LOG2, compares and selects, RMAX) through models using exp, log, sqrt, rsqrt,
reciprocal, division, silu, softplus, both GELUs, softmax, log_softmax, LayerNorm (fused with
its Linear and alone), RMSNorm and where; bit- and cycle-exact against the VM, with input gaps
and output backpressure (test_accel.check), specials included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_accel import CONFIGS, check

import rill


class Funcs(torch.nn.Module):
    def __init__(self, n=20):
        super().__init__()
        self.ln = torch.nn.LayerNorm(n)
        self.fc = torch.nn.Linear(n, n)
        self.rms = torch.nn.RMSNorm(n)

    def forward(self, x):
        a = F.gelu(self.fc(self.ln(x)))  # the norm fused with its Linear
        b = torch.exp(x) + torch.log(x.abs()) + torch.sqrt(x) + torch.rsqrt(x) + 1.0 / x
        c = F.softmax(x, -1) + F.log_softmax(x * 4, -1) + F.silu(x) + F.softplus(x)
        d = F.gelu(x, approximate="tanh") + self.rms(x) + torch.exp2(x) + x.log2()
        e = torch.where(x > 0.25, x / (x * x + 1.0), -x) + (x <= 0).float()
        return torch.cat([a + b, c + d, e, self.ln(x)], -1)


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_function_ops(cfg):
    torch.manual_seed(5)
    model = Funcs().eval()
    x = torch.randn(1, 20)  # one row: the program fits the small configs' 64 registers
    gm, _ = rill.fx.prepare_shape(model, x)
    program = rill.fx.nnir.to_nnir(gm).to_program(CONFIGS[cfg](), name="funcs")
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((1, 20)).astype(np.float32) * s for s in (1, 3, 30, 0.01, 1)]
    xs[1][0, :6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30]  # specials through every op
    xs[2][0, 3] = 200.0  # exp overflows, softmax's shift must hold
    check(program, xs)
