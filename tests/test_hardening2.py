"""Issue 8, items 4, 12 and 14: a program file is validated as strictly as the compiler's
output; the sequence LSTM computes f*c0 like the streaming one; typed errors at the edges."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import CONFIGS, compile_model

import rill
from rill.compile.validate import validate_program


@pytest.fixture
def small_program():
    model = nn.Sequential(nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 5))
    x = torch.randn(4, 12)
    program, _ = compile_model(model, x, CONFIGS["c1b8"])
    return program, x.numpy()


# 4. the loader validates the header against the config and the contents -------------------


def _edited(p: rill.Program, **kw) -> bytes:
    """A file with a valid checksum whose header says what `kw` says."""
    cfg = kw.pop("config", {})
    if cfg:
        kw["config"] = dataclasses.replace(p.config, **cfg)
    return dataclasses.replace(p, **kw).save_bytes()


@pytest.mark.parametrize("edit, field", [
    (dict(input_shape=(2, 24)), "input_shape"),
    (dict(input_shape=(3, 12)), "input_shape"),
    (dict(output_shape=(2, 5)), "output_shape"),
    (dict(output_shape=(4, 9)), "output_shape"),
    (dict(n_in=300, input_shape=(300, 8)), "n_in"),
    (dict(t_last_out=-1000), "t_last_out"),
    (dict(t_last_out=10**6), "t_last_out"),
    (dict(t_last_out=0), "t_last_out"),
    (dict(config=dict(instr_depth=4)), "length"),
    (dict(config=dict(out_fifo_depth=2)), "n_out"),
    (dict(streaming_axis=5), "streaming_axis"),
    (dict(n_in=True), "n_in"),
])
def test_load_rejects_an_edited_header(small_program, edit, field):
    p, _ = small_program
    with pytest.raises(rill.LoadError, match=rf"{field.replace('[', '.').replace(']', '.')}"
                       r".*expected") as e:
        rill.Program.load_bytes(_edited(p, **edit), "edited.rill")
    assert isinstance(e.value, rill.InvalidProgramError)
    assert "edited.rill" in str(e.value)


def test_load_rejects_more_cores_than_the_config(small_program):
    p, _ = small_program
    data = _edited(p, bundles=p.bundles * 2, weights=p.weights * 2)
    with pytest.raises(rill.InvalidProgramError, match=r"cores: expected 1 .*Config.num_cores"):
        rill.Program.load_bytes(data, "edited.rill")


def test_load_rejects_more_weight_blocks_than_the_memory(small_program):
    p, _ = small_program
    w = np.concatenate([p.weights[0]] * (p.config.weight_depth // len(p.weights[0]) + 1))
    with pytest.raises(rill.InvalidProgramError,
                       match=r"weights\[0\]: expected at most 256 blocks.*got 258"):
        rill.Program.load_bytes(_edited(p, weights=[w]), "edited.rill")


def test_load_rejects_non_finite_weights(small_program):
    p, _ = small_program
    w = p.weights[0].copy()
    w[0, 0, 0] = 0x7F80  # bf16 +inf
    with pytest.raises(rill.InvalidProgramError, match=r"weights\[0\].*finite"):
        rill.Program.load_bytes(_edited(p, weights=[w]), "edited.rill")


def test_load_accepts_what_the_compiler_emits(small_program, tmp_path):
    p, x = small_program
    p.save(tmp_path / "p.rill")
    q = rill.Program.load(tmp_path / "p.rill")
    assert q.cycle_count_per_inference() == p.cycle_count_per_inference() > 0
    np.testing.assert_array_equal(q.to_vm().run(x), p.to_vm().run(x))


def test_compiler_and_loader_share_one_validation(small_program, monkeypatch):
    import rill.compile.compiler as compiler
    import rill.compile.program as program

    assert compiler.validate_program is program.validate_program is validate_program
    p, _ = small_program
    bad = dataclasses.replace(p, output_shape=(4, 20))
    with pytest.raises(rill.InvalidProgramError, match="output_shape"):
        validate_program(bad)
    seen = []
    monkeypatch.setattr(compiler, "validate_program",
                        lambda q, origin: seen.append(origin) or q)
    compile_model(nn.Linear(8, 8), torch.randn(1, 8), CONFIGS["c1b8"])
    assert seen


# 14. the sequence LSTM's first step computes f * c0 like torch and the streaming program -----


class _Lstm(nn.Module):
    def __init__(self, inp: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(inp, hidden, num_layers=layers)
        self.fc = nn.Linear(hidden, 4)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


def _nan_forget_gate_lstm(hidden: int, layers: int) -> _Lstm:
    """Inputs +inf in lanes 0 and 1 drive i, g and o to +inf (sigmoid/tanh 1) and the forget
    gate to inf - inf = NaN: torch's c1 = f*c0 + i*g is NaN."""
    m = _Lstm(8, hidden, layers)
    with torch.no_grad():
        w = m.lstm.weight_ih_l0
        w[:, :2] = 0.5
        w[hidden : 2 * hidden, 1] = -0.5  # forget-gate rows
    return m


