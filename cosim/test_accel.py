"""Whole-accelerator cosim: compiled programs on rill_top against the VM, bit and cycle exact.

Each Config is verilated once (cached under build/); each test writes its program image into
its own run directory and runs the cocotb bench cosim/tb_accel.py (via rill.cosim.run).
Inputs are driven with random valid gaps and the output with random backpressure; every third
inference runs back to back without backpressure and its cycle count must equal
program.cycle_count_per_inference().
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import rill
from rill.cosim.run import EXPECT_ERRORS, build_accel, run, simulate
from rill.hw import numerics
from rill.models import LstmNet, ReluMlp

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


class GRUHead(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int, n_out: int, layers: int = 1):
        super().__init__()
        self.gru = torch.nn.GRU(n_in, hidden, num_layers=layers)
        self.fc = torch.nn.Linear(hidden, n_out)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y)


MODELS = {
    "linear": lambda: (torch.nn.Linear(20, 12), (20,)),
    "relu": lambda: (Unary(12, 10, torch.relu), (12,)),
    "sigmoid": lambda: (Unary(12, 10, torch.sigmoid), (12,)),
    "tanh": lambda: (Unary(12, 10, torch.tanh), (12,)),
    "add": lambda: (Binary(12, 10, torch.add), (12,)),
    "sub": lambda: (Binary(12, 10, torch.sub), (12,)),
    "mul": lambda: (Binary(12, 10, torch.mul), (12,)),
    "mlp": lambda: (ReluMlp([40, 36, 24, 10]), (40,)),
    "mix": lambda: (Mix(18), (18,)),
    "lstm_seq": lambda: (LstmNet(6, 12, 1, 4), (5, 6)),
    "gru_seq": lambda: (GRUHead(6, 12, 4), (4, 6)),
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
    model = LstmNet(10, 20, 1, 5)
    gm, _ = rill.fx.prepare_shape(model, torch.randn(30, 10))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(CONFIGS[cfg](), name="lstm_stream")
    check(program, inputs_for(program, 30, seed=3), resets=[24])


class ConvStack(torch.nn.Module):
    def __init__(self, conv1, conv2):
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_conv_streaming(cfg):
    """Causal convs streamed (partial-sum state in matrix and vector banks, a dilated one's
    copies), 10 steps, clear_i, 4 more from zero history."""
    torch.manual_seed(13)
    model = ConvStack(rill.nn.PaddedConv1d(6, 10, 3, dilation=2),
                      rill.nn.PaddedConv1d(10, 4, 2, groups=2))
    gm, _ = rill.fx.prepare_shape(model, torch.randn(1, 6, 14))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(2)
    program = nnir.to_program(CONFIGS[cfg](), name="conv_stream")
    check(program, inputs_for(program, 14, seed=4), resets=[10])


def test_conv_sequence_c1b8():
    """Non-streaming: channels-first input and output (the host transposes the beats)."""
    torch.manual_seed(14)
    model = ConvStack(torch.nn.Conv1d(5, 6, 3, padding="same"), torch.nn.Conv1d(6, 3, 2))
    gm, _ = rill.fx.prepare_shape(model, torch.randn(1, 5, 6))
    program = rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c1b8(), name="conv_seq")
    check(program, inputs_for(program, 3, seed=5))


def test_mix_c3b16():
    program = compile_model("mix", rill.Config.c3b16())
    check(program, inputs_for(program, 6))


def test_lstm2_streaming_c3b16():
    """Two stacked LSTM layers, streamed, on three cores: MACC chains spread over cores."""
    torch.manual_seed(11)
    model = LstmNet(12, 24, 2, 6)
    gm, _ = rill.fx.prepare_shape(model, torch.randn(25, 12))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(rill.Config.c3b16(), name="lstm2_stream")
    check(program, inputs_for(program, 25, seed=5), resets=[21])


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_gru_streaming(cfg):
    """Two GRU layers streamed: h pinned in vector banks, the first layer's h parts (computed
    one step ahead) pinned in matrix banks; 12 steps, clear_i (VM reset), 4 more from zero."""
    torch.manual_seed(17)
    model = GRUHead(7, 10, 3, layers=2)
    gm, _ = rill.fx.prepare_shape(model, torch.randn(16, 7))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(CONFIGS[cfg](), name="gru_stream")
    check(program, inputs_for(program, 16, seed=6), resets=[12])


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_load_port(cfg):
    """Every imem/wmem/const word through the load port instead of the backdoor."""
    program = compile_model("mlp", CONFIGS[cfg]())
    check(program, inputs_for(program, 4), load="port")


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_status_errors(cfg, tmp_path):
    """Illegal bundles (m_op 3, a bank that does not exist) halt with status.illegal; in_last
    on the wrong beat, output FIFO overflow and two OUTs in one cycle raise status.stream_error;
    clear_i recovers. The program-contract assertions are off (EXPECT_ERRORS) for these."""
    b = build_accel(CONFIGS[cfg]())
    simulate(b, tmp_path, test_filter="illegal_instruction|stream_error|two_outs",
             plusargs=[EXPECT_ERRORS])
    xml = (tmp_path / "results.xml").read_text()
    assert "<failure" not in xml and "<error" not in xml, xml
    assert xml.count("<testcase") == 6, xml


def test_assertion_fires(tmp_path):
    """rtl/rill_assert.svh works: a hand-made program with an OUT on both cores in one cycle,
    run with the assertions on, stops the simulation at OneOutPerCycle_A, and the cosim API
    raises with the assertion's message."""
    from rill.cosim import CosimMismatchError

    b = build_accel(CONFIGS["c2b16"]())
    with pytest.raises(CosimMismatchError, match=r"ASSERT FAILED.*OneOutPerCycle_A"):
        simulate(b, tmp_path, testcase="two_outs")


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
    # (diagnose=False: the RTL is right, so the first-divergence search, whose own tests are
    # cosim/test_divergence.py, would only build and run the debug model to find nothing)
    with pytest.raises(CosimMismatchError, match=r"inference 1 beat 0 element 2: expected") as e:
        run(program, inputs_for(program, 3), diagnose=False)
    first = re.search(r"first mismatch: inference 1 beat 0 \(cycle \d+\), lanes \[2\]\n"
                      r"  expected 0x([0-9a-f]+)\n  actual   0x([0-9a-f]+)", str(e.value))
    assert first, str(e.value)
    assert int(first[1], 16) ^ int(first[2], 16) == 1 << 32  # lane 2, bit 0


