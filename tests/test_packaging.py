"""The wheel ships the RTL and the cocotb benches, so an installed rill finds them (not only a
source checkout). Builds a wheel from a copy of the sources (the repo's build/ is untouched)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.name for p in (REPO / "cosim").glob("tb_*.py")) + ["vectors.py"]


def test_checkout_links_to_the_single_copies():
    """In a checkout the package data are symlinks to rtl/ and cosim/ (no second copy)."""
    from rill.cosim.verilator import TB_DIR
    from rill.hw.sources import RTL_DIR

    assert RTL_DIR == (REPO / "rtl").resolve()
    for name in BENCHES:
        link = TB_DIR / name
        assert link.is_symlink(), f"{link}: add a symlink to cosim/{name}"
        assert link.resolve() == (REPO / "cosim" / name).resolve()


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
    assert {f"rill/cosim/tb/{n}" for n in BENCHES} <= names
    assert not [n for n in names if "/test_" in n]  # the pytest files stay in the repo
    for packaged, repo_file in (("rill/hw/rtl/rill_top.sv", "rtl/rill_top.sv"),
                                ("rill/cosim/tb/tb_accel.py", "cosim/tb_accel.py")):
        assert wheel.read(packaged) == (REPO / repo_file).read_bytes()  # copies, not links


def test_wheel_has_the_layers(wheel):
    names = set(wheel.namelist())
    for m in ("hw/isa.py", "ir/nnir.py", "frontend/convert.py", "fx/nnir.py",
              "compile/program.py", "vm/vm.py", "cosim/run.py"):
        assert f"rill/{m}" in names
