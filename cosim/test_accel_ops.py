"""Whole-accelerator cosim of the data-movement lowering (rill.ir.lanes, compile/lower_move.py):
lane moves and sums on the matrix unit, row sums on the vector unit, block re-use, several
inputs and outputs; bit- and cycle-exact against the VM, with input gaps and output
backpressure (test_accel.check)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_accel import CONFIGS, check

import rill


class Moves(torch.nn.Module):
    """Unaligned and strided slices, cat at odd offsets, index_select, sums and means over
    features and rows, W @ x and a BatchNorm1d kept as MUL + ADD."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(10, 21)
        self.bn = torch.nn.BatchNorm1d(12)
        with torch.no_grad():
            self.bn.running_mean.normal_()
            self.bn.running_var.uniform_(0.5, 2.0)
        self.register_buffer("idx", torch.tensor([20, 3, 3, 9, 0]))
        self.register_buffer("w", torch.randn(2, 3))

    def forward(self, x):
        h = self.fc(x[:, ::2])  # odd lanes: never read
        a = torch.cat([h[:, 5:14], x[:, ::4], torch.index_select(h, 1, self.idx)], -1)
        s = a.sum(-1, keepdim=True) + a.mean(-1, keepdim=True)
        r = self.w @ torch.relu(a)  # rows mixed on the vector unit
        b = self.bn(torch.sigmoid(h[:, 2:14]))
        return torch.cat([a, s, b], -1)[:2] + torch.cat([r, r[:, :13]], -1)


class TwoInTwoOut(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(9, 10)
        self.fc = torch.nn.Linear(5, 4)

    def forward(self, x, y):
        h = self.lstm(torch.cat([x, y[:, 3:]], -1))[0]
        return self.fc(h[:, 1:6]) + y[:, :4], h.sum(-1, keepdim=True)


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_moves(cfg):
    torch.manual_seed(3)
    model = Moves().eval()
    x = torch.randn(3, 19)
    gm, _ = rill.fx.prepare_shape(model, x)
    program = rill.fx.nnir.to_nnir(gm).to_program(CONFIGS[cfg](), name="moves")
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3, 19)).astype(np.float32) for _ in range(5)]
    xs[1][:, 1] = np.inf  # lanes nothing selects: zero weights keep them out
    xs[2][:, 3] = np.nan
    check(program, xs)


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_two_inputs_two_outputs_streaming(cfg):
    torch.manual_seed(4)
    x, y = torch.randn(6, 3), torch.randn(6, 9)
    gm, _ = rill.fx.prepare_shape(TwoInTwoOut(), x, y)
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(CONFIGS[cfg](), name="two-in-two-out")
    res = check(program, [(x[t].numpy(), y[t].numpy()) for t in range(6)])
    vm = program.to_vm()
    for t in range(6):
        want = vm.run(x[t].numpy(), y[t].numpy())
        assert all((a == b).all() for a, b in zip(res.outputs[t], want, strict=True))
