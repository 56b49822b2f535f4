"""Issue 8: bad or unusual input gives a typed error naming what and where; files are never
half-written."""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import threading
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import CONFIGS, compile_model

import rill
from rill.cosim import cli as cosim_cli

cosim_run = importlib.import_module("rill.cosim.run")  # the package's `run` is the function


@pytest.fixture
def small_program():
    model = nn.Sequential(nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 5))
    x = torch.randn(2, 12)
    program, _ = compile_model(model, x, CONFIGS["c1b8"])
    return program, x.numpy()


# 1. parameters and buffers of submodules (dotted get_attr targets) ---------------------------


class _FunctionalFc(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 12) / 4)
        self.bias = nn.Parameter(torch.randn(6))
        self.register_buffer("shift", torch.linspace(-1, 1, 6))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + self.shift


class _Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = _FunctionalFc()

    def forward(self, x):
        return torch.tanh(self.fc(x))


def test_submodule_parameters_and_buffers_resolve():
    x = torch.randn(3, 12)
    program, expected = compile_model(_Nested(), x, CONFIGS["c1b8"])
    out = program.to_vm().run(x.numpy())
    np.testing.assert_allclose(out, expected.numpy(), atol=0.05)


# 2. and 8. Program.save: atomic under concurrency, cleanup never hides the SaveError ----------


def test_concurrent_saves_to_one_path_never_corrupt(tmp_path, small_program):
    program, _ = small_program
    path = tmp_path / "p.rill"
    errors: list[BaseException] = []

    def writer():
        try:
            for _ in range(40):
                program.save(path)
        except BaseException as e:  # noqa: BLE001 - collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    loads = 0
    while any(t.is_alive() for t in threads):
        if path.exists():
            rill.Program.load(path)
            loads += 1
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert rill.Program.load(path).save_bytes() == program.save_bytes()
    assert sorted(os.listdir(tmp_path)) == ["p.rill"]  # no temporary files left behind


def test_save_with_a_directory_at_the_old_temp_name(tmp_path, small_program):
    program, _ = small_program
    (tmp_path / "p.rill.tmp").mkdir()
    program.save(tmp_path / "p.rill")
    assert rill.Program.load(tmp_path / "p.rill").length == program.length


def test_save_errors_are_save_errors_and_leave_nothing(tmp_path, small_program):
    program, _ = small_program
    (tmp_path / "isdir").mkdir()
    with pytest.raises(rill.SaveError, match="isdir"):
        program.save(tmp_path / "isdir")
    with pytest.raises(rill.SaveError, match="x" * 20):
        program.save(tmp_path / ("x" * 300))
    assert sorted(os.listdir(tmp_path)) == ["isdir"]


# 5. weights that round to bf16 inf; non-finite biases ----------------------------------------


def _linear_with(weight: float | None = None, bias: float | None = None) -> nn.Module:
    fc = nn.Linear(12, 6)
    with torch.no_grad():
        if weight is not None:
            fc.weight[2, 3] = weight
        if bias is not None:
            fc.bias[4] = bias
    return nn.Sequential(fc, nn.ReLU())


@pytest.mark.parametrize("kw", [dict(weight=3.4e38), dict(weight=math.nan),
                                dict(bias=math.nan), dict(bias=math.inf), dict(bias=-math.inf)])
def test_non_finite_weights_and_biases_are_rejected_naming_the_node(kw):
    with pytest.raises(rill.ModelError, match=r"node '_0' \(linear\).*(weight|bias)"):
        compile_model(_linear_with(**kw), torch.randn(2, 12), CONFIGS["c1b8"])


def test_weight_overflowing_to_bf16_inf_is_named_after_rounding():
    with pytest.raises(rill.ModelError, match="bf16") as info:
        compile_model(_linear_with(weight=3.4e38), torch.randn(2, 12), CONFIGS["c1b8"])
    assert "[2, 3]" in str(info.value)


def test_non_finite_lstm_bias_is_rejected_naming_the_layer():
    lstm = nn.LSTM(6, 5, num_layers=2)
    with torch.no_grad():
        lstm.bias_hh_l1[3] = math.inf
    with pytest.raises(rill.ModelError, match=r"\(lstm\).*layer 1 bias.*\[3\] = inf"):
        compile_model(_LstmOut(lstm), torch.randn(4, 6), CONFIGS["c1b8"])


class _LstmOut(nn.Module):
    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def forward(self, x):
        return self.lstm(x)[0]


# 6. reductions to a scalar are listed as unsupported -----------------------------------------


def test_sum_times_constant_lists_sum():
    class SumTimesTwo(nn.Module):
        def forward(self, x):
            return x.sum() * 2

    gm, _ = rill.fx.prepare_shape(SumTimesTwo(), torch.randn(3, 8))
    with pytest.raises(rill.UnsupportedError,
                       match=r"method \.sum\(\): 0-d \(scalar\) results are not supported"):
        rill.fx.nnir.to_nnir(gm)


