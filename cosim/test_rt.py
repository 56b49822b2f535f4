"""rill.rt on the RTL: one persistent simulation, inferences streamed one by one from Python,
the state kept in the simulated hardware (issue 13 item 6). On c1b8, the build the other
cosim tests use; each test opens its own runtime (a simulator start: ~1-2 s)."""

from __future__ import annotations

import os
import shutil
import signal
import time

import numpy as np
import pytest
import torch
from test_accel import CONFIGS, inputs_for

import rill
import rill.rt
from rill.cosim import CosimMismatchError
from rill.cosim.run import run
from rill.hw import isa
from rill.models import LstmNet

N = 20


@pytest.fixture(scope="module")
def lstm() -> rill.Program:
    """test_accel's streaming LSTM (10 -> 20 -> 5) on c1b8."""
    torch.manual_seed(7)
    gm, _ = rill.fx.prepare_shape(LstmNet(10, 20, 1, 5), torch.randn(30, 10))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    return nnir.to_program(CONFIGS["c1b8"](), name="lstm_stream")


def discard(rt) -> None:
    """A failed session keeps its run directory for debugging; the tests' failures are
    deliberate."""
    shutil.rmtree(rt.run_dir, ignore_errors=True)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_streams_20_steps_like_cosim_run(lstm):
    """20 steps one by one, state carried in the simulated banks: the outputs and per-step
    cycles equal rill.cosim.run over the same 20 inputs and the VM's; resetting before each
    step gives other outputs (the state was carried); a reset mid-stream starts over."""
    xs = inputs_for(lstm, N, seed=3)
    res = run(lstm, xs, name="rt-reference")
    vm = lstm.to_vm()
    ref = [vm.run(x) for x in xs]
    t0 = time.monotonic()
    with rill.rt.open(lstm, backend="rtl") as rt:
        opened = time.monotonic() - t0
        assert rt.backend == "rtl" and rt.cycles == [] and rt.status >> isa.Status.IDLE & 1
        ys = [rt.run(x) for x in xs]
        assert all(np.array_equal(y, r) for y, r in zip(ys, res.outputs, strict=True))
        assert all(np.array_equal(y, r) for y, r in zip(ys, ref, strict=True))
        assert rt.cycles == res.cycles_per_inference == [lstm.cycle_count_per_inference()] * N
        assert rt.last_cycles == res.cycles_per_inference[-1]
        # state carried: from the initial state each step, the outputs differ after step 0
        fresh = []
        for x in xs[:5]:
            rt.reset()
            fresh.append(rt.run(x))
        assert np.array_equal(fresh[0], ys[0])
        assert not any(np.array_equal(f, y) for f, y in zip(fresh[1:], ys[1:5], strict=True))
        # a reset mid-stream: back to the initial state, the same sequence again
        for x in xs[:7]:
            rt.run(x)
        rt.reset()
        assert all(np.array_equal(rt.run(x), r) for x, r in zip(xs[:10], ref[:10],
                                                                strict=True))
        assert len(rt.cycles) == N + 5 + 7 + 10
        assert set(rt.cycles) == {lstm.cycle_count_per_inference()}
        pid, run_dir = rt.pid, rt.run_dir
    assert gone(pid) and not run_dir.exists()  # a clean session leaves nothing behind
    print(f"rt: open {opened:.1f} s (build cached: {rt.build.cached})")


def harness(rt, xs: np.ndarray) -> dict:
    """A user's harness, written against the VM backend."""
    first = [rt.run(x) for x in xs[:4]]
    rt.reset()
    seq = rt.run_timesteps(xs)
    rt.reset(model_index=0)
    raw = rt.run_beats(rt.program.input_beats(xs[0]))
    return {"first": np.stack(first), "seq": seq, "raw": raw, "cycles": list(rt.cycles),
            "last": rt.last_cycles}


def test_a_vm_harness_runs_unchanged_on_the_rtl(lstm):
    xs = np.stack(inputs_for(lstm, 8, seed=4))
    with rill.rt.open(lstm, backend="vm") as rt:
        want = harness(rt, xs)
    with rill.rt.open(lstm, backend="rtl", load="port") as rt:  # every word via the port
        got = harness(rt, xs)
    assert want.keys() == got.keys()
    for k in want:
        assert np.array_equal(got[k], want[k]), k


