"""`python -m rill lint-rtl`: verilator --lint-only -Wall over the RTL, for B = 8 and B = 64.

Each unit is linted as its own top, and rtl/rill_top.sv, when it exists, as the whole design;
the file lists come from the manifest (`rill.hw.manifest`, which a test holds to rtl/). Any
warning fails: waivers live in the RTL as `/* verilator lint_off X */` with a comment giving the
reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import procs
from ..hw import manifest
from .verilator import RTL_DIR, toolchain_env

BLOCK_SIZES = (8, 64)


def lint_one(top: str, files: list[Path], params: dict[str, int]) -> tuple[bool, str]:
    cmd = [
        "verilator", "--lint-only", "-Wall", "--assert",
        f"-I{RTL_DIR}", "--top-module", top,
        *[f"-G{k}={v}" for k, v in params.items()],
        *[str(f) for f in files],
    ]
    r = procs.run(cmd, env=toolchain_env(), capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    ok = r.returncode == 0 and "%Warning" not in out and "%Error" not in out
    return ok, out


def jobs(rtl: Path = RTL_DIR) -> list[tuple[str, list[Path], dict[str, int]]]:
    """The arithmetic units of the manifest, then rill_top, each with the files the manifest
    lists for it, at each block size."""
    out = []
    for b in BLOCK_SIZES:
        for top, mod in manifest.MODULES.items():
            if not mod.unit or (not mod.block_param and b != BLOCK_SIZES[0]):
                continue  # no block-size parameter: one run is enough
            paths = manifest.files(top, rtl)
            if (rtl / f"{top}.sv").exists():
                out.append((top, paths, {"B": b} if mod.block_param else {}))
        if (rtl / "rill_top.sv").exists():
            params = {"B": b} if manifest.MODULES["rill_top"].block_param else {}
            out.append(("rill_top", manifest.files("rill_top", rtl), params))
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
