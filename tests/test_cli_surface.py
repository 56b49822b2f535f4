"""The user's surface: `rill compile / run / info / presets` as typed at a shell, the Config
presets and their JSON files, per-core metrics, and the Program/VM names users call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rill
from rill import cli
from rill.hw.config import PRESET_NAMES

COMPILER_DIR = str(Path(rill.__file__).resolve().parents[1])

MLP_PY = textwrap.dedent("""
    import torch
    from torch import nn


    def mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(24, 40), nn.ReLU(), nn.Linear(40, 6))


    class Rnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(12, 16)
            self.fc = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])


    def rnn():
        torch.manual_seed(1)
        return Rnn()


    NOT_CALLABLE = 3
""")


def rill_cli(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m rill ARGS` in `cwd`, as a user types it."""
    full_env = {k: v for k, v in os.environ.items() if k != "RILL_DEBUG"}
    full_env.update(PYTHONPATH=COMPILER_DIR, **(env or {}))
    return subprocess.run([sys.executable, "-m", "rill", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("surface")
    (d / "usermodels.py").write_text(MLP_PY)
    (d / "notorch.py").write_text("def broken():\n    raise RuntimeError('factory exploded')\n"
                                  "def not_a_module():\n    return 42\n")
    rng = np.random.default_rng(0)
    np.save(d / "x.npy", rng.standard_normal(24).astype(np.float32))
    np.save(d / "seq.npy", rng.standard_normal((5, 12)).astype(np.float32))
    np.save(d / "wrong.npy", np.zeros(7, np.float32))
    (d / "junk.npy").write_text("not numpy")
    return d


@pytest.fixture(scope="module")
def mlp_rill(work) -> Path:
    r = rill_cli(work, "compile", "usermodels.py:mlp", "-o", "mlp.rill", "--input-shape", "24",
                 "--config", "c2b16")
    assert r.returncode == 0, r.stderr
    assert "saved mlp.rill" in r.stdout and "(24,) -> output (6,)" in r.stdout
    return work / "mlp.rill"


# --- the command line ------------------------------------------------------------------------
def test_compile_run_info(work, mlp_rill):
    program = rill.Program.load(mlp_rill)
    assert program.config == rill.Config.c2b16() and program.name == "mlp"
    assert program.model_input_shape() == (24,) and program.model_output_shape() == (6,)
    # the same model compiled in-process gives the same program
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(24, 40), nn.ReLU(), nn.Linear(40, 6))
    gm, _ = rill.fx.prepare_shape(model, torch.randn(24))
    ref = rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c2b16(), name="mlp")
    assert ref.save_bytes() == program.save_bytes()

    r = rill_cli(work, "run", "mlp.rill", "x.npy", "-o", "y.npy")
    assert r.returncode == 0, r.stderr
    cycles = program.cycle_count_per_inference()
    assert "output (6,)" in r.stdout and f"{cycles} cycles per inference" in r.stdout
    y = np.load(work / "y.npy")
    assert np.array_equal(y, program.to_vm().run(np.load(work / "x.npy")))

    r = rill_cli(work, "info", "mlp.rill")
    assert r.returncode == 0, r.stderr
    assert "c2b16" in r.stdout and f"{cycles} spaced" in r.stdout and "vector regs" in r.stdout
    r = rill_cli(work, "info", "mlp.rill", "--json")
    d = json.loads(r.stdout)
    assert d["cycles_per_inference"] == cycles and d["preset"] == "c2b16"
    assert d["input_shape"] == [24] and d["output_shape"] == [6] and d["streaming_dim"] is None
    assert d["num_models"] == 1
    assert d["interval_cycles"] == program.interval_cycles_per_inference()
    assert d["us_per_inference"] == pytest.approx(program.compute_duration_per_inference_us())
    assert d["metrics"] == json.loads(json.dumps(program.metrics()))


def test_compile_with_the_optimal_scheduler(work, mlp_rill):
    """--scheduler optimal: the same program as in-process, never slower than the list
    scheduler's, the same outputs."""
    r = rill_cli(work, "compile", "usermodels.py:mlp", "-o", "mlp_opt.rill", "--input-shape",
                 "24", "--config", "c2b16", "--scheduler", "optimal")
    assert r.returncode == 0, r.stderr
    fast, listed = rill.Program.load(work / "mlp_opt.rill"), rill.Program.load(mlp_rill)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(24, 40), nn.ReLU(), nn.Linear(40, 6))
    gm, _ = rill.fx.prepare_shape(model, torch.randn(24))
    ref = rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c2b16(), name="mlp",
                                              scheduler="optimal")
    assert ref.save_bytes() == fast.save_bytes()
    assert fast.cycle_count_per_inference() <= listed.cycle_count_per_inference()
    x = np.load(work / "x.npy")
    assert np.array_equal(fast.to_vm().run(x), listed.to_vm().run(x))
    r = rill_cli(work, "compile", "usermodels.py:mlp", "-o", "m.rill", "--input-shape", "24",
                 "--scheduler", "greedy")
    assert r.returncode != 0 and "--scheduler: invalid choice: 'greedy'" in r.stderr


