"""Latency and throughput on the RTL (issue 11): the two numbers users compare. Each
inference's latency ("spaced" count) and the interval between inferences offered back to back
must both equal what the program predicts."""

from __future__ import annotations

import pytest
from test_accel import CONFIGS, compile_model, inputs_for

from rill.cosim.run import run


@pytest.mark.parametrize("model,stream", [("lstm_seq", True), ("mlp", False), ("mix", False)])
def test_back_to_back_interval_and_latency(model, stream):
    program = compile_model(model, CONFIGS["c1b8"](), stream=stream)
    res = run(program, inputs_for(program, 7), back_to_back=True, resets=[4],
              name=f"b2b-{model}")
    assert res.ok, res.errors
    assert set(res.cycles_per_inference) == {program.cycle_count_per_inference()}
    assert len(res.intervals) == 5  # none across the clear before inference 4
    assert set(res.intervals) == {program.interval_cycles_per_inference()}


def test_optimal_schedule_on_the_rtl():
    """A program the CP-SAT scheduler made 3 cycles faster than the list scheduler's (fuzz
    case 94 of tests/data/schedule_cases.json, a streamed 51 -> 19 Linear on c1b8): the RTL
    takes the cycles the VM predicts and gives the list program's bits."""
    import json
    from pathlib import Path

    import numpy as np
    import torch

    import rill
    from rill.fuzz import gen

    data = Path(__file__).parents[1] / "tests" / "data" / "schedule_cases.json"
    desc = json.loads(data.read_text())["94"]
    torch.manual_seed(0)
    model, x = gen.FuzzNet(desc), gen.make_input(desc)
    gm, _ = rill.fx.prepare_shape(model, x)
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    config = rill.Config.c1b8()
    fast, listed = nnir.to_program(config, scheduler="optimal"), nnir.to_program(config)
    assert fast.cycle_count_per_inference() == listed.cycle_count_per_inference() - 3
    xs = x.numpy()
    res = run(fast, [xs[t] for t in range(xs.shape[0])], name="optimal-schedule")
    assert res.ok, res.errors
    assert set(res.cycles_per_inference) == {fast.cycle_count_per_inference()}
    want = listed.to_vm().run_timesteps(xs).astype(np.float32).view(np.uint32)
    assert np.array_equal(np.stack(res.outputs).astype(np.float32).view(np.uint32), want)