@pytest.mark.parametrize("hidden, layers, cfg", [(8, 1, "c1b8"), (12, 2, "c1b8"),
                                                 (16, 2, "c2b16")])
def test_sequence_and_streaming_lstm_give_the_same_bits(hidden, layers, cfg):
    model = _nan_forget_gate_lstm(hidden, layers).eval()
    normal = torch.randn(5, 8)
    inf = normal.clone()
    inf[0, :2] = float("inf")
    seq, _ = compile_model(model, normal, CONFIGS[cfg])
    stream, _ = compile_model(model, normal, CONFIGS[cfg], stream_axis=0)
    for x in (normal, inf):
        a = seq.to_vm().run(x.numpy())
        b = stream.to_vm().run_timesteps(x.numpy())
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    with torch.no_grad():
        assert torch.isnan(model(inf)[0]).all()  # torch: c1 = NaN * 0 + 1 is NaN
    assert np.isnan(a[0]).all()


# 12. weaker spots ----------------------------------------------------------------------------


def test_dropout_is_the_identity_in_eval_mode():
    model = nn.Sequential(nn.Linear(12, 10), nn.Dropout(0.3), nn.Tanh(), nn.Identity(),
                          nn.Linear(10, 5), nn.Dropout(0.1)).eval()
    x = torch.randn(3, 12)
    program, expected = compile_model(model, x, CONFIGS["c1b8"])
    torch.testing.assert_close(torch.from_numpy(program.to_vm().run(x.numpy())), expected,
                               atol=5e-3, rtol=1e-2)


class _FunctionalDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return torch.nn.functional.dropout(self.fc(x), 0.5, training=self.training)


def test_functional_dropout_in_eval_mode_compiles():
    model = _FunctionalDropout().eval()
    x = torch.randn(2, 8)
    program, expected = compile_model(model, x, CONFIGS["c1b8"])
    torch.testing.assert_close(torch.from_numpy(program.to_vm().run(x.numpy())), expected,
                               atol=5e-3, rtol=1e-2)


def test_dropout_in_training_mode_is_rejected_naming_the_module():
    model = nn.Sequential(nn.Linear(12, 10), nn.Dropout(0.3)).train()
    gm, _ = rill.fx.prepare_shape(model, torch.randn(3, 12))
    with pytest.raises(rill.UnsupportedError, match=r"Dropout.*training mode.*module '1'"):
        rill.fx.nnir.to_nnir(gm)


def test_lstm_dropout_in_training_mode_is_rejected_and_accepted_in_eval():
    model = _Lstm(8, 8, 2)
    model.lstm.dropout = 0.2
    x = torch.randn(4, 8)
    gm, _ = rill.fx.prepare_shape(model.train(), x)
    with pytest.raises(rill.UnsupportedError, match=r"dropout=0.2 in training mode"):
        rill.fx.nnir.to_nnir(gm)
    program, expected = compile_model(model.eval(), x, CONFIGS["c1b8"])
    torch.testing.assert_close(torch.from_numpy(program.to_vm().run(x.numpy())), expected,
                               atol=5e-3, rtol=1e-2)


