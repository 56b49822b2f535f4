"""`python -m rill <command>`: the demo, RTL package generation, lint, synthesis, cosim, fuzz."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import RillError

# command -> (module, help); each module has main(argv) -> int, imported only when used
COMMANDS = {
    "demo": ("rill.demo", "compile the seed LSTM, run it on the VM and the RTL, print the verdict"),
    "gen-pkg": ("rill.hw.rtlgen", "regenerate rtl/rill_pkg.sv and the activation table from "
                "hw/isa.py"),
    "lint-rtl": ("rill.cosim.lint", "verilator --lint-only -Wall over rtl/"),
    "cosim": ("rill.cosim.cli", "run a saved program on the RTL: PROGRAM INPUTS.npy"),
    "synth": ("rill.hw.synth.cli", "synthesise RTL units or configs: resources, logic levels "
              "per stage against the budget, ECP5 Fmax (--fmax)"),
    "trace": ("rill.vm.trace", "run a saved program on the VM: every issued op, its value and "
              "model op (text or --format jsonl)"),
    "report": ("rill.report", "latency report of a saved program: critical path by model op, "
               "unit utilisation, HTML with charts (--rtl: measured cycles)"),
    "fuzz": ("rill.fuzz", "random models: VM vs torch (and --rtl: vs RTL), failures shrunk "
             "and saved (--out, --replay)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="rill")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[ns.command][0])
    try:
        return int(module.main(ns.args) or 0)
    except RillError as e:  # bad input: one line (or the error's own list), no traceback
        print(f"rill {ns.command}: error: {e}", file=sys.stderr)
        return 2