def test_bad_input_raises_before_the_simulation(lstm):
    x = inputs_for(lstm, 1)[0]
    vm = lstm.to_vm()
    with rill.rt.open(lstm, backend="rtl") as rt:
        y0 = rt.run(x)
        cycle = rt.sim_cycle
        for bad in (np.zeros(11, np.float32), x.astype(np.int32), np.stack([x, x])):
            with pytest.raises(rill.VMInputError) as e:
                rt.run(bad)
            with pytest.raises(rill.VMInputError) as e_vm:
                vm.run(bad)
            assert str(e.value) == str(e_vm.value)
        with pytest.raises(rill.VMInputError):
            rt.run_timesteps(np.zeros((3, 9), np.float32))
        with pytest.raises(rill.VMInputError, match="only one model"):
            rt.run(x, model_index=1)
        with pytest.raises(rill.VMInputError):
            rt.run_beats(lstm.input_beats(x).astype(np.int64))
        assert rt.sim_cycle == cycle and rt.read_status() >> isa.Status.IDLE & 1
        assert rt.sim_cycle == cycle  # a status read takes no simulated time
        assert len(rt.cycles) == 1
        vm.reset()
        v0, v1 = vm.run(x), vm.run(x)
        assert np.array_equal(y0, v0) and np.array_equal(rt.run(x), v1)  # the second step


def test_close_twice_and_the_process_is_gone(lstm):
    rt = rill.rt.open(lstm, backend="rtl")
    pid = rt.pid
    assert not gone(pid)
    rt.close()
    assert gone(pid)
    rt.close()
    with pytest.raises(rill.rt.RuntimeClosedError):
        rt.run(inputs_for(lstm, 1)[0])


def test_a_difference_from_the_vm_raises(lstm, monkeypatch):
    """check=True: one flipped bit of the lockstep VM's beats, then one wrong cycle count."""
    xs = inputs_for(lstm, 5, seed=5)
    with rill.rt.open(lstm, backend="rtl") as rt:
        for x in xs[:3]:
            rt.run(x)
        real = rt.vm.run_beats

        def tampered(beats, **kw):
            out = real(beats, **kw).copy()
            out[0, 2] ^= 0x0001
            return out

        monkeypatch.setattr(rt.vm, "run_beats", tampered)
        with pytest.raises(CosimMismatchError) as e:
            rt.run(xs[3])
        msg = str(e.value)
        assert "inference 3 (3 since the last reset" in msg, msg
        assert "inference 3 beat 0 element 2: expected 0x" in msg, msg
        assert "first mismatch: inference 3 beat 0 (cycle " in msg and "lanes [2]" in msg, msg
        assert e.value.inference == 3 and len(e.value.mismatches) == 1
        monkeypatch.undo()
        monkeypatch.setattr(lstm, "cycle_count_per_inference", lambda model_index=0: 1000)
        with pytest.raises(CosimMismatchError, match=r"inference 4: \d+ cycles from first "
                           r"input beat to last output beat, program says 1000"):
            rt.run(xs[4])
        run_dir = rt.run_dir
    assert run_dir.exists()  # a failed session keeps its directory (sim.log, image)
    discard(rt)


def illegal_program() -> rill.Program:
    """A hand-made c1b8 program whose fourth bundle is illegal (tb_accel's m_op3)."""
    c = CONFIGS["c1b8"]()
    bad = isa.Bundle(m_op=max(isa.MOp) + 1)
    bundles = [isa.Bundle()] * 3 + [bad] + [isa.Bundle(v_op=isa.VOp.OUT)] * 4
    return rill.Program(c, len(bundles), 1, 4, [isa.encode(bundles, c)],
                        [np.zeros((0, 8, 8), np.uint16)], np.zeros((0, 8), np.uint32), (8,),
                        (4, 8), t_last_out=7, name="illegal")


def test_status_errors_raise_and_clear_recovers():
    with rill.rt.open(illegal_program(), backend="rtl", check=False) as rt:
        with pytest.raises(CosimMismatchError, match=r"illegal/stream-error bit set"):
            rt.run(np.ones(8, np.float32))
        assert rt.status >> isa.Status.ILLEGAL & 1 and rt.status >> isa.Status.HALTED & 1
        rt.reset()
        assert rt.status >> isa.Status.IDLE & 1 and not rt.status >> isa.Status.ILLEGAL & 1
    discard(rt)