def test_compile_module_factory_streaming_json_config(work):
    """module:factory found from the current directory, a Config JSON file, streaming, then
    `run --timesteps` gives the sequence."""
    cfg = rill.Config(num_cores=2, block_size=16, weight_depth=256, rf_depth=128,
                      clock_mhz=250.0)
    cfg.save(work / "my_config.json")
    r = rill_cli(work, "compile", "usermodels:rnn", "-o", "rnn.rill", "--input-shape", "5,12",
                 "--streaming-axis", "0", "--config", "my_config.json")
    assert r.returncode == 0, r.stderr
    assert "streaming axis 0" in r.stdout and "250 MHz" in r.stdout
    program = rill.Program.load(work / "rnn.rill")
    assert program.config == cfg and program.model_input_streaming_dim() == 0
    assert program.model_input_shape() == (12,)
    r = rill_cli(work, "run", "rnn.rill", "seq.npy", "--timesteps", "0", "-o", "ys.npy")
    assert r.returncode == 0, r.stderr
    assert "output (5, 3)" in r.stdout and "5 inference(s)" in r.stdout
    seq = np.load(work / "seq.npy")
    vm = program.to_vm()
    steps = np.stack([vm.run(seq[t]) for t in range(5)])
    assert np.array_equal(np.load(work / "ys.npy"), steps)
    d = json.loads(rill_cli(work, "info", "rnn.rill", "--json").stdout)
    assert d["streaming_dim"] == 0 and d["preset"] is None and d["clock_mhz"] == 250.0


def test_presets_table(work):
    r = rill_cli(work, "presets")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "cores", "block", "weight", "depth", "clock"]
    row = {ln.split()[0]: ln.split()[1:] for ln in lines[1:]}
    assert set(row) == set(PRESET_NAMES)
    assert row["amd_v80_c6b32"][:5] == ["6", "32", "4096", "300", str(6 * 32 * 32)]
    assert row["bittware_ia840f_c2b64d"][:4] == ["2", "64", "1024", "320"]
    assert row["silicom_artena_c8b32"][:4] == ["8", "32", "512", "250"]
    assert "alias of bittware_ia840f_c3b64" in " ".join(row["ia_840f_c3b64"])
    js = json.loads(rill_cli(work, "presets", "--json").stdout)
    assert [p["name"] for p in js] == list(PRESET_NAMES)