# 7. degenerate shapes ------------------------------------------------------------------------


def test_linear_with_zero_inputs_is_rejected():
    empty = r"node '_0' \(linear\).*weight of shape \(4, 0\) is empty"
    with pytest.raises(rill.NNIRError, match=empty):
        compile_model(nn.Sequential(nn.Linear(0, 4)), torch.randn(2, 0), CONFIGS["c1b8"])


def test_empty_input_is_rejected():
    with pytest.raises(rill.NNIRError, match=r"node 'input_1' \(input\).*\(0, 12\) is empty"):
        compile_model(nn.Sequential(nn.Linear(12, 4)), torch.randn(0, 12), CONFIGS["c1b8"])


# 10. the program's name stays inside the run directory ---------------------------------------


@pytest.mark.parametrize("name", ["../../x", "/abs/x", "a/../../b", "..", ""])
def test_run_dir_stays_under_build(tmp_path, name):
    build = types.SimpleNamespace(build_dir=tmp_path / "build")
    run_dir = cosim_run._run_dir(build, name)
    runs = (tmp_path / "build" / "runs").resolve()
    assert run_dir.resolve().parent == runs


# 11. Config validation -----------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(num_cores=True), dict(clock_mhz="320"),
                                dict(clock_mhz=None), dict(clock_mhz=math.inf),
                                dict(clock_mhz=math.nan), dict(clock_mhz=True),
                                dict(block_size=True)])
def test_config_rejects_wrong_types(kw):
    field = next(iter(kw))
    args = dict(num_cores=1, block_size=8) | kw
    with pytest.raises(rill.ConfigError, match=f"Config.{field}="):
        rill.Config(**args)


@pytest.mark.parametrize("clock", [-1, 0, math.inf, "320"])
def test_duration_rejects_bad_clock(small_program, clock):
    program, _ = small_program
    with pytest.raises(rill.ConfigError, match="clock_mhz"):
        program.compute_duration_per_inference_us(clock)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"num_cores": 1}',
                                  '{"num_cores": 1, "block_size": "8"}'])
def test_config_load_of_a_bad_file(tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(rill.ConfigError, match="c.json"):
        rill.Config.load(path)
    with pytest.raises(rill.ConfigError, match="nope.json"):
        rill.Config.load(tmp_path / "nope.json")


def test_config_save_error_is_typed(tmp_path):
    with pytest.raises(rill.SaveError, match="missing"):
        rill.Config.c1b8().save(tmp_path / "missing" / "c.json")


# 15. rill.cosim after `import rill` ----------------------------------------------------------


def test_rill_cosim_reachable_after_import_rill():
    code = "import rill; print(rill.cosim.run.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "run"


# 9. `rill cosim` exit status: 2 for bad input, 1 for an RTL-vs-VM mismatch --------------------


def _saved(tmp_path, program, xs):
    program.save(tmp_path / "p.rill")
    np.save(tmp_path / "x.npy", xs)
    return [str(tmp_path / "p.rill"), str(tmp_path / "x.npy")]


@pytest.mark.parametrize("xs", [np.zeros((2, 3, 7), np.float32), np.float32(1.0),
                                np.zeros((0, 2, 12), np.float32)])
def test_cosim_cli_bad_input_exits_2(tmp_path, small_program, monkeypatch, xs):
    program, _ = small_program

    def no_sim(*a, **k):
        raise AssertionError("bad input must be rejected before simulating")

    monkeypatch.setattr(cosim_run, "run", no_sim)
    assert cosim_cli.main(_saved(tmp_path, program, xs)) == 2


def test_cosim_cli_beats_of_wrong_shape_exit_2(tmp_path, small_program, monkeypatch):
    program, _ = small_program
    monkeypatch.setattr(cosim_run, "run", None)
    xs = np.zeros((1, program.n_in + 1, program.B), np.uint16)
    assert cosim_cli.main(_saved(tmp_path, program, xs) + ["--beats"]) == 2


def test_cosim_cli_mismatch_exits_1(tmp_path, small_program, monkeypatch):
    program, x = small_program

    def mismatching(*a, **k):
        raise cosim_run.CosimMismatchError("RTL vs VM: beat 0 differs")

    monkeypatch.setattr(cosim_run, "run", mismatching)
    assert cosim_cli.main(_saved(tmp_path, program, x[None])) == 1
    assert "exit status" in cosim_cli.__doc__


def test_cosim_cli_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cosim_cli.main(["--help"])
    out = capsys.readouterr().out
    assert "1" in out and "mismatch" in out and "2" in out and "bad input" in out
