"""`rill cosim PROGRAM INPUTS.npy`: a passing run leaves no run directory behind; a failing
one keeps its directory and names it (issue 8 item 12)."""

from __future__ import annotations

import uuid

import numpy as np
from test_accel import compile_model, inputs_for

import rill
from rill.cosim.cli import main
from rill.cosim.run import build_accel


def runs_named(config, name: str) -> list[str]:
    """This test's run directories (other tests run beside it under pytest-xdist)."""
    runs = build_accel(config).build_dir / "runs"
    return [p.name for p in runs.glob(f"{name}-*")] if runs.exists() else []


def test_a_passing_cli_run_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RILL_KEEP_RUNS", raising=False)
    program = compile_model("relu", rill.Config.c1b8())
    program.name = name = f"clirun{uuid.uuid4().hex[:8]}"
    program.save(tmp_path / "p.rill")
    np.save(tmp_path / "x.npy", np.stack(inputs_for(program, 3)))
    assert main([str(tmp_path / "p.rill"), str(tmp_path / "x.npy")]) == 0
    assert "PASS" in capsys.readouterr().out
    assert not runs_named(program.config, name)