@pytest.mark.parametrize("args, needle", [
    (["compile", "usermodels.py:mlp", "-o", "a.rill", "--input-shape", "24", "--config",
      "ia_999_c9b9"], "ia_999_c9b9"),
    (["compile", "usermodels.py:mlp", "-o", "a.rill", "--input-shape", "24", "--config",
      "missing.json"], "missing.json"),
    (["compile", "nosuchmodule:mlp", "-o", "a.rill", "--input-shape", "24"], "nosuchmodule"),
    (["compile", "notorch.py:nosuchfactory", "-o", "a.rill", "--input-shape", "24"],
     "nosuchfactory"),
    (["compile", "nofile.py:mlp", "-o", "a.rill", "--input-shape", "24"], "nofile.py"),
    (["compile", "notorch", "-o", "a.rill", "--input-shape", "24"], "module:factory"),
    (["compile", "notorch.py:broken", "-o", "a.rill", "--input-shape", "2,q"], "'q'"),
    (["compile", "notorch.py:broken", "-o", "a.rill"], "--input-shape"),
    (["compile", "usermodels.py:mlp", "-o", "a.rill", "--input-shape", "24", "--streaming-axis",
      "oops"], "oops"),
    (["run", "missing.rill", "x.npy"], "missing.rill"),
    (["run", "mlp.rill", "missing.npy"], "missing.npy"),
    (["run", "mlp.rill", "junk.npy"], "junk.npy"),
    (["run", "mlp.rill", "wrong.npy"], "(7,)"),
    (["run", "mlp.rill", "x.npy", "--timesteps", "4"], "axis=4"),
    (["info", "x.npy"], "not a rill program"),
    (["info"], "program"),
    (["presets", "--bogus"], "--bogus"),
])
def test_bad_arguments_exit_2(work, mlp_rill, args, needle):
    r = rill_cli(work, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert not (work / "a.rill").exists()


@pytest.mark.parametrize("factory, needle", [("broken", "factory exploded"),
                                             ("not_a_module", "not a torch.nn.Module"),
                                             ("nosuch", "'nosuch'")])
def test_bad_factory_in_process(work, monkeypatch, capsys, factory, needle):
    """The same as above through cli.main (torch is imported already: no start-up cost)."""
    monkeypatch.chdir(work)
    argv = ["compile", f"notorch.py:{factory}", "-o", "a.rill", "--input-shape", "24"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rill compile: error:") and needle in err
    assert not (work / "a.rill").exists()


def test_onnx(work, tmp_path, capsys):
    r = rill_cli(work, "compile", "missing.onnx", "-o", "a.rill")
    assert r.returncode == 2 and "missing.onnx" in r.stderr
    if not hasattr(rill.NNIR, "from_onnx"):
        assert "from_onnx" in r.stderr
        return
    pytest.importorskip("onnx")
    import warnings

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(24, 40), nn.ReLU(), nn.Linear(40, 6)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(3, 24),), str(tmp_path / "m.onnx"), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "rows"}})
    # the file's rows are dynamic: --input-shape gives them, in input order or by name
    assert cli.main(["compile", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.rill"),
                     "--input-shape", "3", "24", "--config", "c2b16"]) == 0
    program = rill.Program.load(tmp_path / "m.rill")
    assert program.model_input_shape() == (3, 24) and program.name == "m"
    assert cli.main(["compile", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "n.rill"),
                     "--input-shape", "x=3,24", "--config", "c2b16"]) == 0
    assert rill.Program.load(tmp_path / "n.rill").save_bytes() == program.save_bytes()
    capsys.readouterr()
    assert cli.main(["compile", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "n.rill"),
                     "--input-shape", "y=3,24"]) == 2
    assert "'y'" in capsys.readouterr().err
    assert cli.main(["compile", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "n.rill"),
                     "--input-shape", "3,24", "--input-shape", "5"]) == 2
    assert "1 input(s) (x)" in capsys.readouterr().err


def test_unknown_preset_lists_known(work):
    r = rill_cli(work, "compile", "x:y", "-o", "a.rill", "--input-shape", "3", "--config", "zz")
    assert "'zz'" in r.stderr and "bittware_ia840f_c3b64" in r.stderr and "c1b8" in r.stderr


@pytest.mark.parametrize("command", ["compile", "run", "info", "presets"])
def test_help(command):
    # in-process: argparse's --help exits 0 (one subprocess check below for the top level)
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0


def test_top_level_help(work):
    r = rill_cli(work, "--help")
    assert r.returncode == 0 and "exit status" in r.stdout and "presets" in r.stdout


