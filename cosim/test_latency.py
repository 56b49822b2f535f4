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