def test_bare_lstm_as_the_model_is_a_typed_error():
    with pytest.raises(rill.UnsupportedError, match=r"bare LSTM.*\[0\]"):
        rill.fx.prepare_shape(nn.LSTM(8, 8), torch.randn(3, 8))


class _Branchy(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


def test_untraceable_model_is_a_typed_error():
    with pytest.raises(rill.UnsupportedError, match=r"cannot trace _Branchy"):
        rill.fx.prepare_shape(_Branchy(), torch.randn(3, 8))


def test_sequential_errors_name_the_module_path_not_torch():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.Softmax(0)))
    gm, _ = rill.fx.prepare_shape(model, torch.randn(2, 4))
    with pytest.raises(rill.UnsupportedError) as e:
        rill.fx.nnir.to_nnir(gm)
    assert "module '1.1' (Softmax)" in str(e.value)
    assert "proxy.py" not in str(e.value)


def test_vm_run_converts_torch_bf16_and_big_endian_float32(small_program):
    p, x = small_program
    vm = p.to_vm()
    want = vm.run(x)
    xb = torch.from_numpy(x).to(torch.bfloat16)
    np.testing.assert_array_equal(vm.run(xb), vm.run(xb.float().numpy()))
    np.testing.assert_array_equal(vm.run(x.astype(">f4")), want)
    np.testing.assert_array_equal(vm.run(torch.from_numpy(x).requires_grad_()), want)
    with pytest.raises(rill.VMInputError, match=r"dtype torch.int64"):
        vm.run(torch.ones(4, 12, dtype=torch.int64))


@pytest.mark.parametrize("axis", [2, -3, 1.0, "0", None])
def test_run_timesteps_bad_axis_is_typed(axis):
    model = _Lstm(8, 8, 1)
    x = torch.randn(5, 8)
    program, _ = compile_model(model, x, CONFIGS["c1b8"], stream_axis=0)
    with pytest.raises(rill.VMInputError, match=r"axis"):
        program.to_vm().run_timesteps(x.numpy(), axis=axis)


def test_run_timesteps_empty_sequence_is_typed():
    model = _Lstm(8, 8, 1)
    program, _ = compile_model(model, torch.randn(5, 8), CONFIGS["c1b8"], stream_axis=0)
    with pytest.raises(rill.VMInputError, match=r"empty"):
        program.to_vm().run_timesteps(np.zeros((0, 8), np.float32))


def _rill(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rill", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.parametrize("args, what", [
    (["demo", "--steps", "0", "--no-rtl"], "--steps 0"),
    (["demo", "--steps", "-3", "--no-rtl"], "--steps -3"),
    (["demo", "--config", "nope", "--no-rtl"], "'nope' is not a Config preset"),
    (["demo", "--config", "to_dict", "--no-rtl"], "'to_dict' is not a Config preset"),
    (["gen-pkg", "/proc/rill/nope/rill_pkg.sv"], "cannot write"),
])
def test_cli_bad_arguments_give_one_line_and_nonzero_exit(args, what):
    r = _rill(*args)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and what in lines[0], r.stderr


def test_cosim_beats_rejects_floats(small_program):
    from rill.cosim.run import make_image

    p, x = small_program
    beats = p.input_beats(x)
    image = make_image(p, [beats], beats=True)  # the right input still works
    np.testing.assert_array_equal(image.in_beats[0], beats)
    with pytest.raises(rill.VMInputError, match=r"inputs\[0\]: beats=True takes raw bf16 bits"):
        make_image(p, [beats.astype(np.float32)], beats=True)
    with pytest.raises(rill.VMInputError, match=r"inputs\[1\].*\[0, 0xFFFF\]"):
        make_image(p, [beats, beats.astype(np.int32) - 70000], beats=True)
    with pytest.raises(rill.VMInputError, match="at least one"):
        make_image(p, [], beats=True)
