"""Data movement, reductions, matmul with a constant, BatchNorm1d, neg/abs, several inputs and
outputs: compiled, run on the VM, against torch (rill.ir.lanes, compile/lower_move.py)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import CONFIGS

import rill


def bf16(t: torch.Tensor) -> torch.Tensor:
    return t.bfloat16().float()


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.register_buffer("idx", torch.tensor([11, 0, 7, 8, 8, 30]))

    def forward(self, x):
        return self.fn(self, x)


def build(model, *xs, cfg="c1b8", stream=None):
    gm, expected = rill.fx.prepare_shape(model, *xs)
    nnir = rill.fx.nnir.to_nnir(gm)
    if stream is not None:
        nnir, _ = nnir.streaming_transform(stream)
    return nnir.to_program(CONFIGS[cfg]), expected


# pure data movement: every value is a bf16 input value, so the result is exact (atol = 0)
MOVES = {
    "slice_odd": lambda m, x: x[..., 3:29],
    "slice_tail": lambda m, x: x[:, 17:],
    "strided": lambda m, x: x[..., 1::3],
    "narrow": lambda m, x: torch.narrow(x, -1, 5, 19),
    "narrow_method": lambda m, x: x.narrow(1, 9, 9),
    "index_select": lambda m, x: torch.index_select(x, -1, m.idx),
    "index_select_method": lambda m, x: x.index_select(1, m.idx),
    "cat_odd": lambda m, x: torch.cat([x[:, 5:10], x, x[:, :3]], -1),
    "cat_rows": lambda m, x: torch.cat([x[1:], x[:1]], 0),
    "stack_rows": lambda m, x: torch.stack([x[0], x[2]]),
    "rows_select": lambda m, x: x[2],
    "column": lambda m, x: x[:, 5:6],
    "broadcast_lane": lambda m, x: x[:, 7:8].expand(-1, 12),
    "reshape_rows_feats": lambda m, x: x.reshape(2, -1),
    "view_flatten": lambda m, x: x.view(-1),
    "flatten": lambda m, x: torch.flatten(x.unsqueeze(0), 0, 1),
    "unsqueeze_squeeze": lambda m, x: x.unsqueeze(0).squeeze(0),
    "permute_lead": lambda m, x: x.reshape(2, 2, 31).permute(1, 0, 2),
    "transpose_lead": lambda m, x: x.reshape(2, 2, 31).transpose(0, 1),
    "split": lambda m, x: torch.split(x, 10, -1)[1],
    "chunk": lambda m, x: x.chunk(3, dim=-1)[2],
    "unbind": lambda m, x: torch.unbind(x, 0)[3],
    "hstack": lambda m, x: torch.hstack([x[:, 30:], x[:, :2]]),
}


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
@pytest.mark.parametrize("op", sorted(MOVES))
def test_moves_exact(op, cfg):
    x = bf16(torch.randn(4, 31))
    prog, expected = build(Fn(MOVES[op]), x, cfg=cfg)
    got = prog.to_vm().run(x.numpy())
    np.testing.assert_array_equal(got, expected.numpy())


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
@pytest.mark.parametrize("op", ["aligned_slice", "aligned_cat", "rows", "reshape_lead"])
def test_block_aligned_moves_cost_nothing(op, cfg):
    B = CONFIGS[cfg].block_size
    fn = {"aligned_slice": lambda m, x: x[:, B : 2 * B],
          "aligned_cat": lambda m, x: torch.cat([x[:, :B], x[:, : 2 * B], x[:, 2 * B :]], -1),
          "rows": lambda m, x: torch.cat([x[1:3], x[0:1]]),
          "reshape_lead": lambda m, x: x.reshape(2, 2, -1).flatten(0, 1)}[op]
    x = bf16(torch.randn(4, 2 * B + 3))
    prog, expected = build(Fn(fn), x, cfg=cfg)
    assert prog.metrics()["mac_ops"] == 0 and prog.metrics()["vector_ops"] == prog.n_out
    np.testing.assert_array_equal(prog.to_vm().run(x.numpy()), expected.numpy())


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_unselected_specials_do_not_leak(cfg):
    x = bf16(torch.randn(3, 40))
    keep = [3, 4, 5, 6, 9, 20, 21, 22, 33]
    poison = torch.tensor([v for v in range(40) if v not in keep])
    x[:, poison[::3]] = float("nan")
    x[:, poison[1::3]] = float("inf")
    x[:, poison[2::3]] = float("-inf")
    sel = torch.tensor(keep)
    fns = [lambda m, x: x[:, 3:7], lambda m, x: torch.index_select(x, 1, sel),
           lambda m, x: x[:, 20:23].sum(-1, keepdim=True),
           lambda m, x: torch.cat([x[:, 9:10], x[:, 33:34]], -1)]
    for fn in fns:
        prog, expected = build(Fn(fn), x, cfg=cfg)
        got = prog.to_vm().run(x.numpy())
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-2, atol=1e-2)


REDUCE = {
    "sum_last": lambda m, x: x.sum(-1),
    "sum_last_index_keep": lambda m, x: torch.sum(x, dim=2, keepdim=True),
    "mean_last": lambda m, x: x.mean(-1, keepdim=True),
    "mean_pow2": lambda m, x: x[..., :16].mean(dim=-1),
    "sum_lead": lambda m, x: x.sum(0),
    "mean_lead_keep": lambda m, x: torch.mean(x, 1, keepdim=True),
    "sum_lead_and_last": lambda m, x: x.sum((0, 2)),
    "mean_all_keep": lambda m, x: x.mean((0, 1, 2), keepdim=True),
}


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
@pytest.mark.parametrize("op", sorted(REDUCE))
def test_reductions(op, cfg):
    x = torch.randn(2, 3, 37)
    prog, expected = build(Fn(REDUCE[op]), x, cfg=cfg)
    got = prog.to_vm().run(x.numpy())
    assert got.shape == tuple(expected.shape)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-2, atol=2e-2)


def test_mean_lead_is_fp32_vector_arith():
    """Over rows: vector ADDs in fp32, then MUL by fp32(1/n): no bf16 rounding before the
    output's."""
    x = torch.randn(5, 8)
    prog, expected = build(Fn(lambda m, x: x.mean(0, keepdim=True)), x)
    assert prog.metrics()["mac_ops"] == 0
    xb = bf16(x)
    want = bf16(((((xb[0] + xb[1]) + xb[2]) + xb[3]) + xb[4]) * np.float32(1 / 5))
    np.testing.assert_array_equal(prog.to_vm().run(x.numpy())[0], want.numpy())


