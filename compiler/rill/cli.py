"""`python -m rill <command>` (or `rill <command>`): compile, run, info, presets, the demo, RTL
package generation, lint, synthesis, cosim, fuzz.

exit status of every command: 0 ok; 1 verification mismatch (cosim: RTL vs VM); 2 usage or
input error (argparse's errors too); 3 internal error (an unexpected exception: one line, the
traceback only with `rill --debug COMMAND ...` or RILL_DEBUG=1).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from .errors import RillError

# command -> (module, help); each module has main(argv) -> int, imported only when used
COMMANDS = {
    "compile": ("rill.cli_compile", "compile a torch model (module:factory, file.py:factory) or "
                ".onnx to a program: MODEL -o OUT.rill --input-shape 128"),
    "run": ("rill.cli_run", "run a saved program on the VM: PROGRAM INPUTS.npy [-o OUT.npy]"),
    "info": ("rill.cli_info", "a saved program's shapes, cycles, µs and memory per core"),
    "presets": ("rill.cli_presets", "the Config presets: cores, block, weight depth, clock"),
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
    "sweep": ("rill.sweep.cli", "design-space sweep on Dask: configs x models -> cycles, fit, "
              "resources, Fmax, µs; CSV, HTML plots (--cores 1,2 --block 16,32 --models lstm)"),
    "fuzz": ("rill.fuzz", "random models: VM vs torch (and --rtl: vs RTL), failures shrunk "
             "and saved (--out, --replay)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="rill", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {k:9} {v[1]}" for k, v in COMMANDS.items())
        + "\n\n" + __doc__[__doc__.index("exit status"):])
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an internal error (or RILL_DEBUG=1)")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[ns.command][0])
    try:
        return int(module.main(ns.args) or 0)
    except RillError as e:  # bad input: one line (or the error's own list), no traceback
        print(f"rill {ns.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug in rill, not bad input: say so; the traceback on request
        if ns.debug or "--debug" in ns.args or os.environ.get("RILL_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        first = str(e).splitlines()[0] if str(e) else ""
        print(f"rill {ns.command}: internal error: {type(e).__name__}: {first} (rerun with "
              f"--debug or RILL_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3
