"""Whole-accelerator cosim of the vector unit v2 ops (issue 9): MAX, MIN, ABS, NEG through
torch.maximum/minimum, clamp, hardtanh, relu6, abs and neg, RTL against the VM bit for bit and
cycle for cycle, with ±0, inf and NaN in the inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from test_accel import CONFIGS, check

import rill


class MinMaxNet(nn.Module):
    def __init__(self, f: int = 20, h: int = 24):
        super().__init__()
        self.fc1 = nn.Linear(f, h)
        self.fc2 = nn.Linear(f, h)
        self.register_buffer("k", torch.linspace(-1.5, 1.5, h))
        self.act = nn.Hardtanh(-0.75, 2.0)
        self.head = nn.Linear(h, 6)

    def forward(self, x):
        a, b = self.fc1(x), self.fc2(x)
        m = torch.maximum(a, b) - torch.min(b, a).abs()        # MAX, MIN, ABS, SUB
        c = torch.clamp(-m, min=self.k) + F.relu6(a * 3)       # NEG, MAX (per-feature), clamp
        d = self.act(torch.minimum(c, torch.tensor(0.5)) + b.clamp(max=0.25))
        return self.head(torch.max(d, -c).clip(-1.0, 1.0))


def _inputs(n: int, f: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((2, f)).astype(np.float32) for _ in range(n)]
    xs[1][0, :6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40]
    xs[2][1, :3] = [-0.0, 3e38, -3e38]
    return xs


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_minmax_model(cfg):
    torch.manual_seed(9)
    model = MinMaxNet().eval()
    x = torch.randn(2, 20)
    gm, _ = rill.fx.prepare_shape(model, x)
    nnir = rill.fx.nnir.to_nnir(gm)
    kinds = {n.op.value for n in nnir.graph.nodes}
    assert {"max", "min", "abs", "neg"} <= kinds, kinds
    program = nnir.to_program(CONFIGS[cfg](), name="minmax")
    xs = _inputs(6, 20, seed=5)
    res = check(program, xs)
    # and the VM (which the RTL matched) agrees with torch within the bf16 rounding
    vm = program.to_vm()
    y = vm.run(xs[0])
    want = model(torch.from_numpy(xs[0]).bfloat16().float()).detach().numpy()
    np.testing.assert_allclose(y, want, rtol=3e-2, atol=3e-2)
    assert res.ok