W = torch.randn(31, 9)
WL = torch.randn(3, 4)


MATMUL = {
    "x_at_W": lambda m, x: x @ m.w,
    "torch_matmul": lambda m, x: torch.matmul(x, m.w),
    "mm": lambda m, x: x.mm(m.w),
    "F_linear": lambda m, x: F.linear(x, m.wt),
    "W_at_x": lambda m, x: m.wl @ x,
    "W_at_x_method": lambda m, x: m.wl.matmul(x),
}


@pytest.mark.parametrize("op", sorted(MATMUL))
def test_matmul_constant(op):
    model = Fn(MATMUL[op])
    model.w = nn.Parameter(W.clone())
    model.wl = nn.Parameter(WL.clone())
    model.wt = nn.Parameter(W.T.clone())
    x = torch.randn(4, 31)
    for cfg in ("c1b8", "c2b16"):
        prog, expected = build(model, x, cfg=cfg)
        np.testing.assert_allclose(prog.to_vm().run(x.numpy()), expected.detach().numpy(),
                                   rtol=2e-2, atol=5e-2)


class BnNet(nn.Module):
    def __init__(self, fold: bool):
        super().__init__()
        self.fold = fold
        self.fc = nn.Linear(12, 20)
        self.bn = nn.BatchNorm1d(20)
        with torch.no_grad():
            self.bn.running_mean.normal_()
            self.bn.running_var.uniform_(0.5, 3)
            self.bn.weight.normal_()
            self.bn.bias.normal_()

    def forward(self, x):
        y = self.fc(x)
        return self.bn(y) if self.fold else self.bn(F.relu(y))


@pytest.mark.parametrize("fold", [True, False])
def test_batchnorm_eval(fold):
    model = BnNet(fold).eval()
    x = torch.randn(6, 12)
    gm, expected = rill.fx.prepare_shape(model, x)
    nnir = rill.fx.nnir.to_nnir(gm)
    ops = [n.op for n in nnir.graph.nodes]
    assert ("mul" in ops) != fold  # folded into the Linear, or per-feature MUL + ADD
    prog = nnir.to_program(CONFIGS["c2b16"])
    np.testing.assert_allclose(prog.to_vm().run(x.numpy()), expected.detach().numpy(),
                               rtol=2e-2, atol=5e-2)


def test_batchnorm_after_conv_folds():
    model = nn.Sequential(nn.Conv1d(4, 6, 3), nn.BatchNorm1d(6), nn.ReLU()).eval()
    with torch.no_grad():
        model[1].running_var.uniform_(0.5, 2)
        model[1].running_mean.normal_()
    x = torch.randn(1, 4, 10)
    gm, expected = rill.fx.prepare_shape(model, x)
    nnir = rill.fx.nnir.to_nnir(gm)
    assert [n.op for n in nnir.graph.nodes].count("mul") == 0
    prog = nnir.to_program(CONFIGS["c1b8"])
    np.testing.assert_allclose(prog.to_vm().run(x.numpy()), expected.detach().numpy(),
                               rtol=2e-2, atol=5e-2)


def test_batchnorm_train_mode_is_typed_error():
    model = BnNet(True).train()
    gm, _ = rill.fx.prepare_shape(model, torch.randn(6, 12))
    with pytest.raises(rill.UnsupportedError, match="BatchNorm1d in training mode"):
        rill.fx.nnir.to_nnir(gm)


