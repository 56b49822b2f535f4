"""A program of two models on the RTL: interleaved inferences, bit- and cycle-exact vs the VM.

A streaming LSTM and an MLP linked into one program (rill.ProgramBuilder) for c2b16, the
config the other cosim tests build (no extra Verilator model): the bench writes the model
table, then MODEL_SELECT before every inference whose model differs from the previous one's
(docs/isa.md, "Several models"), and a reset mid-sequence clears one model's registers only
(select + clear_i), so the other's streaming state must survive it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rill
from rill.cosim.run import run
from rill.models import LstmNet, ReluMlp


def _program(lstm_cores, mlp_cores) -> rill.Program:
    torch.manual_seed(7)
    gm, _ = rill.fx.prepare_shape(LstmNet(10, 20, 1, 5), torch.randn(30, 10))
    lstm, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    gm, _ = rill.fx.prepare_shape(ReluMlp([40, 36, 24, 10]), torch.randn(40))
    mlp = rill.fx.nnir.to_nnir(gm)
    return (rill.ProgramBuilder(rill.Config.c2b16())
            .add_nnir(lstm, name="lstm", core_indices=lstm_cores)
            .add_nnir(mlp, name="mlp", core_indices=mlp_cores).to_program(name="lstm_mlp"))


def _sequence(n: int, seed: int) -> tuple[list[int], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    models = [int(m) for m in rng.integers(0, 2, n)]
    models[:4] = [0, 0, 1, 0]  # a switch each way early on
    xs = [rng.standard_normal(10 if m == 0 else 40).astype(np.float32) for m in models]
    return models, xs


@pytest.mark.parametrize("placement", ["shared", "pinned"])
def test_two_models_interleaved(placement):
    cores = (None, None) if placement == "shared" else ([0], [1])
    prog = _program(*cores)
    models, xs = _sequence(24, seed=11)
    # resets: the LSTM's at 12 (an LSTM inference), the MLP's at 17 (the LSTM state stays)
    models[12], models[17] = 0, 1
    xs[12] = np.ones(10, np.float32)
    xs[17] = np.ones(40, np.float32)
    res = run(prog, xs, model_indices=models, resets=[12, 17], gaps=0.2, backpressure=0.2,
              clean_every=2, load="port" if placement == "pinned" else "backdoor",
              name=f"multimodel-{placement}")
    assert res.ok
    want = [prog.cycle_count_per_inference(m) for m in models]
    assert res.expected_cycles_per_inference == want
    assert all(c == w for c, w, cl in zip(res.cycles_per_inference, want, res.clean,
                                          strict=True) if cl)
    # the VM's outputs, model by model, as if each were alone: state carried across the
    # other model's inferences, the LSTM's reset at 12 only
    vm = prog.to_vm()
    for k, (m, x) in enumerate(zip(models, xs, strict=True)):
        if k == 12:
            vm.reset(0)
        if k == 17:
            vm.reset(1)
        assert np.array_equal(res.outputs[k], vm.run(x, model_index=m)), k


def test_two_models_back_to_back():
    """Inputs offered at once: every interval within one model's run of inferences is its
    model's `interval_cycles_per_inference`."""
    prog = _program(None, [1])
    models = [0, 0, 0, 1, 1, 1, 0, 0]
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal(10 if m == 0 else 40).astype(np.float32) for m in models]
    res = run(prog, xs, model_indices=models, back_to_back=True, name="multimodel-b2b")
    assert res.ok and len(res.intervals) == 5


def test_cli_runs_one_model_of_several(tmp_path, capsys):
    """`rill cosim PROGRAM INPUTS.npy --model K`: model K's inferences on the RTL, checked
    against the VM; a model the program does not have is bad input (exit 2)."""
    from rill.cosim.cli import main

    prog = _program(None, None)
    prog.save(tmp_path / "two.rill")
    xs = np.random.default_rng(3).standard_normal((3, 40)).astype(np.float32)
    np.save(tmp_path / "mlp.npy", xs)
    assert main([str(tmp_path / "two.rill"), str(tmp_path / "mlp.npy"), "--model", "1"]) == 0
    out = capsys.readouterr().out
    assert f"program {prog.cycle_count_per_inference(1)}" in out and "PASS" in out
    assert main([str(tmp_path / "two.rill"), str(tmp_path / "mlp.npy"), "--model", "2"]) == 2
    assert "model_index=2" in capsys.readouterr().out
    # model 0 (the LSTM) takes 10 features: the MLP's inputs are refused before simulating
    assert main([str(tmp_path / "two.rill"), str(tmp_path / "mlp.npy")]) == 2