def test_internal_error_exit_3(tmp_path, monkeypatch, capsys):
    (tmp_path / "rill_boom_cmd.py").write_text(
        "def main(argv):\n    raise KeyError('a bug in rill')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "boom", ("rill_boom_cmd", "raises"))
    monkeypatch.delenv("RILL_DEBUG", raising=False)
    assert cli.main(["boom"]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "a bug in rill" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert cli.main(["--debug", "boom"]) == 3
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("RILL_DEBUG", "1")
    assert cli.main(["boom"]) == 3
    assert "Traceback" in capsys.readouterr().err


# --- presets and Config files ----------------------------------------------------------------
@pytest.mark.parametrize("name, cores, block, depth, mhz", [
    ("bittware_ia840f_c3b64", 3, 64, 512, 320), ("bittware_ia420f_c6b32", 6, 32, 512, 320),
    ("bittware_ia840f_c2b64d", 2, 64, 1024, 320), ("napatech_nt400d11_c6b32", 6, 32, 512, 320),
    ("amd_v80_c6b32", 6, 32, 4096, 300), ("amd_v80ll_c6b32", 6, 32, 4096, 330),
    ("silicom_artena_c8b32", 8, 32, 512, 250),
])
def test_board_presets(name, cores, block, depth, mhz):
    c = rill.Config.preset(name)
    assert (c.num_cores, c.block_size, c.weight_depth, c.clock_mhz) == (cores, block, depth, mhz)
    assert getattr(rill.Config, name)() == c == rill.Config.presets()[name]()
    assert c.macs_per_cycle == cores * block * block


def test_short_names_still_work():
    assert rill.Config.ia_840f_c3b64() == rill.Config.bittware_ia840f_c3b64()
    assert rill.Config.ia_420f_c6b32() == rill.Config.bittware_ia420f_c6b32()
    for name in ("c1b8", "c2b16", "c3b16", "ia_840f_c3b64", "ia_420f_c6b32"):
        assert name in rill.Config.presets() and rill.Config.preset(name) == \
            getattr(rill.Config, name)()
    assert rill.Config.preset_alias_of("ia_840f_c3b64") == "bittware_ia840f_c3b64"


def test_unknown_preset_error():
    with pytest.raises(rill.ConfigError, match="'nope'.*bittware_ia840f_c3b64.*c1b8"):
        rill.Config.preset("nope")


def test_config_file_errors(tmp_path):
    c = rill.Config.amd_v80_c6b32()
    c.save(tmp_path / "c.json")
    assert rill.Config.load(tmp_path / "c.json") == c
    cases = {
        "bad.json": ("{not json", "bad.json"),
        "unknown.json": ('{"num_cores": 2, "block_size": 16, "cores": 3}', "'cores'"),
        "type.json": ('{"num_cores": "2", "block_size": 16}', "num_cores"),
        "clock.json": ('{"num_cores": 2, "block_size": 16, "clock_mhz": "fast"}', "clock_mhz"),
        "missing.json": ('{"num_cores": 2}', "block_size"),
        "list.json": ("[2, 16]", "JSON object"),
    }
    for fname, (text, needle) in cases.items():
        (tmp_path / fname).write_text(text)
        with pytest.raises(rill.ConfigError) as e:
            rill.Config.load(tmp_path / fname)
        assert needle in str(e.value) and fname in str(e.value), str(e.value)
    with pytest.raises(rill.ConfigError, match="nofile.json"):
        rill.Config.load(tmp_path / "nofile.json")


# --- metrics and the Program / VM names ------------------------------------------------------
@pytest.fixture(scope="module")
def rnn_program():
    torch.manual_seed(2)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(20, 24)
            self.fc = nn.Linear(24, 5)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])

    x = torch.randn(4, 20)
    gm, _ = rill.fx.prepare_shape(Net(), x)
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    return nnir.to_program(rill.Config.c2b16()), x.numpy()


def test_metrics_per_core(rnn_program):
    program, _ = rnn_program
    c = program.config
    m = program.metrics()
    for key in ("cycles_per_inference", "program_length", "instr_memory",
                "weight_blocks_per_core", "weight_memory_blocks_available", "constants",
                "mac_ops", "vector_ops", "input_beats", "output_beats"):
        assert key in m  # the keys from before stay
    pc = m["per_core"]
    assert len(pc) == c.num_cores
    assert [d["weight_blocks"]["used"] for d in pc] == m["weight_blocks_per_core"]
    assert all(d["weight_blocks"]["available"] == c.weight_depth for d in pc)
    assert sum(d["mac_ops"] for d in pc) == m["mac_ops"] > 0
    assert sum(d["vector_ops"] for d in pc) == m["vector_ops"] > 0
    assert sum(d["out_ops"] for d in pc) == program.n_out
    for d in pc:
        assert d["instructions"]["used"] == program.length
        assert d["mac_ops"] <= d["instructions"]["issuing"] <= program.length
        for bank in ("matrix_bank", "vector_bank"):
            r = d["registers"][bank]
            assert 0 <= r["used"] <= r["available"] == c.rf_depth
    assert any(d["registers"]["matrix_bank"]["used"] > 0 for d in pc)
    regs = m["registers"]
    assert regs["input"]["used"] <= program.n_in and regs["constants"]["used"] <= \
        m["constants"]["used"]
    assert regs["core0_matrix"] == pc[0]["registers"]["matrix_bank"]
    assert m["interval_cycles_per_inference"] == program.interval_cycles_per_inference()
    json.dumps(m)  # plain ints and dicts: --json prints it


def test_program_names(rnn_program):
    program, x = rnn_program
    assert program.model_input_shape() == (20,)
    assert program.model_output_shape() == (5,)
    assert program.model_input_streaming_dim() == 0
    assert program.num_models() == 1
    again = rill.Program.load_bytes(program.save_bytes())
    assert again.save_bytes() == program.save_bytes()
    vm = program.to_vm()
    ys = vm.run_timesteps(x, 0)
    vm.reset()
    steps = np.stack([vm.run(x[t]) for t in range(x.shape[0])])
    assert ys.shape == (4, 5) and np.array_equal(ys, steps)
    vm.reset()
    assert np.array_equal(vm.run_timesteps(x.T.copy(), 1), steps.T)