def test_neg_abs_exact_with_specials():
    x = torch.tensor([[0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), float("nan"), 3e38,
                       -1e-3]]).bfloat16().float()
    for fn in (lambda m, x: -x, lambda m, x: torch.neg(x), lambda m, x: x.neg(),
               lambda m, x: torch.abs(x), lambda m, x: x.abs(), lambda m, x: abs(x)):
        prog, expected = build(Fn(fn), x)
        got = prog.to_vm().run(x.numpy())
        num = ~np.isnan(got)  # NaN: rill's is the canonical (positive) one
        np.testing.assert_array_equal(np.signbit(got[num]), np.signbit(expected.numpy()[num]))
        np.testing.assert_array_equal(got, expected.numpy())


class TwoInTwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(13, 10)

    def forward(self, x, y):
        h = torch.cat([self.fc(x), y[..., 2:7]], -1)
        return torch.relu(h), h.sum(-1, keepdim=True) + y[..., :1]


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_multi_input_output(cfg, tmp_path):
    x, y = torch.randn(3, 13), torch.randn(3, 9)
    prog, expected = build(TwoInTwoOut(), x, y, cfg=cfg)
    assert prog.input_shape == ((3, 13), (3, 9)) and prog.output_shape == ((3, 15), (3, 1))
    B = CONFIGS[cfg].block_size
    assert prog.n_in == 3 * (-(-13 // B)) + 3 * (-(-9 // B))
    vm = prog.to_vm()
    out = vm.run(x.numpy(), y.numpy())
    assert isinstance(out, tuple) and len(out) == 2
    for o, e in zip(out, expected, strict=True):
        np.testing.assert_allclose(o, e.detach().numpy(), rtol=2e-2, atol=5e-2)
    again = vm.run((x.numpy(), y.numpy()))  # one tuple works as well
    assert all((a == b).all() for a, b in zip(out, again, strict=True))
    prog.save(tmp_path / "m.rill")
    back = rill.Program.load(tmp_path / "m.rill")
    assert back.input_shape == prog.input_shape and back.output_shape == prog.output_shape
    out2 = back.to_vm().run(x.numpy(), y.numpy())
    assert all((a == b).all() for a, b in zip(out, out2, strict=True))
    with pytest.raises(rill.VMInputError):
        vm.run(x.numpy())


def test_multi_input_streaming():
    x, y = torch.randn(6, 13), torch.randn(6, 9)
    model = TwoInTwoOut()
    seq, _ = build(model, x, y)
    prog, _ = build(model, x, y, stream=0)
    vm_seq, vm = seq.to_vm(), prog.to_vm()
    want = vm_seq.run(x.numpy(), y.numpy())
    steps = [vm.run(x[t].numpy(), y[t].numpy()) for t in range(6)]
    for k in range(2):
        np.testing.assert_array_equal(np.stack([s[k] for s in steps]), want[k])


class LstmHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(7, 12)
        self.gru = nn.GRU(5, 6)
        self.fc = nn.Linear(9, 3)
        self.register_buffer("ones", torch.ones(12, 3))

    def forward(self, x):
        h = self.lstm(x)[0]
        g = self.gru(h[..., 3:8])[0]
        z = torch.cat([g, h[..., :3]], -1)
        return self.fc(z) + z.mean(-1, keepdim=True).expand(-1, 3) - (h @ self.ones)


def test_streaming_with_lstm_gru():
    x = torch.randn(5, 7)
    model = LstmHeads()
    seq, expected = build(model, x, cfg="c2b16")
    prog, _ = build(model, x, cfg="c2b16", stream=0)
    want = seq.to_vm().run(x.numpy())
    np.testing.assert_allclose(want, expected.detach().numpy(), rtol=2e-2, atol=5e-2)
    vm = prog.to_vm()
    np.testing.assert_array_equal(np.stack([vm.run(x[t].numpy()) for t in range(5)]), want)


def test_streaming_refuses_moves_along_the_stream():
    x = torch.randn(5, 7)
    gm, _ = rill.fx.prepare_shape(Fn(lambda m, x: torch.cat([x[1:], x[:1]])), x)
    with pytest.raises(rill.UnsupportedError, match="streamed axis"):
        rill.fx.nnir.to_nnir(gm).streaming_transform(0)


def test_unsupported_lists_every_op():
    class Bad(nn.Module):
        def forward(self, x):
            a = torch.cumprod(x, -1)
            b = x.cumsum(-1)
            return torch.cat([a, b], -1), x.sum()

    gm, _ = rill.fx.prepare_shape(Bad(), torch.randn(3, 4))
    with pytest.raises(rill.UnsupportedError) as e:
        rill.fx.nnir.to_nnir(gm)
    msg = str(e.value)
    assert "cumprod" in msg and "cumsum" in msg and "0-d" in msg and "test_ops2.py" in msg
