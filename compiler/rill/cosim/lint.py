"""`python -m rill lint-rtl`: verilator --lint-only -Wall over the RTL, for B = 8 and B = 64.

Each unit is linted as its own top (with the files it instantiates), and rtl/rill_top.sv, when
it exists, with every rtl/*.sv. Any warning fails: waivers live in the RTL as
`/* verilator lint_off X */` with a comment giving the reason.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from .verilator import RTL_DIR, toolchain_env

PKG = "rill_pkg.sv"
ADD, MUL, ACT, DOT = "rill_fp32_add.sv", "rill_fp32_mul.sv", "rill_act.sv", "rill_dot_row.sv"

# top module -> (files it needs besides the package, parameters that take the block size)
UNITS: dict[str, tuple[list[str], list[str]]] = {
    "rill_fp32_add": ([ADD], []),
    "rill_fp32_mul": ([MUL], []),
    "rill_act": ([ACT], []),
    "rill_dot_row": ([DOT], ["B"]),
    "rill_matrix_unit": ([DOT, ADD, "rill_matrix_unit.sv"], ["B"]),
    "rill_vector_unit": ([ADD, MUL, ACT, "rill_vector_unit.sv"], ["B"]),
}

BLOCK_SIZES = (8, 64)


def _params_of(path: Path) -> set[str]:
    text = path.read_text()
    head = text.split(");", 1)[0]
    return set(re.findall(r"parameter\s+(?:int\s+unsigned\s+|int\s+)?(\w+)\s*=", head))


def lint_one(top: str, files: list[Path], params: dict[str, int]) -> tuple[bool, str]:
    cmd = [
        "verilator", "--lint-only", "-Wall", "--assert",
        f"-I{RTL_DIR}", "--top-module", top,
        *[f"-G{k}={v}" for k, v in params.items()],
        *[str(f) for f in files],
    ]
    r = subprocess.run(cmd, env=toolchain_env(), capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    ok = r.returncode == 0 and "%Warning" not in out and "%Error" not in out
    return ok, out


def jobs(rtl: Path = RTL_DIR) -> list[tuple[str, list[Path], dict[str, int]]]:
    out = []
    for b in BLOCK_SIZES:
        for top, (files, bparams) in UNITS.items():
            paths = [rtl / PKG, *[rtl / f for f in files]]
            if not bparams and b != BLOCK_SIZES[0]:
                continue  # no block-size parameter: one run is enough
            if all(p.exists() for p in paths):
                out.append((top, paths, {k: b for k in bparams}))
        top_sv = rtl / "rill_top.sv"
        if top_sv.exists():
            allsv = [rtl / PKG, *sorted(p for p in rtl.glob("*.sv") if p.name != PKG)]
            params = {"B": b} if "B" in _params_of(top_sv) else {}
            out.append(("rill_top", allsv, params))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rill lint-rtl", description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="print verilator output")
    ns = ap.parse_args(sys.argv[1:] if argv is None else argv)
    failed = 0
    for top, files, params in jobs():
        ok, out = lint_one(top, files, params)
        ps = " ".join(f"{k}={v}" for k, v in params.items())
        print(f"{'ok  ' if ok else 'FAIL'} {top} {ps}".rstrip())
        if not ok or ns.verbose:
            for line in out.splitlines():
                print("     " + line)
        failed += not ok
    print(f"lint-rtl: {failed} failing" if failed else "lint-rtl: clean")
    return 1 if failed else 0
