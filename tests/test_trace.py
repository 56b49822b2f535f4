"""VM trace (vm.run(x, trace=...), `rill trace`) and the compiler's provenance table."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import CONFIGS, compile_model

import rill
from rill.cli import main as cli_main
from rill.hw import isa, numerics
from rill.vm.trace import Tracer, format_text, lane_hash


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 24)
        self.fc2 = nn.Linear(24, 6)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return torch.tanh(self.fc2(h)) * 0.5


class SmallLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(10, 12, num_layers=2)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(1)
    x = torch.randn(2, 20)
    program, _ = compile_model(Small(), x, CONFIGS["c2b16"])
    return program, [x.numpy(), -x.numpy()]  # two inferences


@pytest.fixture(scope="module")
def lstm():
    torch.manual_seed(2)
    x = torch.randn(4, 10)
    program, _ = compile_model(SmallLstm(), x, CONFIGS["c2b16"], stream_axis=0)
    return program, x.numpy()  # the time steps


def issued_slots(program) -> set[tuple[int, int, str]]:
    """(core, pc, slot) of every non-NOP slot, decoded from the bundles (not from the VM)."""
    out = set()
    for core, raw in enumerate(program.bundles):
        for pc, b in enumerate(isa.decode(raw, program.config)):
            if b.m_op:
                out.add((core, pc, "matrix"))
            if b.v_op:
                out.add((core, pc, "vector"))
    return out


def bits(rec) -> np.ndarray:
    return np.array([int(h, 16) for h in rec["value"]], np.uint32)


def test_every_issued_op_appears_exactly_once(small, lstm):
    for program, x in (small, lstm):
        recs = []
        vm = program.to_vm()
        vm.run(x[0], trace=recs.append)
        keys = [(r["core"], r["cycle"], r["slot"]) for r in recs]
        assert len(keys) == len(set(keys)) == len(vm.events)
        assert set(keys) == issued_slots(program)
        assert keys == sorted(keys, key=lambda k: (k[1], k[0], k[2] != "matrix"))


def _replay(program, recs, rf_before) -> None:
    """Recompute every traced value from the values the trace says its sources held: the
    latest traced write to that register at or before the read, else the register before the
    inference. Each must equal the traced value, bit for bit."""
    c, B = program.config, program.B
    w_all = [numerics.bf16_bits_to_f32(w).astype(np.float64) for w in program.weights]

    tm = isa.Timing.of(c)

    def opcode(rec):
        return isa.MOp.MAC if rec["op"] in ("MAC", "MACC") else isa.VOp[rec["op"]]

    def read(src, upto, port):
        # docs/isa.md: a forward shows the next edge's write (a MACC's accumulator: a matrix
        # result; a vector operand: an ADD/SUB result)
        best = None
        for r in upto:
            d = r["dst"]
            if "bank" in d and (d["bank"], d["idx"]) == (src["bank"], src["idx"]) \
                    and r["write_cycle"] <= src["cycle"] + tm.read_ahead(port, opcode(r)):
                if best is None or r["write_cycle"] > best["write_cycle"]:
                    best = r
        if best is not None:
            return numerics.from_f32_bits(bits(best))
        return rf_before[isa.make_addr(src["bank"], src["idx"], c)]

    funcs = {"ADD": numerics.fp32_add, "SUB": numerics.fp32_sub, "MUL": numerics.fp32_mul,
             "RELU": numerics.relu, "TANH": numerics.act_tanh, "SIGMOID": numerics.act_sigmoid}
    for r in recs:
        ports = [isa.read_port(r["op"] in ("MAC", "MACC"), j) for j in range(2)]
        srcs = [read(s, recs, ports[k]) for k, s in enumerate(r["srcs"])]
        if r["op"] in ("MAC", "MACC"):
            w = w_all[r["core"]][r["weight"]]
            x = numerics.round_to_bf16(srcs[0])
            x = numerics.relu(x) if r["x_relu"] else x
            y = numerics.block_dot_exact(x[None], w[None])[0]
            if r["op"] == "MACC":
                y = numerics.fp32_add(srcs[1], y)
            got = numerics.f32_bits(y)
        elif r["op"] == "OUT":
            got = numerics.f32_to_bf16_bits(srcs[0]).astype(np.uint32) << 16
        else:
            got = numerics.f32_bits(funcs[r["op"]](*srcs))
        assert np.array_equal(got, bits(r)), (r["op"], r["core"], r["cycle"])
        assert len(r["value"]) == B


def test_values_are_the_vms(small, lstm):
    for program, x in (small, lstm):
        vm = program.to_vm()
        for step in range(2):  # the second step of the LSTM reads state the first one wrote
            recs = []
            beats = program.input_beats(x[step])
            rf_before = vm.rf.copy()
            base = isa.BANK_INPUT << program.config.idx_bits
            rf_before[base : base + program.n_in] = numerics.bf16_bits_to_f32(beats)
            out = vm.run_beats(beats, trace=recs.append)
            outs = sorted((r for r in recs if r["op"] == "OUT"),
                          key=lambda r: r["dst"]["out_beat"])
            assert np.array_equal(np.stack([bits(r) >> 16 for r in outs]), out)
            last = {}
            for r in sorted((r for r in recs if r["op"] != "OUT"),
                            key=lambda r: r["write_cycle"]):
                last[(r["dst"]["bank"], r["dst"]["idx"])] = r
            for (bank, idx), r in last.items():
                reg = vm.rf[isa.make_addr(bank, idx, program.config)]
                assert np.array_equal(reg.view(np.uint32), bits(r))
            _replay(program, recs, rf_before)


def test_trace_off_is_the_same_run(lstm):
    program, x = lstm
    a, b = program.to_vm(), program.to_vm()
    ya = a.run_timesteps(x)
    yb = b.run_timesteps(x, trace=lambda r: None)
    assert np.array_equal(ya.view(np.uint32), yb.view(np.uint32))
    assert np.array_equal(a.rf.view(np.uint32), b.rf.view(np.uint32))


def test_provenance_names_the_nnir_nodes(small):
    program, x = small
    graph = rill.fx.nnir.to_nnir(rill.fx.prepare_shape(Small(), torch.tensor(x[0]))[0]).graph
    kinds = {n.name: str(n.op) for n in graph.nodes}
    fc1, fc2 = [n.name for n in graph.nodes if str(n.op) == "linear"]
    recs = []
    program.to_vm().run(x[0], trace=recs.append)
    for r in recs:
        assert r["node"] in kinds and r["nnir_op"] == kinds[r["node"]]
        assert r["df_op"] is not None
        if r["op"] in ("MAC", "MACC"):
            # the first linear reads the input beats (bank 1), the second never does
            reads_input = r["srcs"][0]["bank"] == isa.BANK_INPUT
            assert r["node"] == (fc1 if reads_input else fc2)
            assert "self.fc" in r["source"] and "test_trace.py" in r["source"]
            # the ReLU between them is folded into fc2's x reads (m_relu), fc1 reads x as is
            assert r["x_relu"] == (not reads_input)
        elif r["op"] == "RELU":
            assert r["nnir_op"] == "relu"
        elif r["op"] == "TANH":
            assert r["nnir_op"] == "tanh"
        elif r["op"] == "OUT":
            assert r["nnir_op"] == "output"
    assert {r["nnir_op"] for r in recs} >= {"linear", "tanh", "mul", "output"}
    assert "relu" not in {r["nnir_op"] for r in recs}  # no RELU op of its own is left
    assert len({r["df_op"] for r in recs}) == len(recs)


def test_lstm_provenance_has_layers(lstm):
    program, x = lstm
    recs = []
    program.to_vm().run(x[0], trace=recs.append)
    details = {(r["nnir_op"], r["detail"]) for r in recs}
    assert {("lstm", "layer 0"), ("lstm", "layer 1"), ("linear", "")} <= details


def test_provenance_survives_save_and_old_files_have_none(tmp_path, small):
    program, x = small
    program.save(tmp_path / "p.rill")
    q = rill.Program.load(tmp_path / "p.rill")
    assert q.debug.nodes == program.debug.nodes
    assert np.array_equal(q.debug.slots, program.debug.slots)
    import dataclasses

    bare = dataclasses.replace(program, debug=None)  # a file written without the table
    bare.save(tmp_path / "old.rill")
    old = rill.Program.load(tmp_path / "old.rill")
    assert old.debug is None
    recs = []
    old.to_vm().run(x[0], trace=recs.append)
    assert recs and all(r["node"] is None for r in recs)


def test_a_broken_debug_table_is_refused(small):
    program, _ = small
    import dataclasses

    from rill.compile.debuginfo import DebugInfo

    bad = dataclasses.replace(program, debug=DebugInfo(program.debug.nodes,
                                                       program.debug.slots[:, :-1]))
    with pytest.raises(rill.LoadError):
        rill.Program.load_bytes(bad.save_bytes())
    data = program.save_bytes().replace(b'"slots": "', b'"slots": "!!')
    import struct
    import zlib

    data = data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))
    with pytest.raises(rill.LoadError):
        rill.Program.load_bytes(data)


def test_timesteps_to_a_file(tmp_path, lstm):
    program, x = lstm
    vm = program.to_vm()
    vm.run_timesteps(x, trace=tmp_path / "t.jsonl")
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == len(x) * len(vm.events)
    recs = [json.loads(ln) for ln in lines]
    assert [r["inference"] for r in recs[:: len(vm.events)]] == list(range(len(x)))
    vm.reset()
    with Tracer(tmp_path / "t.txt", lanes=2) as t:
        vm.run(x[0], trace=t)
        vm.run(x[1], trace=t)
    text = (tmp_path / "t.txt").read_text().splitlines()
    assert len(text) == 1 + 2 * len(vm.events)
    assert lane_hash(recs[0]["value"]) in text[1] and text[1] == format_text(recs[0], 2)


def test_cli_trace(tmp_path, lstm, capsys):
    program, x = lstm
    program.save(tmp_path / "p.rill")
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "t.jsonl"
    assert cli_main(["trace", str(tmp_path / "p.rill"), str(tmp_path / "x.npy"),
                     "--out", str(out)]) == 0
    n_ev = len(program.to_vm().events)
    assert len(out.read_text().splitlines()) == len(x) * n_ev
    capsys.readouterr()
    assert cli_main(["trace", str(tmp_path / "p.rill"), str(tmp_path / "x.npy"),
                     "--lanes", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(x) * n_ev and "lstm layer 0 (lstm)" in lines[1]


def test_cli_trace_bad_input(tmp_path, lstm, capsys):
    program, x = lstm
    program.save(tmp_path / "p.rill")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "wrong.npy", np.zeros((2, 11), np.float32))
    (tmp_path / "junk.npy").write_text("not numpy")
    (tmp_path / "junk.rill").write_bytes(b"RILL" + bytes(20))
    p, xs = str(tmp_path / "p.rill"), str(tmp_path / "x.npy")
    for argv in ([str(tmp_path / "junk.rill"), xs], [p, str(tmp_path / "junk.npy")],
                 [p, str(tmp_path / "wrong.npy")], [p, str(tmp_path / "missing.npy")],
                 [str(tmp_path / "missing.rill"), xs]):
        assert cli_main(["trace", *argv]) == 2
        assert "rill trace: error:" in capsys.readouterr().err
