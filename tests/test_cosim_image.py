"""The run image and result shared by `rill.cosim.run` and the bench: one file each, lossless."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import rill
from rill.cosim import Mismatch, RunImage, RunOptions, RunResult
from rill.cosim.image import config_from_rtl_parameters


def _program(config: rill.Config) -> rill.Program:
    gm, _ = rill.fx.prepare_shape(torch.nn.Linear(20, 12), torch.randn(20))
    return rill.fx.nnir.to_nnir(gm).to_program(config, name="lin")


def test_image_round_trip(tmp_path):
    run_mod = sys.modules["rill.cosim.run"]
    program = _program(rill.Config.c2b16())
    xs = [np.random.default_rng(k).standard_normal(20).astype(np.float32) for k in range(3)]
    image = run_mod.make_image(program, xs, resets=[2], load="port", gaps=0.25, clean_every=3)
    assert image.resets == (0, 2) and image.in_beats.shape == (3, program.n_in, 16)
    back = RunImage.load(image.save(tmp_path))
    assert back.options == RunOptions("port", 0.25, 0.0, 3, 1) and back.resets == (0, 2)
    assert back.program.save_bytes() == program.save_bytes()
    for a in ("in_beats", "expected_beats"):
        assert getattr(back, a).dtype == np.uint16
        assert np.array_equal(getattr(back, a), getattr(image, a))
    assert back.expected_cycles == program.cycle_count_per_inference()
    assert [back.imem_words(c) for c in range(2)] == [image.imem_words(c) for c in range(2)]


def test_result_round_trip(tmp_path):
    out = np.arange(2 * 3 * 8, dtype=np.uint16).reshape(2, 3, 8) | 0x8000
    res = RunResult(out, [41, -1], [True, False], [Mismatch(1, 2, 3, 0x7FC0, 0x7FC1, 77)],
                    ["inference 1: received 2 of 3 beats"], 1234)
    back = RunResult.load(res.save(tmp_path))
    assert np.array_equal(back.out_beats, out)
    assert (back.cycles, back.clean, back.mismatches, back.errors, back.sim_cycles) == \
        (res.cycles, res.clean, res.mismatches, res.errors, 1234)
    assert back.out_beats.dtype == np.uint16 and not back.ok
    assert str(back.mismatches[0]) == ("inference 1 beat 2 element 3: expected 0x7fc0 actual "
                                       "0x7fc1 (cycle 77)")


def test_options_and_params():
    with pytest.raises(ValueError, match="'backdoor' or 'port'"):
        RunOptions(load="jtag")
    for c in (rill.Config.c1b8(), rill.Config.c3b16(), rill.Config.ia_840f_c3b64()):
        assert config_from_rtl_parameters(c.rtl_parameters()).rtl_parameters() == \
            c.rtl_parameters()
