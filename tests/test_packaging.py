"""The wheel ships the RTL and the cocotb benches, so an installed rill finds them (not only a
source checkout). Builds a wheel from a copy of the sources (the repo's build/ is untouched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.name for p in (REPO / "cosim").glob("tb_*.py")) + ["vectors.py"]
# the testbench parts: a package next to the benches (one symlink to the directory cosim/rilltb)
PARTS = sorted(f"rilltb/{p.name}" for p in (REPO / "cosim" / "rilltb").glob("*.py"))


def test_checkout_links_to_the_single_copies():
    """In a checkout the package data are symlinks to rtl/ and cosim/ (no second copy)."""
    from rill.cosim.verilator import TB_DIR
    from rill.hw.sources import RTL_DIR

    assert RTL_DIR == (REPO / "rtl").resolve()
    for name in BENCHES:
        link = TB_DIR / name
        assert link.is_symlink(), f"{link}: add a symlink to cosim/{name}"
        assert link.resolve() == (REPO / "cosim" / name).resolve()
    parts = TB_DIR / "rilltb"
    assert parts.is_symlink(), f"{parts}: add a symlink to cosim/rilltb"
    assert parts.resolve() == (REPO / "cosim" / "rilltb").resolve()
    assert "rilltb/__init__.py" in PARTS


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copy2(REPO / "pyproject.toml", src)
    for d in ("rtl", "cosim"):
        shutil.copytree(REPO / d, src / d, ignore=ignore)
    shutil.copytree(REPO / "compiler" / "rill", src / "compiler" / "rill", symlinks=True,
                    ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(src)],
        check=True, timeout=120,
    )
    (whl,) = out.glob("rill-*.whl")
    with zipfile.ZipFile(whl) as z:
        yield z


def test_wheel_contains_rtl_and_benches(wheel):
    names = set(wheel.namelist())
    assert "rill/hw/rtl/rill_top.sv" in names
    rtl = sorted(p.name for p in (REPO / "rtl").iterdir() if p.suffix in (".sv", ".svh"))
    assert {f"rill/hw/rtl/{n}" for n in rtl} <= names
    assert {f"rill/cosim/tb/{n}" for n in BENCHES + PARTS} <= names
    assert not [n for n in names if "/test_" in n]  # the pytest files stay in the repo
    for packaged, repo_file in (("rill/hw/rtl/rill_top.sv", "rtl/rill_top.sv"),
                                ("rill/cosim/tb/tb_accel.py", "cosim/tb_accel.py"),
                                ("rill/cosim/tb/rilltb/stream.py", "cosim/rilltb/stream.py")):
        assert wheel.read(packaged) == (REPO / repo_file).read_bytes()  # copies, not links


def test_wheel_has_the_layers(wheel):
    names = set(wheel.namelist())
    for m in ("hw/isa.py", "ir/nnir.py", "frontend/convert.py", "fx/nnir.py",
              "compile/program.py", "vm/vm.py", "cosim/run.py", "cosim/image.py",
              "cosim/__main__.py"):
        assert f"rill/{m}" in names


def test_installed_benches_find_their_parts(wheel, tmp_path):
    """From the unpacked wheel (no checkout), the bench and its parts import the way the
    simulator imports them: `rill/cosim/tb` on the path, `tb_accel` and `rilltb` top-level."""
    wheel.extractall(tmp_path)
    code = ("import sys; from rill.cosim.verilator import TB_DIR; sys.path.insert(0, str(TB_DIR));"
            " import tb_accel, rilltb; print(tb_accel.__file__); print(rilltb.__file__)")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert len(lines) == 2, r.stdout
    for line in lines:
        assert Path(line).is_relative_to(tmp_path / "rill" / "cosim" / "tb"), r.stdout