def test_cli(tmp_path, capsys):
    from rill.cosim.cli import main

    program = compile_model("sigmoid", rill.Config.c1b8())
    program.save(tmp_path / "p.rill")
    np.save(tmp_path / "x.npy", np.stack(inputs_for(program, 3)))
    assert main([str(tmp_path / "p.rill"), str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and f"program {program.cycle_count_per_inference()}" in out, out


def test_bench_standalone(tmp_path):
    """tb_accel on its own: `rill cosim --save DIR` writes a run image (gaps, backpressure),
    `python -m rill.cosim DIR` runs the bench on it in a fresh process, outside pytest."""
    from rill.cosim import RunImage, RunResult
    from rill.cosim.cli import main

    program = compile_model("relu", rill.Config.c1b8())
    program.save(tmp_path / "p.rill")
    np.save(tmp_path / "x.npy", np.stack(inputs_for(program, 4)))
    run_dir = tmp_path / "run"
    assert main([str(tmp_path / "p.rill"), str(tmp_path / "x.npy"), "--save", str(run_dir)]) == 0
    image = RunImage.load(run_dir)
    image = dataclasses.replace(image, options=dataclasses.replace(
        image.options, gaps=0.3, backpressure=0.3, clean_every=2))
    image.save(run_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    r = subprocess.run([sys.executable, "-m", "rill.cosim", str(run_dir)], env=env,
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    res = RunResult.load(run_dir)
    assert res.ok and res.clean == [True, False, True, False]
    assert np.array_equal(res.out_beats, image.expected_beats)
    assert [c for c, cl in zip(res.cycles, res.clean, strict=True) if cl] == \
        [program.cycle_count_per_inference()] * 2


# ---------------------------------------------------------------------------------------------
# directed: a hand-scheduled program (no compiler) that reads every result in the very cycle of
# its write edge (write-first banks), and inputs full of special values


def directed_program() -> rill.Program:
    """c1b8: MAC, a MACC reading its accumulator at the write edge, one reading it from the
    forward a cycle before the edge (M2), one reading a register two cycles before a write to
    it lands (M3: the old value, the forward must not fire), one reading the constant bank's
    index 0 a cycle before M0 (index 0 of the matrix bank) lands (M4: the constant, the forward
    must not fire for another bank), ADD/MUL/SUB/TANH/SIGMOID/RELU each consuming a result in
    the cycle it is written, nine OUTs."""
    from rill.hw import isa

    c = rill.Config.c1b8()
    t = isa.Timing.of(c)
    a = lambda bank, idx: isa.make_addr(bank, idx, c)  # noqa: E731
    IN0, IN1, K0 = a(1, 0), a(1, 1), a(0, 0)
    M0, M1, M2, M3, M4 = a(2, 0), a(2, 1), a(2, 2), a(2, 3), a(2, 4)
    V = [a(3, i) for i in range(6)]
    ops: dict[int, dict] = {}

    def put(pc, **kw):
        ops.setdefault(pc, {}).update(kw)

    def edge(pc, lat):  # the cycle a result issued at pc is written (and readable)
        return pc + lat - 1

    put(0, m_op=1, m_w=0, m_x=IN0, m_dst=0)                       # M0 = W0 . in0
    p1 = edge(0, t.mac) - t.mac_acc_read                          # acc read at M0's write edge
    put(p1, m_op=2, m_w=1, m_x=IN1, m_acc=M0, m_dst=1)            # M1 = M0 + W1 . in1
    put(p1 - 1, m_op=2, m_w=0, m_x=IN0, m_acc=K0, m_dst=4)        # M4 = k0 + W0 . in0
    e_m4 = edge(p1 - 1, t.mac)
    e0 = edge(0, t.mac)
    put(e0, v_op=1, v_a=M0, v_b=IN0, v_dst=0)                     # V0 = M0 + in0
    put(e0 + 1, v_op=7, v_a=M0)                                   # OUT M0
    put(e0 + 2, v_op=3, v_a=M0, v_b=K0, v_dst=1)                  # V1 = M0 * k0
    e_v0, e_v1, e_m1 = edge(e0, t.add), edge(e0 + 2, t.mul), edge(p1, t.mac)
    p2 = e_m1 - t.macc_forward - t.mac_acc_read                   # acc read from the forward
    put(p2, m_op=2, m_w=0, m_x=IN1, m_acc=M1, m_dst=2)            # M2 = M1 + W0 . in1
    p3 = edge(p2, t.mac) - 2 - t.mac_acc_read                     # two cycles before M2 lands
    put(p3, m_op=2, m_w=1, m_x=IN0, m_acc=M2, m_dst=3)            # M3 = M2 (old) + W1 . in0
    e_m3 = edge(p3, t.mac)
    put(e_v0, v_op=5, v_a=V[0], v_dst=2)                          # V2 = tanh V0
    put(e_v1 + 1, v_op=6, v_a=V[1], v_dst=3)                      # V3 = sigmoid V1
    e_v2, e_v3 = edge(e_v0, t.act), edge(e_v1 + 1, t.act)
    # V4 = M1 - V0 at the first slot from e_v1 + 3 on where, at these latencies, no two ops
    # issue together, no two results write back together and the OUTs below are apart
    for p4 in range(e_v1 + 3, e_v1 + 3 + 16):
        e_v4 = edge(p4, t.add)
        e_v5 = edge(e_v4, t.relu)
        outs = [e_v2, e_v3, e_v4 + 1, e_v5, e_v5 + 1]  # V2, V3, V5 read at their write edge
        issues = [e0, e0 + 1, e0 + 2, e_v0, e_v1 + 1, p4, e_v4, *outs]
        if (len(set(issues)) == len(issues)
                and len({e_v0, e_v1, e_v2, e_v3, e_v4, e_v5}) == 6):
            break
    put(p4, v_op=2, v_a=M1, v_b=V[0], v_dst=4)                    # V4 = M1 - V0
    put(e_v4, v_op=4, v_a=V[4], v_dst=5)                          # V5 = relu V4 (at V4's edge)
    assert len(set(outs)) == 5 and e_m1 < max(outs)
    last = max(*outs, e_m3, e_m4)
    outs += [last + 1, last + 2, last + 3]                        # M2, M3, M4 after they land
    for pc, src in zip(outs, [V[2], V[3], V[4], V[5], M1, M2, M3, M4], strict=True):
        assert pc not in ops or "v_op" not in ops[pc], pc
        put(pc, v_op=7, v_a=src)
    length = max(outs) + 3
    bundles = [isa.Bundle(**ops.get(pc, {})) for pc in range(length)]
    rng = np.random.default_rng(5)
    w = numerics.f32_to_bf16_bits(rng.standard_normal((2, 8, 8)).astype(np.float32))
    k = numerics.f32_bits(rng.standard_normal((1, 8)).astype(np.float32))
    return rill.Program(c, length, 2, 9, [isa.encode(bundles, c)], [w], k, (16,), (9, 8),
                        t_last_out=max(outs), name="directed")


SPECIALS = np.array([0x7F80, 0xFF80, 0x7FC1, 0xFFC0, 0x0001, 0x8001, 0x0000, 0x8000, 0x7F7F,
                     0xFF7F, 0x0080, 0x8080, 0x4B80, 0xCB80, 0x3F80, 0x2F00], np.uint16)


def special_beats(program: rill.Program, n: int, seed: int) -> list[np.ndarray]:
    """Raw input beats: random normal values, some lanes replaced by inf/NaN/subnormal/extremes."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        x = rng.standard_normal((program.n_in, program.B)).astype(np.float32)
        x *= np.float32(2.0) ** rng.integers(-30, 30, x.shape).astype(np.float32)
        beats = numerics.f32_to_bf16_bits(x)
        if k % 2:  # every other inference carries specials
            mask = rng.random(beats.shape) < 0.25
            beats[mask] = rng.choice(SPECIALS, mask.sum())
        out.append(beats)
    return out


def test_directed_write_first():
    program = directed_program()
    run(program, special_beats(program, 4, seed=1), beats=True)
    ins = inputs_for(program, 6, seed=2)
    res = run(program, ins)
    vm = program.to_vm()
    assert all(np.array_equal(o, vm.run(x), equal_nan=True) for o, x in zip(res.outputs, ins,
                                                                           strict=True))


def vector_forward_program() -> rill.Program:
    """c2b16, the vector forward on every port it serves, from both of its sources:

    - an ADD on core 0 (V0), read a cycle before its write edge by a RELU on core 0 (port a)
      and a MUL on core 1 (port b, across cores); a RELU on core 1 reads it two cycles before
      the edge (the old value: the forward must not fire);
    - that MUL's result (W0), read a cycle before its edge by an ADD on core 1 (port a) and by
      a MAC on core 0 (port x, across cores); a second MAC on core 0 reads it two cycles early
      (the old value);
    - a TANH on core 1 (W3), read a cycle before its edge by an ADD on core 0 (port a)."""
    from rill.hw import isa

    c = rill.Config.c2b16()
    t = isa.Timing.of(c)
    a = lambda bank, idx: isa.make_addr(bank, idx, c)  # noqa: E731
    IN0, IN1, K0 = a(1, 0), a(1, 1), a(0, 0)
    V0, V1, V3 = (a(isa.vector_bank(0), i) for i in (0, 1, 2))
    W0, W1, W2, W3 = (a(isa.vector_bank(1), i) for i in range(4))
    M0, M1 = a(isa.matrix_bank(0), 0), a(isa.matrix_bank(0), 1)
    edge = t.add - 1  # the ADD issued at 0 is written here
    medge = edge - 1 + t.mul - 1  # the MUL issued at edge - 1 is written here
    ops = [{}, {}]
    ops[0][0] = dict(v_op=isa.VOp.ADD, v_a=IN0, v_b=IN1, v_dst=0)          # V0 = in0 + in1
    ops[0][edge - 1] = dict(v_op=isa.VOp.RELU, v_a=V0, v_dst=1)            # V1 = relu V0
    ops[1][edge - 1] = dict(v_op=isa.VOp.MUL, v_a=K0, v_b=V0, v_dst=0)     # W0 = k0 * V0
    ops[1][edge - 2] = dict(v_op=isa.VOp.RELU, v_a=V0, v_dst=1)            # W1 = relu V0 (old)
    ops[1][medge - 1] = dict(v_op=isa.VOp.ADD, v_a=W0, v_b=K0, v_dst=2)    # W2 = W0 + k0
    ops[0][medge - 1] = dict(m_op=isa.MOp.MAC, m_w=0, m_x=W0, m_dst=0)     # M0 = w . W0
    ops[0][medge - 2] = dict(m_op=isa.MOp.MAC, m_w=0, m_x=W0, m_dst=1)     # M1 = w . W0 (old)
    ops[1][0] = dict(v_op=isa.VOp.TANH, v_a=IN0, v_dst=3)                  # W3 = tanh in0
    ops[0][t.act - 2] = {**ops[0].get(t.act - 2, {}),                       # V3 = W3 + k0
                         **dict(v_op=isa.VOp.ADD, v_a=W3, v_b=K0, v_dst=2)}
    last = medge - 1 + t.mac - 1
    outs = [(0, V0), (0, V1), (1, W0), (1, W1), (1, W2), (0, M0), (0, M1), (0, V3)]
    rng = np.random.default_rng(6)
    w = [numerics.f32_to_bf16_bits(rng.standard_normal((1, 16, 16)).astype(np.float32)),
         numerics.f32_to_bf16_bits(np.zeros((1, 16, 16), np.float32))]
    k = numerics.f32_bits(rng.standard_normal((1, 16)).astype(np.float32))
    return _c2b16_with_outs(ops, last, outs, w, k, "vector_forward")


def _c2b16_with_outs(ops: list[dict], last: int, outs: list[tuple[int, int]], w, k,
                     name: str) -> rill.Program:
    """A hand-made c2b16 program (two input beats): `ops[core][pc]` the bundle fields, then
    one OUT per (core, register) of `outs` in order, from the cycle after `last` (when every op
    has written)."""
    from rill.hw import isa

    c = rill.Config.c2b16()
    assert all(pc < last for core in ops for pc in core)  # the OUTs come after every op
    for n, (core, src) in enumerate(outs):
        ops[core][last + 1 + n] = dict(v_op=isa.VOp.OUT, v_a=src)
    length = last + len(outs) + isa.Timing.of(c).out
    bundles = [isa.encode([isa.Bundle(**ops[core].get(pc, {})) for pc in range(length)], c)
               for core in range(2)]
    return rill.Program(c, length, 2, len(outs), bundles, w, k, (32,), (len(outs), 16),
                        t_last_out=last + len(outs), name=name)


def _rtl_equals_vm(program: rill.Program, seed: int) -> list[np.ndarray]:
    """Four inferences of random inputs on the RTL, checked bit for bit against the VM's;
    returns the VM's outputs."""
    ins = inputs_for(program, 4, seed=seed)
    res = run(program, ins)
    vm = program.to_vm()
    ys = [vm.run(x) for x in ins]
    assert all(np.array_equal(o, y, equal_nan=True) for o, y in zip(res.outputs, ys, strict=True))
    return ys


def test_vector_forward():
    ys = _rtl_equals_vm(vector_forward_program(), seed=3)
    # the forwarded reads see this inference's values, the early ones the inference before's:
    # W1 = relu(V0) and M1 = w . W0 of the previous inference, M0 = w . W0 of this one
    assert np.array_equal(ys[1][3], np.maximum(ys[0][0], 0)) and not np.array_equal(
        ys[1][3], np.maximum(ys[1][0], 0))
    assert np.array_equal(ys[1][6], ys[0][5]) and not np.array_equal(ys[1][6], ys[1][5])


def matrix_forward_program() -> rill.Program:
    """c2b16, the matrix forward on each port it serves: a MAC on core 0 (M0 = w . in0) read a
    cycle before its write edge by a RELU on core 0 (port a), a MUL on core 1 (port b, across
    cores) and a MAC on core 1 (port x, across cores); a RELU on core 1 and a MAC on core 0
    read it two cycles before the edge (the old value: the forward must not fire). Both cores
    hold the same weight block, so the early MAC of one inference equals the forwarded MAC of
    the inference before."""
    from rill.hw import isa

    c = rill.Config.c2b16()
    t = isa.Timing.of(c)
    a = lambda bank, idx: isa.make_addr(bank, idx, c)  # noqa: E731
    IN0, K0 = a(1, 0), a(0, 0)
    M0, M2 = a(isa.matrix_bank(0), 0), a(isa.matrix_bank(0), 1)
    N0 = a(isa.matrix_bank(1), 0)
    V1 = a(isa.vector_bank(0), 1)
    W0, W1 = a(isa.vector_bank(1), 0), a(isa.vector_bank(1), 1)
    edge = t.mac - 1  # the MAC issued at 0 is written here
    ops = [{}, {}]
    ops[0][0] = dict(m_op=isa.MOp.MAC, m_w=0, m_x=IN0, m_dst=0)          # M0 = w . in0
    ops[0][edge - 1] = dict(v_op=isa.VOp.RELU, v_a=M0, v_dst=1)          # V1 = relu M0
    ops[1][edge - 1] = dict(v_op=isa.VOp.MUL, v_a=K0, v_b=M0, v_dst=0,   # W0 = k0 * M0
                            m_op=isa.MOp.MAC, m_w=0, m_x=M0, m_dst=0)    # N0 = w . M0
    ops[1][edge - 2] = dict(v_op=isa.VOp.RELU, v_a=M0, v_dst=1)          # W1 = relu M0 (old)
    ops[0][edge - 2] = dict(m_op=isa.MOp.MAC, m_w=0, m_x=M0, m_dst=1)    # M2 = w . M0 (old)
    last = edge - 1 + t.mac - 1
    outs = [(0, M0), (0, V1), (1, W0), (1, W1), (1, N0), (0, M2)]
    rng = np.random.default_rng(7)
    w = numerics.f32_to_bf16_bits(rng.standard_normal((1, 16, 16)).astype(np.float32))
    k = numerics.f32_bits(rng.standard_normal((1, 16)).astype(np.float32))
    return _c2b16_with_outs(ops, last, outs, [w, w.copy()], k, "matrix_forward")


def test_matrix_forward():
    ys = _rtl_equals_vm(matrix_forward_program(), seed=5)
    for i in (1, 2, 3):
        # forwarded: this inference's M0; two cycles early: the inference before's
        assert np.array_equal(ys[i][1], np.maximum(ys[i][0], 0))
        assert np.array_equal(ys[i][3], np.maximum(ys[i - 1][0], 0))
        assert not np.array_equal(ys[i][3], ys[i][1])
        assert np.array_equal(ys[i][5], ys[i - 1][4]) and not np.array_equal(ys[i][5], ys[i][4])


def bank_sweep_program(c: rill.Config) -> rill.Program:
    """Every source bank on every read port of every core: compiled models never read some of
    them (a MAC's x from the constant bank, a MACC's accumulator from the input bank), and the
    coverage saw those only when the fuzzer happened to.

    Cycle 0: each core c writes index 0 of its banks, M_c[0] = w_c . in and V_c[0] = in * k.
    Then, once those are readable, each core reads every source S (const, input, each M_j and
    V_j, index 0) on all four ports, a cycle a source: a MACC with x = acc = S and an ADD with
    a = b = S; core 0 outputs every result."""
    from rill.hw import isa

    t = isa.Timing.of(c)
    n = c.num_cores
    a = lambda bank, idx: isa.make_addr(bank, idx, c)  # noqa: E731
    IN0, K0 = a(isa.BANK_INPUT, 0), a(isa.BANK_CONST, 0)
    srcs = [K0, IN0, *(a(isa.matrix_bank(j), 0) for j in range(n)),
            *(a(isa.vector_bank(j), 0) for j in range(n))]
    ops: list[dict[int, dict]] = [{} for _ in range(n)]
    for core in range(n):
        ops[core][0] = dict(m_op=isa.MOp.MAC, m_w=0, m_x=IN0, m_dst=0,
                            v_op=isa.VOp.MUL, v_a=IN0, v_b=K0, v_dst=0)
    start = max(t.mac, t.mul)  # phase 1 readable
    outs = []
    for core in range(n):
        for s, src in enumerate(srcs):
            ops[core][start + s] = dict(m_op=isa.MOp.MACC, m_w=0, m_x=src, m_acc=src,
                                        m_dst=1 + s, v_op=isa.VOp.ADD, v_a=src, v_b=src,
                                        v_dst=1 + s)
            outs += [a(isa.matrix_bank(core), 1 + s), a(isa.vector_bank(core), 1 + s)]
    last = start + len(srcs) - 1 + t.mac  # every phase-2 result readable
    for k, src in enumerate(outs):
        ops[0][last + k] = dict(v_op=isa.VOp.OUT, v_a=src)
    length = last + len(outs) + t.out
    bundles = [isa.encode([isa.Bundle(**ops[core].get(pc, {})) for pc in range(length)], c)
               for core in range(n)]
    rng = np.random.default_rng(8)
    B = c.block_size
    w = [numerics.f32_to_bf16_bits(rng.standard_normal((1, B, B)).astype(np.float32) / 4)
         for _ in range(n)]
    k = numerics.f32_bits(rng.standard_normal((1, B)).astype(np.float32))
    return rill.Program(c, length, 1, len(outs), bundles, w, k, (B,), (len(outs), B),
                        t_last_out=last + len(outs) - 1, name="bank_sweep")


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16", "c3b16"])
def test_every_bank_on_every_port(cfg):
    from rill.cosim import coverage

    program = bank_sweep_program(CONFIGS[cfg]())
    bins = [b for b in coverage.static_bins(program.config.num_cores) if b.startswith("bank.")]
    hit = coverage.analyze(program)
    assert [b for b in bins if not hit[b]] == []
    ins = inputs_for(program, 3, seed=5)
    res = run(program, ins)
    vm = program.to_vm()
    ys = [vm.run(x) for x in ins]
    assert all(np.array_equal(o, y, equal_nan=True) for o, y in zip(res.outputs, ys, strict=True))
    assert res.cycles_per_inference[0] == program.cycle_count_per_inference()


def test_heavy_backpressure_is_slow_not_a_mismatch():
    """At 97% not-ready output cycles (48 beats an inference, three inferences queued behind
    a full FIFO) the bench waits as long as the drawn pause pattern needs: it reported a lost
    beat ("inference 2 incomplete: 45 of 48") while its wait budget ignored backpressure."""
    program = bank_sweep_program(CONFIGS["c3b16"]())
    res = run(program, inputs_for(program, 4, seed=1), backpressure=0.97, clean_every=4)
    assert res.ok and res.clean == [True, False, False, False]
    with pytest.raises(ValueError, match=r"backpressure=1\.0: a probability per cycle"):
        run(program, inputs_for(program, 1), backpressure=1.0)


def test_a_program_too_big_for_its_config_is_named_before_the_build():
    """A hand-built program with more output beats than the output FIFO holds: run() says
    which field and limit, instead of the bench failing to load the image."""
    import dataclasses as dc

    from rill.errors import InvalidProgramError

    program = bank_sweep_program(rill.Config.c1b8())  # 8 output beats
    program = dc.replace(program, config=dc.replace(program.config, out_fifo_depth=4))
    with pytest.raises(InvalidProgramError, match=r"'bank_sweep'.*n_out: expected 1\.\.4 "
                       r"output beats \(Config\.out_fifo_depth\), got 8"):
        run(program, inputs_for(program, 1))


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_special_inputs(cfg):
    """inf, NaN (non-canonical too), subnormals, signed zeros and extreme exponents."""
    program = compile_model("mix", CONFIGS[cfg]())
    check(program, special_beats(program, 8, seed=4), beats=True)


SEED_SMALL = rill.Config(num_cores=2, block_size=32, weight_depth=512, rf_depth=128,
                         instr_depth=1024)


def _seed_lstm_streaming(config: rill.Config) -> tuple[rill.Program, list[np.ndarray]]:
    from rill.models import LstmNet

    torch.manual_seed(0)
    gm, _ = rill.fx.prepare_shape(LstmNet(), torch.randn(20, 128))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(config, name="seed_lstm")
    return program, inputs_for(program, 22, seed=9)


def test_seed_lstm_streaming_small_config():
    """The seed LSTM (128 -> 256 x 2 -> 16) itself, streamed 22 steps with a clear after 20,
    on the smallest config that holds its 0.9 M weights (2 cores x 32)."""
    program, inputs = _seed_lstm_streaming(SEED_SMALL)
    check(program, inputs, resets=[20])


@pytest.mark.early
def test_seed_lstm_streaming_ia_840f_c3b64():
    """Full size, what `make run` does (a hierarchical Verilator build: ~1 min cold), with
    gaps, backpressure and a clear after 20 steps."""
    program, inputs = _seed_lstm_streaming(rill.Config.ia_840f_c3b64())
    res = check(program, inputs, resets=[20])
    assert set(c for c, cl in zip(res.cycles_per_inference, res.clean, strict=True)
               if cl) == {program.cycle_count_per_inference()}


def test_seed_sized_gru_streaming_ia_840f_c3b64():
    """GRU 128 -> 256 x 2 -> 16 (rill.models.GruNet, bench's "GRU streaming"), full size on the
    build the seed LSTM uses: 10 steps, a clear after 7 (state in vector and matrix banks)."""
    from rill.models import GruNet

    torch.manual_seed(0)
    gm, _ = rill.fx.prepare_shape(GruNet(), torch.randn(10, 128))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(rill.Config.ia_840f_c3b64(), name="seed_gru")
    check(program, inputs_for(program, 10, seed=10), resets=[7])


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16"])
def test_padding_stress(cfg):
    """Padded lanes grown to inf, an inf input, an LSTM recovering from one
    (rill.fuzz.stress): the RTL's dot rows drop zero-weight lanes as the VM does."""
    from rill.fuzz.stress import GrowPadded, InfThroughTanh, Lstm13, grow_input, inf_input

    torch.manual_seed(3)
    for model, make in ((GrowPadded(), grow_input), (InfThroughTanh(), inf_input)):
        xs = [make() for _ in range(4)]
        gm, _ = rill.fx.prepare_shape(model, xs[0])
        program = rill.fx.nnir.to_nnir(gm).to_program(CONFIGS[cfg](), name="padstress")
        check(program, [x.numpy() for x in xs])
    x = torch.randn(10, 5)
    x[3, 1] = float("inf")
    gm, _ = rill.fx.prepare_shape(Lstm13(), x)
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(CONFIGS[cfg](), name="padstress_lstm")
    res = check(program, [x[t].numpy() for t in range(10)], resets=[6])
    assert np.isfinite(np.stack(res.outputs)).all()
