"""Whole-accelerator cosim: compiled programs on rill_top against the VM, bit and cycle exact.

Each Config is verilated once (cached under build/); each test writes its program image into
its own run directory and runs the cocotb bench cosim/tb_accel.py (via rill.cosim.run).
Inputs are driven with random valid gaps and the output with random backpressure; every third
inference runs back to back without backpressure and its cycle count must equal
program.cycle_count_per_inference().
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import rill
from rill.cosim.run import build_accel, run, simulate

CONFIGS = {"c1b8": rill.Config.c1b8, "c2b16": rill.Config.c2b16, "c3b16": rill.Config.c3b16}


# ---------------------------------------------------------------------------------------------
# small models, one per supported op, and compositions


class Unary(torch.nn.Module):
    def __init__(self, n_in: int, n_out: int, act):
        super().__init__()
        self.fc = torch.nn.Linear(n_in, n_out)
        self.act = act

    def forward(self, x):
        return self.act(self.fc(x))


class Binary(torch.nn.Module):
    def __init__(self, n_in: int, n_out: int, op):
        super().__init__()
        self.a = torch.nn.Linear(n_in, n_out)
        self.b = torch.nn.Linear(n_in, n_out)
        self.op = op

    def forward(self, x):
        return self.op(self.a(x), self.b(x))


class MLP(torch.nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class Mix(torch.nn.Module):
    """Every op in one graph: gated units with + - * and all three activations."""

    def __init__(self, n: int):
        super().__init__()
        self.a, self.b, self.c = (torch.nn.Linear(n, n) for _ in range(3))
        self.out = torch.nn.Linear(n, n)

    def forward(self, x):
        g = torch.sigmoid(self.a(x)) * torch.tanh(self.b(x))
        h = torch.relu(self.c(x)) - g + x
        return self.out(h)


class LSTMHead(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int, n_out: int, layers: int = 1):
        super().__init__()
        self.lstm = torch.nn.LSTM(n_in, hidden, num_layers=layers)
        self.fc = torch.nn.Linear(hidden, n_out)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y)


MODELS = {
    "linear": lambda: (torch.nn.Linear(20, 12), (20,)),
    "relu": lambda: (Unary(12, 10, torch.relu), (12,)),
    "sigmoid": lambda: (Unary(12, 10, torch.sigmoid), (12,)),
    "tanh": lambda: (Unary(12, 10, torch.tanh), (12,)),
    "add": lambda: (Binary(12, 10, torch.add), (12,)),
    "sub": lambda: (Binary(12, 10, torch.sub), (12,)),
    "mul": lambda: (Binary(12, 10, torch.mul), (12,)),
    "mlp": lambda: (MLP([40, 36, 24, 10]), (40,)),
    "mix": lambda: (Mix(18), (18,)),
    "lstm_seq": lambda: (LSTMHead(6, 12, 4), (5, 6)),
}


def compile_model(name: str, config: rill.Config, stream: bool = False) -> rill.Program:
    torch.manual_seed(sum(map(ord, name)))
    model, shape = MODELS[name]()
    gm, _ = rill.fx.prepare_shape(model, torch.randn(*shape))
    nnir = rill.fx.nnir.to_nnir(gm)
    if stream:
        nnir, _ = nnir.streaming_transform(0)
    return nnir.to_program(config, name=name)


def inputs_for(program: rill.Program, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(program.input_shape).astype(np.float32) for _ in range(n)]


def check(program, inputs, **kw):
    res = run(program, inputs, gaps=0.3, backpressure=0.3, clean_every=3,
                        name=f"{program.name}-{program.config.num_cores}c", **kw)
    assert res.ok
    assert all(c == res.expected_cycles for c, cl in zip(res.cycles_per_inference, res.clean,
                                                          strict=True) if cl)
    return res


# ---------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_model(model, cfg):
    program = compile_model(model, CONFIGS[cfg]())
    check(program, inputs_for(program, 6))


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16", "c3b16"])
def test_lstm_streaming(cfg):
    """State carried over 24 steps, then clear_i (VM reset) and 6 more from zero state."""
    torch.manual_seed(7)
    model = LSTMHead(10, 20, 5)
    gm, _ = rill.fx.prepare_shape(model, torch.randn(30, 10))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(CONFIGS[cfg](), name="lstm_stream")
    check(program, inputs_for(program, 30, seed=3), resets=[24])


def test_mix_c3b16():
    program = compile_model("mix", rill.Config.c3b16())
    check(program, inputs_for(program, 6))


def test_lstm2_streaming_c3b16():
    """Two stacked LSTM layers, streamed, on three cores: MACC chains spread over cores."""
    torch.manual_seed(11)
    model = LSTMHead(12, 24, 6, layers=2)
    gm, _ = rill.fx.prepare_shape(model, torch.randn(25, 12))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(rill.Config.c3b16(), name="lstm2_stream")
    check(program, inputs_for(program, 25, seed=5), resets=[21])


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_load_port(cfg):
    """Every imem/wmem/const word through the load port instead of the backdoor."""
    program = compile_model("mlp", CONFIGS[cfg]())
    check(program, inputs_for(program, 4), load="port")


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_status_errors(cfg, tmp_path):
    """Illegal bundles (m_op 3, a bank that does not exist) halt with status.illegal; in_last
    on the wrong beat and output FIFO overflow raise status.stream_error; clear_i recovers."""
    b = build_accel(CONFIGS[cfg]())
    simulate(b, tmp_path, test_filter="illegal_instruction|stream_error")
    xml = (tmp_path / "results.xml").read_text()
    assert "<failure" not in xml and "<error" not in xml, xml
    assert xml.count("<testcase") == 5, xml


def test_run_api_reports_mismatch(monkeypatch):
    """The checker is not vacuous: one flipped expected bit is reported with its coordinates."""
    from rill.cosim import CosimMismatchError

    run_mod = sys.modules["rill.cosim.run"]
    program = compile_model("tanh", rill.Config.c1b8())
    real = run_mod.vm_expected

    def tampered(prog, beats, resets=()):
        exp = [e.copy() for e in real(prog, beats, resets)]
        exp[1][0, 2] ^= 0x0001
        return exp

    monkeypatch.setattr(run_mod, "vm_expected", tampered)
    with pytest.raises(CosimMismatchError, match=r"inference 1 beat 0 element 2: expected"):
        run(program, inputs_for(program, 3))


def test_cli(tmp_path, capsys):
    from rill.cosim.cli import main

    program = compile_model("sigmoid", rill.Config.c1b8())
    program.save(tmp_path / "p.rill")
    np.save(tmp_path / "x.npy", np.stack(inputs_for(program, 3)))
    assert main([str(tmp_path / "p.rill"), str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and f"program {program.cycle_count_per_inference()}" in out, out
