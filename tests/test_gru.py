"""GRUs, streaming and not, against torch float32; streaming = sequence bits; typed errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import CONFIGS, compile_model

import rill
from rill.ir import GruLayer, OpKind


class GruNet(nn.Module):
    def __init__(self, inp, hidden, layers, out, bias=True, batch_first=False):
        super().__init__()
        self.gru = nn.GRU(inp, hidden, num_layers=layers, bias=bias, batch_first=batch_first)
        self.linear = nn.Linear(hidden, out)

    def forward(self, x):
        x, _ = self.gru(x)
        return self.linear(x)


class PreGru(nn.Module):
    """A GRU whose input is computed in the step (a Linear before it): its h parts are
    computed in the step, not one step ahead as for a GRU on the model input."""

    def __init__(self, inp, hidden, layers, out, bias=True):
        super().__init__()
        self.pre = nn.Linear(inp, inp)
        self.gru = nn.GRU(inp, hidden, num_layers=layers, bias=bias)
        self.post = nn.Linear(hidden, out)

    def forward(self, x):
        return self.post(self.gru(torch.tanh(self.pre(x)))[0])


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


CASES = [  # (input, hidden, layers, out, bias, config)
    (8, 8, 1, 4, True, "c1b8"),  # block multiples
    (13, 21, 2, 5, True, "c1b8"),  # not multiples
    (16, 32, 3, 16, False, "c2b16"),
    (20, 24, 2, 3, True, "c3b16"),
    (5, 7, 1, 3, False, "c1b8"),
]


@pytest.mark.parametrize("inp, hidden, layers, out, bias, cfg", CASES)
def test_gru_sequence(inp, hidden, layers, out, bias, cfg):
    model = GruNet(inp, hidden, layers, out, bias=bias)
    x = torch.randn(12, inp)
    program, expected = compile_model(model, x, CONFIGS[cfg])
    y = program.to_vm().run(x.numpy())
    torch.testing.assert_close(torch.from_numpy(y), expected, atol=5e-3, rtol=1e-2)


@pytest.mark.parametrize("inp, hidden, layers, out, bias, cfg", CASES)
def test_gru_streaming_carries_state_and_resets(inp, hidden, layers, out, bias, cfg):
    model = GruNet(inp, hidden, layers, out, bias=bias)
    x = torch.randn(24, inp)
    program, expected = compile_model(model, x, CONFIGS[cfg], stream_axis=0)
    assert program.model_input_shape() == (inp,) and program.model_output_shape() == (out,)
    vm = program.to_vm()
    first = np.stack([vm.run(x[t].numpy()) for t in range(24)])
    torch.testing.assert_close(torch.from_numpy(first), expected, atol=5e-3, rtol=1e-2)
    # without reset the state carries on: the same input gives different outputs
    again = vm.run(x[0].numpy())
    assert not np.array_equal(again, first[0])
    vm.reset()
    replay = vm.run_timesteps(x.numpy(), axis=0)
    assert np.array_equal(bits(replay), bits(first))  # bit-identical after reset


@pytest.mark.parametrize("model, cfg, steps", [
    (lambda: GruNet(8, 16, 2, 8), "c1b8", 20),
    (lambda: GruNet(13, 21, 3, 5, bias=False), "c1b8", 8),
    (lambda: GruNet(20, 40, 2, 6), "c2b16", 10),
    (lambda: PreGru(12, 20, 2, 4), "c3b16", 20),
])
def test_streaming_is_bit_identical_to_sequence_program(model, cfg, steps):
    """Same ops and the same order of accumulation in every step (the first computes on zero
    constants as the streaming program on its cleared state): the same bits, step by step."""
    model = model()
    x = torch.randn(steps, model.gru.input_size)
    seq, expected = compile_model(model, x, CONFIGS[cfg])
    stream, _ = compile_model(model, x, CONFIGS[cfg], stream_axis=0)
    a = seq.to_vm().run(x.numpy())
    b = stream.to_vm().run_timesteps(x.numpy())
    assert np.array_equal(bits(a), bits(b))
    torch.testing.assert_close(torch.from_numpy(a), expected, atol=5e-3, rtol=1e-2)


def test_pre_gru_sequence_and_streaming():
    model = PreGru(10, 12, 1, 3, bias=False)
    x = torch.randn(22, 10)
    seq, expected = compile_model(model, x, CONFIGS["c3b16"])
    torch.testing.assert_close(torch.from_numpy(seq.to_vm().run(x.numpy())), expected,
                               atol=5e-3, rtol=1e-2)
    stream, _ = compile_model(model, x, CONFIGS["c2b16"], stream_axis=0)
    torch.testing.assert_close(torch.from_numpy(stream.to_vm().run_timesteps(x.numpy())),
                               expected, atol=5e-3, rtol=1e-2)


def test_nan_new_gate_gives_the_same_bits_as_torch_and_streaming():
    """+inf inputs make n = tanh(inf - inf) NaN in the first step: h1 = (h0 - n) * z + n is
    NaN in torch, in the sequence program (which computes h0 - n on a zero constant) and in
    the streaming one."""
    model = GruNet(8, 8, 1, 4).eval()
    with torch.no_grad():
        w = model.gru.weight_ih_l0
        w[16:24, 0] = 0.5  # n rows: +inf from lane 0 ...
        w[16:24, 1] = -0.5  # ... and -inf from lane 1: inf - inf
    x = torch.randn(5, 8)
    x[0, :2] = float("inf")
    seq, _ = compile_model(model, x, CONFIGS["c1b8"])
    stream, _ = compile_model(model, x, CONFIGS["c1b8"], stream_axis=0)
    a = seq.to_vm().run(x.numpy())
    b = stream.to_vm().run_timesteps(x.numpy())
    assert np.array_equal(bits(a), bits(b))
    with torch.no_grad():
        assert torch.isnan(model(x)[0]).all()
    assert np.isnan(a[0]).all()


def test_gru_batch_first_and_no_bias():
    model = GruNet(10, 12, 2, 4, bias=False, batch_first=True)
    x = torch.randn(1, 9, 10)
    program, expected = compile_model(model, x, CONFIGS["c2b16"])
    y = program.to_vm().run(x.numpy())
    assert y.shape == (1, 9, 4)
    torch.testing.assert_close(torch.from_numpy(y), expected, atol=5e-3, rtol=1e-2)
    sprog, _ = compile_model(model, x, CONFIGS["c2b16"], stream_axis=1)
    ys = sprog.to_vm().run_timesteps(x.numpy(), axis=1)
    torch.testing.assert_close(torch.from_numpy(ys), expected, atol=5e-3, rtol=1e-2)
    assert np.array_equal(bits(ys), bits(y))


def test_seq_first_3d_input():
    model = GruNet(6, 10, 1, 3)
    x = torch.randn(7, 1, 6)
    program, expected = compile_model(model, x, CONFIGS["c1b8"])
    torch.testing.assert_close(torch.from_numpy(program.to_vm().run(x.numpy())), expected,
                               atol=5e-3, rtol=1e-2)


def test_nnir_node_and_state():
    model = GruNet(8, 16, 2, 8)
    gm, _ = rill.fx.prepare_shape(model, torch.randn(5, 8))
    nnir = rill.fx.nnir.to_nnir(gm)
    (gru,) = [n for n in nnir.graph.nodes if n.op is OpKind.GRU]
    assert len(gru.layers) == 2 and all(isinstance(la, GruLayer) for la in gru.layers)
    assert gru.layers[1].w_ih.shape == (48, 16) and gru.layers[1].b_hh.shape == (48,)
    assert not gru.stateful
    streamed, _ = nnir.streaming_transform(0)
    assert streamed.graph.node(gru.name).stateful


class _WithH0(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.gru = nn.GRU(4, 4, **kw)

    def forward(self, x):
        return self.gru(x, torch.zeros(self.gru.num_layers * (2 if self.gru.bidirectional
                                                              else 1), 4))[0]


class _Bare(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.gru = nn.GRU(4, 4, **kw)

    def forward(self, x):
        return self.gru(x)[0]


class _UsesState(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 4)

    def forward(self, x):
        _, h = self.gru(x)
        return h


@pytest.mark.parametrize("model, x, match", [
    (lambda: _Bare(bidirectional=True), (3, 4), r"unsupported GRU options: bidirectional"),
    (lambda: _WithH0(), (3, 4), r"unsupported GRU options: initial h0 given"),
    (lambda: _Bare(num_layers=2, dropout=0.3).train(), (3, 4),
     r"GRU options: dropout=0.3 in training mode"),
    (lambda: _Bare(), (3, 2, 4), r"batch size must be 1"),
    (lambda: _Bare(batch_first=True), (2, 3, 4), r"batch size must be 1"),
    (lambda: _UsesState(), (3, 4), r"the GRU's h_n output is used"),
])
def test_unsupported_gru_options_are_typed_errors(model, x, match):
    gm, _ = rill.fx.prepare_shape(model(), torch.randn(*x))
    with pytest.raises(rill.UnsupportedError, match=match):
        rill.fx.nnir.to_nnir(gm)


def test_gru_dropout_in_eval_mode_is_accepted():
    model = GruNet(8, 8, 2, 4)
    model.gru.dropout = 0.2
    x = torch.randn(4, 8)
    program, expected = compile_model(model.eval(), x, CONFIGS["c1b8"])
    torch.testing.assert_close(torch.from_numpy(program.to_vm().run(x.numpy())), expected,
                               atol=5e-3, rtol=1e-2)


def test_bare_gru_as_the_model_is_a_typed_error():
    with pytest.raises(rill.UnsupportedError, match=r"bare GRU.*\[0\]"):
        rill.fx.prepare_shape(nn.GRU(8, 8), torch.randn(3, 8))


def test_non_finite_gru_bias_is_rejected_naming_the_layer():
    model = _Bare(num_layers=2)
    with torch.no_grad():
        model.gru.bias_hh_l1[5] = math.inf
    with pytest.raises(rill.ModelError, match=r"\(gru\).*layer 1 b_hh\[5\] = inf"):
        compile_model(model, torch.randn(4, 4), CONFIGS["c1b8"])


def test_verifier_rejects_inconsistent_gru_layers():
    model = GruNet(8, 16, 2, 8)
    gm, _ = rill.fx.prepare_shape(model, torch.randn(5, 8))
    g = rill.fx.nnir.to_nnir(gm).graph
    import dataclasses

    (gru,) = [n for n in g.nodes if n.op is OpKind.GRU]
    bad_layer = dataclasses.replace(gru.layers[1], w_ih=gru.layers[1].w_ih[:, :8])
    bad = dataclasses.replace(gru, layers=(gru.layers[0], bad_layer))
    nodes = tuple(bad if n is gru else n for n in g.nodes)
    with pytest.raises(rill.NNIRError, match=r"layer 1 w_ih \(48, 8\)"):
        rill.ir.verify(dataclasses.replace(g, nodes=nodes))


def test_seed_sized_gru_streams_as_fast_as_the_lstm():
    """GRU 128 -> 256 x 2 -> 16 streamed on ia_840f_c3b64 against the LSTM of the same sizes,
    both with their recurrent parts one step ahead. The GRU cell's chain is one ADD longer per
    layer, its matvecs smaller: it was a cycle faster (146 against 147) until the accumulator
    forward (issue 11) shortened every chain link, which gains the LSTM's longer chains more;
    with the ADD forward too both took 138; the vector forward (ADD, MUL and activation
    results) gains the GRU's extra ADD and its MULs more: 129 against 131, 128 from the optimal
    scheduler; the matrix forward (a MAC result to a vector op a cycle sooner) takes both 3
    cycles: 126 against 128, 125 from the optimal scheduler; a MAC a cycle shorter (the dot
    row's zero counts in its CPA stage) takes both 3 more: 123 against 125, 122 from the optimal
    scheduler; B = 64's compression in two CMP stages (a MAC another cycle shorter) and the
    five-stage activation unit: 117 against 119, 115 from the optimal scheduler
    (docs/architecture.md, "Recurrent layers")."""
    from rill.models import GruNet as SeedGru
    from rill.models import LstmNet as SeedLstm

    config = CONFIGS["ia_840f_c3b64"]
    x = torch.randn(20, 128)
    gru, expected = compile_model(SeedGru(), x, config, stream_axis=0)
    lstm, _ = compile_model(SeedLstm(), x, config, stream_axis=0)
    assert (gru.cycle_count_per_inference(), lstm.cycle_count_per_inference()) == (117, 119)
    gm, _ = rill.fx.prepare_shape(SeedGru(), x)
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    assert nnir.to_program(config, scheduler="optimal").cycle_count_per_inference() == 115
    y = gru.to_vm().run_timesteps(x.numpy())
    assert np.abs(y - expected.numpy()).max() < 3e-3


def test_gru_rz_bias_overflowing_to_inf_is_named():
    model = _Bare()
    with torch.no_grad():
        model.gru.bias_ih_l0[1] = 3e38
        model.gru.bias_hh_l0[1] = 3e38
    with pytest.raises(rill.ModelError, match=r"layer 0 r, z bias \(b_ih \+ b_hh\)\[1\] = inf"):
        compile_model(model, torch.randn(4, 4), CONFIGS["c1b8"])
