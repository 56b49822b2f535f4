"""Several models in one program (rill.ProgramBuilder): linking, the VM, the file format.

A streaming LSTM and an MLP, sharing the cores or pinned to different ones: each model's
outputs and cycles equal those of the same model compiled alone (for its cores), with the
calls interleaved and the LSTM's state carried across the MLP's inferences; reset(k) resets
model k only.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np
import pytest
import torch

import rill
from rill.compile.program import FORMAT_VERSION
from rill.hw import isa
from rill.models import LstmNet, ReluMlp

CFG = rill.Config.c2b16()


@pytest.fixture(scope="module")
def nnirs():
    torch.manual_seed(7)
    gm, _ = rill.fx.prepare_shape(LstmNet(10, 20, 1, 5), torch.randn(30, 10))
    lstm, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    gm, _ = rill.fx.prepare_shape(ReluMlp([40, 36, 24, 10]), torch.randn(40))
    mlp = rill.fx.nnir.to_nnir(gm)
    return lstm, mlp


def two_models(nnirs, lstm_cores=None, mlp_cores=None, config=CFG) -> rill.Program:
    lstm, mlp = nnirs
    return (rill.ProgramBuilder(config).add_nnir(lstm, name="lstm", core_indices=lstm_cores)
            .add_nnir(mlp, name="mlp", core_indices=mlp_cores).to_program())


def alone(nnir, cores=None, name=None) -> rill.Program:
    """The same model compiled alone, for its cores."""
    cfg = CFG if cores is None else dataclasses.replace(CFG, num_cores=len(cores))
    return nnir.to_program(cfg, name=name)


def interleaved(n: int, seed: int = 0):
    """(model index, input) pairs in a random order of the two models."""
    rng = np.random.default_rng(seed)
    seq = []
    for _ in range(n):
        k = int(rng.integers(2))
        seq.append((k, rng.standard_normal(10 if k == 0 else 40).astype(np.float32)))
    return seq


PLACEMENTS = {"shared": (None, None), "pinned": ([0], [1]), "overlap": (None, [1]),
              "swapped": ([1], [0])}


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_each_model_equals_itself_compiled_alone(nnirs, placement):
    lc, mc = PLACEMENTS[placement]
    prog = two_models(nnirs, lc, mc)
    assert prog.num_models() == 2
    refs = [alone(nnirs[0], lc), alone(nnirs[1], mc)]
    for k, ref in enumerate(refs):
        assert prog.cycle_count_per_inference(k) == ref.cycle_count_per_inference()
        assert prog.interval_cycles_per_inference(k) == ref.interval_cycles_per_inference()
        assert prog.model_input_shape(k) == ref.input_shape
        assert prog.model_output_shape(k) == ref.output_shape
        assert prog.model_input_streaming_dim(k) == ref.streaming_axis
        assert prog.compute_duration_per_inference_us(model_index=k) == \
            ref.compute_duration_per_inference_us()
    assert prog.model_name(0) == "lstm" and prog.model_name(1) == "mlp"
    vm, ref_vms = prog.to_vm(), [r.to_vm() for r in refs]
    assert vm.cycle_count_per_inference(1) == refs[1].cycle_count_per_inference()
    # interleaved: the LSTM's state is carried across the MLP's inferences
    for k, x in interleaved(40):
        assert np.array_equal(vm.run(x, model_index=k), ref_vms[k].run(x))
    # a cored-pinned model leaves the other cores' bundles of its segment NOP
    for k, cores in enumerate((lc, mc)):
        e = prog.models[k]
        assert e.cores == tuple(cores if cores is not None else range(CFG.num_cores))
        for core in set(range(CFG.num_cores)) - set(e.cores):
            seg = prog.bundles[core][e.base : e.base + e.length]
            assert all(b == isa.Bundle() for b in isa.decode(seg, CFG))
            assert e.weights[core][1] == 0


def test_run_timesteps_and_beats_per_model(nnirs):
    prog = two_models(nnirs)
    vm, ref = prog.to_vm(), alone(nnirs[0]).to_vm()
    xs = np.random.default_rng(1).standard_normal((6, 10)).astype(np.float32)
    y = np.random.default_rng(2).standard_normal(40).astype(np.float32)
    got = vm.run_timesteps(xs, model_index=0)
    vm.run(y, model_index=1)
    assert np.array_equal(got, ref.run_timesteps(xs))
    beats = prog.input_beats(y, model_index=1)
    assert beats.shape == (prog.models[1].n_in, CFG.block_size)
    assert np.array_equal(prog.output_from_beats(vm.run_beats(beats, model_index=1),
                                                 model_index=1), vm.run(y, model_index=1))


def test_reset_one_model_keeps_the_other(nnirs):
    prog = two_models(nnirs)
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((8, 10)).astype(np.float32)
    y = rng.standard_normal(40).astype(np.float32)
    ref = alone(nnirs[0]).to_vm()
    want = ref.run_timesteps(xs)
    vm = prog.to_vm()
    got = [vm.run(xs[t], model_index=0) for t in range(4)]
    vm.run(y, model_index=1)
    vm.reset(1)  # the MLP's: the LSTM's state stays
    got += [vm.run(xs[t], model_index=0) for t in range(4, 8)]
    assert np.array_equal(np.stack(got), want)
    vm.reset(0)  # the LSTM's: from zero state again
    assert np.array_equal(vm.run(xs[0], model_index=0), want[0])
    vm.run(xs[1], model_index=0)
    vm.reset()  # every model
    assert np.array_equal(vm.run(xs[0], model_index=0), want[0])


def test_register_ranges_are_disjoint_and_clear_only_their_own(nnirs):
    prog = two_models(nnirs)
    (a, b) = prog.models
    assert a.reg_lo == 0 < a.reg_hi == b.reg_lo < b.reg_hi <= CFG.rf_depth
    assert b.base == a.length and prog.length == a.length + b.length
    assert b.consts[0] == a.consts[1]
    m = prog.metrics()
    assert m["num_models"] == 2 and [d["name"] for d in m["models"]] == ["lstm", "mlp"]
    assert m["models"][1]["registers"] == [b.reg_lo, b.reg_hi]
    assert m["models"][1]["cycles_per_inference"] == prog.cycle_count_per_inference(1)
    assert m["instr_memory"]["used"] == prog.length
    assert m["cycles_per_inference"] == prog.cycle_count_per_inference(0)


def test_save_load_round_trip(nnirs, tmp_path):
    prog = two_models(nnirs, None, [1])
    prog.save(tmp_path / "two.rill")
    back = rill.Program.load(tmp_path / "two.rill")
    assert back.save_bytes() == prog.save_bytes()
    assert back.models == prog.models and back.num_models() == 2
    vm1, vm2 = prog.to_vm(), back.to_vm()
    for k, x in interleaved(10, seed=4):
        assert np.array_equal(vm1.run(x, model_index=k), vm2.run(x, model_index=k))


def test_one_model_program_is_unchanged(nnirs):
    lstm, _ = nnirs
    ref = lstm.to_program(CFG, name="lstm")
    one = rill.ProgramBuilder(CFG).add_nnir(lstm, name="lstm").to_program()
    assert one.save_bytes() == ref.save_bytes() and one.models is None
    assert one.num_models() == 1 and len(one.model_table()) == 1
    e = one.model_table()[0]
    assert (e.base, e.reg_lo, e.reg_hi) == (0, 0, CFG.rf_depth)
    assert one.metrics()["models"][0]["cycles_per_inference"] == ref.cycle_count_per_inference()
    # one model pinned to core 1: a one-model program, the bits of the one-core compile
    pinned = rill.ProgramBuilder(CFG).add_nnir(lstm, name="lstm", core_indices=[1]).to_program()
    assert pinned.models is None
    sub = alone(lstm, [1])
    x = np.random.default_rng(5).standard_normal((5, 10)).astype(np.float32)
    assert np.array_equal(pinned.to_vm().run_timesteps(x), sub.to_vm().run_timesteps(x))
    assert pinned.cycle_count_per_inference() == sub.cycle_count_per_inference()


def test_bad_model_index(nnirs):
    prog = two_models(nnirs)
    vm = prog.to_vm()
    x = np.zeros(10, np.float32)
    for bad in (2, -1, True, "0", 1.0):
        with pytest.raises(rill.VMInputError, match="model_index"):
            vm.run(x, model_index=bad)
    with pytest.raises(rill.VMInputError, match="model_index"):
        vm.reset(2)
    with pytest.raises(rill.VMInputError, match="model_index"):
        prog.cycle_count_per_inference(2)
    with pytest.raises(rill.VMInputError, match="model_index"):
        prog.model_input_shape(3)
    with pytest.raises(rill.VMInputError, match="input shape"):
        vm.run(x, model_index=1)  # the MLP takes 40 features
    single = alone(nnirs[0]).to_vm()
    with pytest.raises(rill.VMInputError, match="model_index"):
        single.run(x, model_index=1)
    assert single.run(x, model_index=0).shape == (5,)


@pytest.mark.parametrize("what, config, match", [
    # one core: the LSTM's 79 bundles and the MLP's 61 (on two cores they fit in 128)
    ("instructions", dataclasses.replace(CFG, instr_depth=128, num_cores=1),
     r"model 1 'mlp' does not fit the instruction memory"),
    ("weights", dataclasses.replace(CFG, weight_depth=16),
     r"model 1 'mlp' does not fit the weight memory of core 0"),
    ("constants", dataclasses.replace(CFG, rf_depth=16),
     r"model 1 'mlp' does not fit the constant bank"),
])
def test_too_big_names_the_model_and_memory(nnirs, what, config, match):
    lstm, mlp = nnirs
    b = rill.ProgramBuilder(config).add_nnir(lstm, name="lstm").add_nnir(mlp, name="mlp")
    if what == "constants":  # the MLP's 6 rows after two LSTMs' 9 each
        b = rill.ProgramBuilder(config).add_nnir(lstm, name="a").add_nnir(lstm, name="mlp")
    with pytest.raises(rill.AllocationError, match=match):
        b.to_program()


def test_registers_and_model_table_limits(nnirs):
    lstm, mlp = nnirs
    # a 6-step sequence LSTM uses 21 register rows per bank: two do not fit 32
    torch.manual_seed(8)
    gm, _ = rill.fx.prepare_shape(LstmNet(10, 20, 1, 5), torch.randn(6, 10))
    seq = rill.fx.nnir.to_nnir(gm)
    b = rill.ProgramBuilder(dataclasses.replace(CFG, rf_depth=32))
    b.add_nnir(seq, name="a").add_nnir(seq, name="b")
    with pytest.raises(rill.AllocationError,
                       match=r"model 1 'b' does not fit the register file: it needs 21"):
        b.to_program()
    b = rill.ProgramBuilder(CFG)
    for k in range(isa.MAX_MODELS):
        b.add_nnir(mlp, name=f"m{k}")
    with pytest.raises(rill.AllocationError, match=f"holds {isa.MAX_MODELS}"):
        b.add_nnir(mlp, name="one too many")
    with pytest.raises(rill.AllocationError, match="core_indices"):
        rill.ProgramBuilder(CFG).add_nnir(mlp, core_indices=[2])
    with pytest.raises(rill.AllocationError, match="core_indices"):
        rill.ProgramBuilder(CFG).add_nnir(mlp, core_indices=[1, 1])
    with pytest.raises(rill.AllocationError, match="no model"):
        rill.ProgramBuilder(CFG).to_program()
    four = b.to_program()
    assert four.num_models() == isa.MAX_MODELS


def test_old_file_refused_and_tampered_table_rejected(nnirs):
    prog = two_models(nnirs)
    data = prog.save_bytes()
    body = bytearray(data[:-4])
    struct.pack_into("<I", body, 4, 4)  # a version-4 file: no model table
    old = bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))
    with pytest.raises(rill.LoadError, match="recompile"):
        rill.Program.load_bytes(old)
    struct.pack_into("<I", body, 4, 5)  # a version-5 file: bundles without m_relu
    old = bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))
    with pytest.raises(rill.LoadError, match="m_relu bit.*recompile"):
        rill.Program.load_bytes(old)
    assert FORMAT_VERSION == 6
    # overlapping register ranges: the table no longer isolates the models
    bad = dataclasses.replace(prog, models=(prog.models[0], dataclasses.replace(
        prog.models[1], reg_lo=prog.models[0].reg_lo)))
    with pytest.raises(rill.InvalidProgramError, match="registers"):
        rill.Program.load_bytes(bad.save_bytes())
    # a segment that does not start where the previous one ends
    bad = dataclasses.replace(prog, models=(prog.models[0], dataclasses.replace(
        prog.models[1], base=prog.models[1].base - 1)))
    with pytest.raises(rill.InvalidProgramError, match="base"):
        rill.Program.load_bytes(bad.save_bytes())


def test_info_lists_the_models(nnirs, tmp_path):
    from rill.cli_info import format_info, info

    prog = two_models(nnirs, None, [1])
    d = info(prog)
    assert d["num_models"] == 2
    text = format_info(d, prog.config)
    assert "(2 models)" in text
    assert "model 1 'mlp': input (40,), output (10,), " in text and "cores [1]" in text


def test_cli_run_model(nnirs, tmp_path, capsys):
    from rill.cli_run import main

    prog = two_models(nnirs)
    prog.save(tmp_path / "two.rill")
    y = np.random.default_rng(6).standard_normal(40).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    assert main([str(tmp_path / "two.rill"), str(tmp_path / "y.npy"), "--model", "1",
                 "-o", str(tmp_path / "out.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "out.npy"), prog.to_vm().run(y, model_index=1))
    assert f"{prog.cycle_count_per_inference(1)} cycles per inference" in capsys.readouterr().out
    from rill.cli_common import UsageError

    with pytest.raises(UsageError, match="--model 2"):
        main([str(tmp_path / "two.rill"), str(tmp_path / "y.npy"), "--model", "2"])


@pytest.mark.parametrize("placement", ["shared", "swapped"])
def test_provenance_is_linked(nnirs, placement, tmp_path):
    """The models' debug tables become one (each model's slots at its cores and pcs):
    `program.model(k)` names model k's NNIR nodes as the model compiled alone does, also
    after a save/load round trip."""
    lc, mc = PLACEMENTS[placement]
    prog = two_models(nnirs, lc, mc)
    assert prog.debug is not None
    prog.save(tmp_path / "two.rill")
    back = rill.Program.load(tmp_path / "two.rill")
    for k, (nnir, cores) in enumerate(zip(nnirs, (lc, mc), strict=True)):
        solo = alone(nnir, cores)
        for p in (prog, back):
            view = p.model(k)
            e = p.model_table()[k]
            for j, core in enumerate(e.cores):
                for pc in range(e.length):
                    for slot in (0, 1):
                        a, b = view.debug.node_at(core, pc, slot), solo.debug.node_at(j, pc, slot)
                        assert (a and a.label()) == (b and b.label())


def test_report_and_trace_take_a_model(nnirs, tmp_path, capsys):
    """`rill report --model K` and `rill trace --model K` analyse model K's segment with its
    provenance; a model the program does not have is a VMInputError (the CLI's exit 2)."""
    from rill.report import main as report
    from rill.vm.trace import main as trace

    prog = two_models(nnirs)
    prog.save(tmp_path / "two.rill")
    assert report([str(tmp_path / "two.rill"), "--model", "1", "--out",
                   str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "model 1 ('mlp') of 2" in out
    assert f"{prog.cycle_count_per_inference(1)} cycles per inference" in out
    assert "layers_0" in out  # the NNIR node's name: provenance kept
    np.save(tmp_path / "y.npy", np.ones((1, 40), np.float32))
    assert trace([str(tmp_path / "two.rill"), str(tmp_path / "y.npy"), "--model", "1",
                  "--out", str(tmp_path / "t.jsonl")]) == 0
    assert '"node": "layers_0"' in (tmp_path / "t.jsonl").read_text()
    with pytest.raises(rill.VMInputError, match="model_index=2"):
        report([str(tmp_path / "two.rill"), "--model", "2", "--out", str(tmp_path / "r2")])
