"""`rill sweep` on Dask and the resource model (issue 12)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from rill import AllocationError, Config
from rill.hw import resources
from rill.sweep import cli as sweep_cli
from rill.sweep import core, report
from rill.sweep import models as sweep_models

GRID = ["--cores", "1,2,3", "--block", "16,32", "--weight-depth", "512,1024"]  # 12 configs


@pytest.fixture(scope="module")
def built():
    return {s: sweep_models.build(s) for s in ("lstm", "mlp")}


def _read(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_sweep_local_cluster_matches_direct_compiles(tmp_path, built):
    out = tmp_path / "sw"
    t0 = time.monotonic()
    assert sweep_cli.main([*GRID, "--models", "lstm,mlp", "-o", str(out), "--quiet"]) == 0
    took = time.monotonic() - t0
    rows = _read(out / "sweep.csv")
    assert len(rows) == 24 and took < 120
    assert (out / "sweep.html").stat().st_size > 10_000 and (out / "sweep.png").exists()
    assert "<img src=\"data:image/png;base64," in (out / "sweep.html").read_text()
    assert len(list((out / "jobs").glob("job-*/result.json"))) == 24  # a directory per job
    fits = {r["fits"] for r in rows}
    assert fits == {"True", "False"}  # the LSTM does not fit the B = 16 configs
    for r in rows:
        c = Config(int(r["num_cores"]), int(r["block_size"]),
                   weight_depth=int(r["weight_depth"]))
        est = resources.estimate(c)
        assert int(r["lut"]) == round(est.cells["LUT"]) and int(r["bram"]) == round(
            est.cells["BRAM"])
        try:
            p = built[r["model"]].nnir.to_program(c)
        except AllocationError as e:
            assert r["fits"] == "False" and r["reason"].startswith("AllocationError: ")
            assert str(e).splitlines()[0] in r["reason"]
            continue
        assert r["fits"] == "True", r
        assert int(r["cycles"]) == p.cycle_count_per_inference()
        assert int(r["interval"]) == p.interval_cycles_per_inference()
        assert float(r["us_at_fmax"]) == pytest.approx(p.cycle_count_per_inference()
                                                       / est.fmax_mhz, rel=1e-9)


def test_table_and_pareto():
    assert report.pareto([(1, 9), (2, 5), (3, 7), (4, 1), (4, 2)]) == [0, 1, 3]
    row = {"model": "m", "config": "c1b16 w512 r256", "fits": False, "lut": 1000, "ff": 1000,
           "dsp": 1, "bram": 2, "fmax_mhz": 86.3, "reason": "AllocationError: x" * 20}
    t = report.table([row], width=30)
    assert "c1b16 w512 r256" in t and len(t.splitlines()[-1]) < 200


def test_grid_and_errors(tmp_path):
    g = core.grid({"num_cores": [1, 2], "block_size": [16, 32, 64]})
    assert len(g) == 6 and g[-1] == Config(2, 64) and core.grid({"block_size": [8]}) == [
        Config(3, 8)]
    (tmp_path / "g.json").write_text('["c1b8", {"num_cores": 2, "block_size": 16}]')
    assert core.load_grid(tmp_path / "g.json") == [Config.c1b8(), Config(2, 16)]
    from rill.errors import ConfigError

    with pytest.raises(ConfigError, match="block_size"):
        core.grid({"block_size": [24]})
    with pytest.raises(ConfigError, match="unknown grid axes"):
        core.grid({"cores": [1]})


def test_cli_usage_errors(tmp_path):
    from rill.cli import main

    assert main(["sweep", "--models", "mlp", "-o", str(tmp_path / "o")]) == 2  # no grid
    assert main(["sweep", "--cores", "9", "-o", str(tmp_path / "o")]) == 2  # bad Config
    assert main(["sweep", "--cores", "1", "--models", "nosuch", "-o", str(tmp_path / "o")]) == 2


# ---- the resource model --------------------------------------------------------------------
def test_resource_model_monotonic():
    base = dict(weight_depth=512, rf_depth=256, instr_depth=4096)
    for k in ("LUT", "FF", "DSP", "BRAM"):
        for b in (8, 16, 32, 64):
            xs = [resources.estimate(Config(n, b, **base)).cells[k] for n in range(1, 9)]
            assert all(x1 > x0 for x0, x1 in pairwise(xs)), (k, b, xs)
        for n in (1, 3, 8):
            xs = [resources.estimate(Config(n, b, **base)).cells[k] for b in (4, 8, 16, 32, 64,
                                                                                128)]
            assert all(x1 > x0 for x0, x1 in pairwise(xs)), (k, n, xs)
    for n, b in ((1, 8), (3, 64)):
        br = [resources.estimate(Config(n, b, weight_depth=d)).cells["BRAM"]
              for d in (256, 512, 1024, 4096)]
        # a 256-deep weight row fills half a RAMB36 (512 x 72): 256 -> 512 costs no block
        assert all(x1 >= x0 for x0, x1 in pairwise(br)) and br[-1] > br[1] > 0
        bits = [resources.estimate(Config(n, b, rf_depth=d)).bram_bits
                for d in (128, 256, 1024)]
        assert all(x1 > x0 for x0, x1 in pairwise(bits))
    e = resources.estimate(Config.ia_840f_c3b64())
    assert e.cells["DSP"] >= 3 * 64 * 64  # one DSP48 per bf16 MAC, at least
    assert e.bram_bits >= 3 * 512 * 64 * 64 * 16  # the weights alone
    assert 50 < e.fmax_mhz < 200 and 250 < e.class_mhz < 350


def test_resource_model_reproduces_its_calibration():
    """The committed figures: exact on the calibration configs, within 15% on the holdout."""
    for name, cells in resources.CALIBRATION["measured"].items():
        c = resources.config_of(name)
        est = resources.estimate(c)
        for k in resources.CHECKED:
            s = cells[k]
            if name in resources.CALIBRATION["fitted_on"]:
                assert est.cells[k] == pytest.approx(s, rel=0.02, abs=2), (name, k)
            else:  # the holdout
                assert abs(est.cells[k] - s) <= 0.15 * s, (name, k, est.cells[k], s)


@pytest.mark.slow
def test_resource_model_holdout_from_synthesis():
    """Refit from the synthesis flow on the current RTL (cached by source hash, else
    synthesised: ~1 h on two loaded cores) and check the holdout within 15%."""
    meas = resources.measured(run=True)
    cal = resources.fit(meas)
    errs = resources.holdout(cal, meas)
    assert errs, "the holdout config was not synthesised"
    for k in resources.CHECKED:
        assert abs(errs[k]["error"]) <= 0.15, (k, errs[k])


# ---- a multi-process cluster: `dask scheduler` and `dask worker` as separate processes -------
@pytest.mark.slow
def test_sweep_on_separate_scheduler_and_workers(tmp_path):
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("dask's command line is not installed")
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    logs = [open(tmp_path / f"{n}.log", "w") for n in ("scheduler", "worker")]
    procs = [subprocess.Popen([str(dask), "scheduler", "--scheduler-file", str(sched_file),
                               "--port", "0", "--no-dashboard"], stdout=logs[0],
                              stderr=subprocess.STDOUT, env=env)]
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size > 0:
                break
            time.sleep(0.1)
        import json

        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([str(dask), "worker", "--scheduler-file",
                                       str(sched_file), "--nworkers", "2", "--nthreads", "1",
                                       "--no-dashboard"], stdout=logs[1],
                                      stderr=subprocess.STDOUT, env=env))
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        out = tmp_path / "sw"
        assert sweep_cli.main(["--cores", "1,2", "--block", "16,32", "--models", "mlp",
                               "--scheduler", address, "-o", str(out), "--quiet"]) == 0
        rows = _read(out / "sweep.csv")
        assert len(rows) == 4 and all(r["fits"] == "True" for r in rows)
        assert all(not r["worker"].endswith(f":{os.getpid()}") for r in rows)  # on workers
        direct = sweep_models.build("mlp").nnir.to_program(Config(2, 32))
        got = [r for r in rows if r["config"].startswith("c2b32")][0]
        assert int(got["cycles"]) == direct.cycle_count_per_inference()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for fh in logs:
            fh.close()


@pytest.mark.slow
def test_sweep_rtl_sample_equals_vm(tmp_path):
    """--rtl-sample: the Verilator model's cycles and interval equal the VM's (c1b8, c2b8)."""
    (tmp_path / "tiny.py").write_text(
        "import torch.nn as nn\n\n\ndef make():\n"
        "    return nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 8))\n")
    (tmp_path / "grid.json").write_text(
        '["c1b8", {"num_cores": 2, "block_size": 8, "weight_depth": 256, "rf_depth": 64, '
        '"instr_depth": 1024}]')
    out = tmp_path / "sw"
    assert sweep_cli.main(["--grid", str(tmp_path / "grid.json"), "--models",
                           f"{tmp_path / 'tiny.py'}:make", "--input-shape", "16",
                           "--rtl-sample", "2", "-o", str(out), "--quiet"]) == 0
    rows = _read(out / "sweep.csv")
    assert [r["rtl_equal"] for r in rows] == ["True", "True"]
    assert all(r["rtl_cycles"] == r["cycles"] for r in rows)
