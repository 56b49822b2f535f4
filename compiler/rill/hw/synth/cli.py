"""`rill synth [TARGET ...]`: synthesise RTL units or whole configs and check the level budget.

TARGET is a module name (`rill_fp32_add`) or a preset config (`c1b8`); the default is every
arithmetic unit at `--block-size`. Exit status 1 when a path exceeds the budget.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..config import Config
from . import flow
from .units import config_unit, default_units, unit


def _target(name: str, block_size: int) -> flow.Unit:
    if hasattr(Config, name) and not name.startswith("_"):
        return config_unit(name)
    return unit(name, block_size)


def table(results: list[flow.Result], top_paths: int) -> str:
    rows = [f"{'unit':<22} {'LUT':>6} {'FF':>6} {'CARRY4':>6} {'DSP':>4} {'BRAM':>4} "
            f"{'levels':>6} {'ECP5 MHz':>8}  deepest paths (end register <- start: levels)"]
    for r in results:
        fm = f"{r.fmax_mhz:8.1f}" if r.fmax_mhz is not None else f"{'-':>8}"
        paths = "; ".join(f"{p.end}<-{p.start}: {p.levels:g}" for p in r.paths[:top_paths])
        flag = " OVER" if r.over_budget() else ""
        rows.append(f"{r.unit:<22} {r.cells['LUT']:>6} {r.cells['FF']:>6} "
                    f"{r.cells['CARRY4']:>6} {r.cells['DSP']:>4} {r.cells['BRAM']:>4} "
                    f"{r.worst:>6g} {fm}  {paths}{flag}")
    return "\n".join(rows)


def markdown(results: list[flow.Result]) -> str:
    """The timing table of docs/architecture.md (tests/test_synth.py checks the levels)."""
    rows = ["| unit | levels | deepest paths (end <- start: levels) | LUT | FF | CARRY4 | DSP "
            "| BRAM | ECP5 Fmax |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        paths = "; ".join(f"`{p.end}`<-`{p.start}` {p.levels:g}" for p in r.paths[:3])
        fm = f"{r.fmax_mhz:.0f} MHz" if r.fmax_mhz is not None else "–"
        name = r.unit if r.top == "rill_top" else r.top  # a whole config by its name
        rows.append(f"| `{name}` | {r.worst:g} | {paths} | {r.cells['LUT']} | "
                    f"{r.cells['FF']} | {r.cells['CARRY4']} | {r.cells['DSP']} | "
                    f"{r.cells['BRAM']} | {fm} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rill synth", description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", help="RTL modules or preset configs (default: units)")
    ap.add_argument("-b", "--block-size", type=int, default=8, help="B for the units")
    ap.add_argument("--fmax", action="store_true",
                    help="also place and route for ECP5 (LFE5UM-85F, speed 6): post-route Fmax")
    ap.add_argument("--paths", type=int, default=3, help="deepest paths shown per unit")
    ap.add_argument("--no-cache", action="store_true", help="re-run even if cached")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--markdown", action="store_true",
                    help="print the timing table of docs/architecture.md")
    ns = ap.parse_args(sys.argv[1:] if argv is None else argv)
    targets = ([_target(t, ns.block_size) for t in ns.targets] if ns.targets
               else default_units(ns.block_size))
    results = []
    try:
        for t in targets:
            if not (ns.json or ns.markdown):
                print(f"synth {t.name} ...", file=sys.stderr, flush=True)
            results.append(flow.synth(t, fmax=ns.fmax, use_cache=not ns.no_cache))
    except flow.SynthError as e:
        print(f"rill synth: {e}", file=sys.stderr)
        return 2
    if ns.json:
        print(json.dumps([r.to_json() for r in results], indent=1))
    elif ns.markdown:
        print(markdown(results))
    else:
        print(table(results, ns.paths))
        print(f"budget: {flow.BUDGET_LEVELS:g} levels per register-to-register path "
              "(docs/architecture.md)")
    return 1 if any(r.over_budget() for r in results) else 0
