"""Padded lanes never reach real ones (docs/numerics.md, "Specials"; issue 8 item 13).

Ops run on whole blocks, so lanes past a tensor's last feature are computed too: a sigmoid
makes them 0.5, later ops can grow them to inf. They meet real lanes only in a dot product,
where their weights are zero; a zero weight's lane contributes nothing there, whatever it
holds. Before that rule these models gave NaN in every real lane (VM and RTL alike) where
torch is finite. `cosim/test_accel.py::test_padding_stress` runs them on the RTL.
"""

import numpy as np
import torch
from conftest import CONFIGS, compile_model

from rill.fuzz.stress import GrowPadded, InfThroughTanh, Lstm13, grow_input, inf_input


def test_grown_padded_lanes_stay_out_of_real_ones():
    model = GrowPadded()
    x = grow_input()
    program, expected = compile_model(model, x, CONFIGS["c1b8"])
    y = program.to_vm().run(x.numpy())
    assert np.isfinite(expected.numpy()).all()
    torch.testing.assert_close(torch.from_numpy(y), expected, atol=1e-2, rtol=1e-2)


def test_inf_input_reaches_real_lanes_only_through_real_weights():
    model = InfThroughTanh()
    x = inf_input()
    program, expected = compile_model(model, x, CONFIGS["c1b8"])
    y = program.to_vm().run(x.numpy())
    assert np.isfinite(expected.numpy()).all()
    torch.testing.assert_close(torch.from_numpy(y), expected, atol=1e-2, rtol=1e-2)


def test_streaming_lstm_recovers_from_an_inf_input_like_torch():
    """Hidden size 13 on B = 8: 3 padded lanes in the state. One inf input step, then the
    state recovers as torch's does (before: NaN state until reset)."""
    model = Lstm13()
    x = torch.randn(12, 5)
    x[4, 1] = float("inf")
    program, expected = compile_model(model, x, CONFIGS["c1b8"], stream_axis=0)
    assert np.isfinite(expected.numpy()).all()
    vm = program.to_vm()
    y = np.stack([vm.run(x[t].numpy()) for t in range(12)])
    torch.testing.assert_close(torch.from_numpy(y), expected, atol=1e-2, rtol=1e-2)
