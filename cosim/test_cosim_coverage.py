"""The bench measures dynamic coverage and hands it back in RunResult; run() accumulates it."""

from __future__ import annotations

import shutil

import numpy as np
import torch

import rill
from rill.cosim import RunResult, coverage, run


def test_run_result_carries_coverage(monkeypatch):
    torch.manual_seed(21)
    gm, _ = rill.fx.prepare_shape(torch.nn.Sequential(torch.nn.Linear(20, 12), torch.nn.ReLU()),
                                  torch.randn(20))
    program = rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c1b8(), name="cov")
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(20).astype(np.float32) for _ in range(8)]
    session = coverage.SESSION
    runs, relus = session.runs, session.hits["op.v.RELU"]
    monkeypatch.setenv("RILL_KEEP_RUNS", "1")  # keep the run directory: read its RunResult
    res = run(program, xs, gaps=0.5, backpressure=0.6, clean_every=4, resets=[5], seed=3)
    try:
        dyn = RunResult.load(res.run_dir).coverage
    finally:
        shutil.rmtree(res.run_dir, ignore_errors=True)
    # the bench's bins: two clears while idle (before inferences 0 and 5), idle cycles before
    # input beats, backpressure on output beats, and the output FIFO's high-water mark from a
    # model that matched the cycle every output beat became valid
    assert dyn["clear.idle"] == 2 and "clear.run" not in dyn, dyn
    assert sum(dyn.get(f"in.gap.{p}", 0) for p in coverage.POSITIONS) > 0, dyn
    assert sum(dyn.get(f"out.stall.{p}", 0) for p in coverage.POSITIONS) > 0, dyn
    assert "fifo.model_mismatch" not in dyn, dyn
    assert sum(dyn.get(f"fifo.peak.{lv}", 0) for lv in coverage.FIFO_LEVELS) == 1, dyn
    # run() added the run to the session: the static bins once per inference, and these
    assert session.runs == runs + 1
    assert session.hits["op.v.RELU"] == relus + 8 * 2  # two RELU bundles per inference
    assert all(session.hits[k] >= v for k, v in dyn.items())


def test_output_fifo_fills(monkeypatch):
    """Directed at the FIFO bins the model tests leave empty: inferences of 8 output beats back
    to back against heavy backpressure, so the output FIFO fills until inferences wait for room
    before pc 0 issues, and runs nearly full; still bit exact (run() checks)."""
    torch.manual_seed(22)
    gm, _ = rill.fx.prepare_shape(torch.nn.Linear(12, 64), torch.randn(12))
    program = rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c1b8(), name="fifo_fill")
    depth = program.config.out_fifo_depth
    assert program.n_out == 8 and depth == 64
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(12).astype(np.float32) for _ in range(20)]
    monkeypatch.setenv("RILL_KEEP_RUNS", "1")
    res = run(program, xs, backpressure=0.9, clean_every=1000, seed=4)
    try:
        dyn = RunResult.load(res.run_dir).coverage
    finally:
        shutil.rmtree(res.run_dir, ignore_errors=True)
    assert "fifo.model_mismatch" not in dyn, dyn
    assert dyn.get("fifo.room_wait", 0) >= 3, dyn
    assert dyn.get("fifo.peak.>=depth-2", 0) + dyn.get("fifo.peak.full", 0) == 1, dyn
