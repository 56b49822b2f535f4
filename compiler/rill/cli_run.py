"""`rill run PROGRAM INPUTS.npy [-o OUT.npy] [--timesteps AXIS]`: run a saved program on the VM.

INPUTS.npy is one inference's input, shaped like the program's input (`rill info` shows it),
or with --timesteps AXIS a whole sequence: one element along AXIS per inference, through a
streaming program (`vm.run_timesteps`). A multi-input program takes one .npy per input, in
order. Prints the output's shape and the cycles; -o saves the output (.npy; several outputs:
an .npz of arr_0, arr_1, ...), otherwise a summary of the values is printed.

exit status: 0 ran; 2 usage or input error (an unreadable program or .npy, inputs of the wrong
shape or dtype); 3 internal error (traceback with `rill --debug` or RILL_DEBUG=1).
"""

from __future__ import annotations

import argparse

import numpy as np

from .cli_common import UsageError, fmt_shape, load_array
from .errors import VMInputError


def _parser() -> argparse.ArgumentParser:
    doc = __doc__
    ap = argparse.ArgumentParser(prog="rill run", description=doc.split("\n\n")[1],
                                 epilog=doc[doc.index("exit status"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--debug", action="store_true",
                    help="on an internal error, print the traceback (or RILL_DEBUG=1)")
    ap.add_argument("program", help="a saved rill program (rill compile, Program.save)")
    ap.add_argument("inputs", nargs="+", metavar="INPUTS.npy",
                    help="the input (one .npy per model input)")
    ap.add_argument("-o", "--output", metavar="OUT.npy", help="save the output here")
    ap.add_argument("--timesteps", type=int, metavar="AXIS", default=None,
                    help="the inputs are a sequence along AXIS: one inference per element")
    ap.add_argument("--model", type=int, metavar="K", default=0,
                    help="a program of several models (rill.ProgramBuilder): run model K "
                         "(default 0)")
    return ap


def main(argv: list[str] | None = None) -> int:
    from .compile.program import Program

    ns = _parser().parse_args(argv)
    program = Program.load(ns.program)
    try:
        program = program.model(ns.model)  # its segment: the same bits from a fresh state
    except VMInputError as e:
        raise UsageError(f"--model {ns.model}: {e}") from e
    xs = [load_array(p) for p in ns.inputs]
    n_inputs = len(program.input_shape) if program.input_shape and isinstance(
        program.input_shape[0], (tuple, list)) else 1
    if len(xs) != n_inputs:
        raise UsageError(f"{ns.program} takes {n_inputs} input(s) "
                         f"{fmt_shape(program.model_input_shape())}, got {len(xs)} file(s)")
    vm = program.to_vm()
    if ns.timesteps is not None:
        if len(xs) != 1:
            raise UsageError("--timesteps: only for single-input programs")
        y = vm.run_timesteps(xs[0], ns.timesteps)
        n = int(xs[0].shape[ns.timesteps])
    else:
        y = vm.run(*xs)
        n = 1
    ys = list(y) if isinstance(y, tuple) else [y]
    cycles = program.cycle_count_per_inference()
    print(f"output {', '.join(fmt_shape(v.shape) for v in ys)} float32 (bf16 values)")
    print(f"{n} inference(s); {cycles} cycles per inference = "
          f"{program.compute_duration_per_inference_us():.3f} us at "
          f"{program.config.clock_mhz:g} MHz; {n} back to back: "
          f"{(n - 1) * program.interval_cycles_per_inference() + cycles} cycles")
    if ns.output:
        try:
            if len(ys) == 1:
                np.save(ns.output, ys[0])
            else:
                np.savez(ns.output, *ys)
        except OSError as e:
            raise UsageError(f"-o {ns.output}: cannot write: {e}") from e
        print(f"saved {ns.output}")
    else:
        with np.printoptions(threshold=20, edgeitems=3, precision=5):
            for v in ys:
                print(v)
    return 0