def test_a_dead_simulator_is_an_error_not_a_hang(lstm):
    x = inputs_for(lstm, 1)[0]
    rt = rill.rt.open(lstm, backend="rtl")
    rt.run(x)
    os.kill(rt.pid, signal.SIGKILL)  # a crash
    t0 = time.monotonic()
    with pytest.raises(rill.rt.SimulatorError, match="RTL simulation") as e:
        rt.run(x)
    assert time.monotonic() - t0 < 15 and e.value.log.name == "sim.log"
    rt.close()
    discard(rt)
    rt = rill.rt.open(lstm, backend="rtl", timeout=2.0)
    pid = rt.pid
    os.kill(pid, signal.SIGSTOP)  # stuck: no answer
    try:
        t0 = time.monotonic()
        with pytest.raises(rill.rt.SimulatorError, match="did not answer within 2 s"):
            rt.run(x)
        assert time.monotonic() - t0 < 15
        assert gone(pid)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
        rt.close()
        discard(rt)


def test_an_rtl_assertion_is_an_error_with_its_message():
    """A hand-made c2b16 program with an OUT on both cores in one cycle (tb_accel's two_outs):
    the RTL assertion OneOutPerCycle_A stops the simulation; the runtime says so, with the
    assertion's message from the log, instead of waiting."""
    c = CONFIGS["c2b16"]()
    enc = isa.encode([isa.Bundle(v_op=isa.VOp.OUT)] + [isa.Bundle()] * 3, c)
    program = rill.Program(c, 4, 1, 2, [enc, enc], [np.zeros((0, 16, 16), np.uint16)] * 2,
                           np.zeros((0, 16), np.uint32), (16,), (2, 16), t_last_out=0,
                           name="two_outs")
    with rill.rt.open(program, backend="rtl", check=False) as rt:
        pid = rt.pid
        with pytest.raises(rill.rt.SimulatorError, match=r"(?s)ASSERT FAILED.*OneOutPerCycle_A"):
            rt.run(np.zeros(16, np.float32))
        with pytest.raises(rill.rt.SimulatorError, match="is not running"):
            rt.reset()
    assert gone(pid)
    discard(rt)


def test_a_simulation_that_cannot_start_is_an_error(lstm, monkeypatch):
    """The bench cannot read its run image (truncated here): open() raises with the log's
    tail (the bench's traceback) instead of waiting for a connection."""
    from rill.cosim.image import IMAGE_FILE, RunImage

    real = RunImage.save

    def truncated(self, run_dir):
        out = real(self, run_dir)
        (out / IMAGE_FILE).write_bytes((out / IMAGE_FILE).read_bytes()[:100])
        return out

    monkeypatch.setattr(RunImage, "save", truncated)
    t0 = time.monotonic()
    with pytest.raises(rill.rt.SimulatorError, match=r"(?s)exited before it connected.*"
                                                     r"--- the end of sim.log") as e:
        rill.rt.open(lstm, backend="rtl")
    assert time.monotonic() - t0 < 60
    assert e.value.tail.endswith("zipfile.BadZipFile: File is not a zip file"), e.value.tail
    shutil.rmtree(e.value.log.parent, ignore_errors=True)


def test_two_model_program_runs_like_the_vm():
    """A linked two-model program (test_accel_multimodel's LSTM + MLP on c2b16, sharing the
    cores): calls alternate between the models, the bench selects a model when it changes,
    each model keeps its own state, and reset(model_index) clears one model only; every
    output equals the VM backend's and every inference takes the model's own cycle count."""
    from test_accel_multimodel import _program, _sequence

    prog = _program(None, None)
    models, xs = _sequence(12, seed=5)
    with rill.rt.open(prog, backend="vm") as vm_rt, rill.rt.open(prog, backend="rtl") as rt:
        for k, (m, x) in enumerate(zip(models, xs, strict=True)):
            if k == 7:  # the LSTM's state only: the MLP has none, the LSTM starts over
                rt.reset(0)
                vm_rt.reset(0)
            assert np.array_equal(rt.run(x, model_index=m), vm_rt.run(x, model_index=m))
        assert rt.cycles == vm_rt.cycles == [prog.cycle_count_per_inference(m) for m in models]
        with pytest.raises(rill.VMInputError, match="model_index=2"):
            rt.run(xs[0], model_index=2)
