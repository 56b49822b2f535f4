"""`python -m rill cosim PROGRAM INPUTS.npy`: run a saved program on the RTL, compare with the VM.

INPUTS.npy is a stack of inferences along axis 0 (each one shaped like the program's input, or
with --beats raw [n_in, B] uint16 input beats). Prints the bit-exact verdict and the measured
cycles per inference; exit status 0 only when every output bit and cycle count matches.
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from ..compile.program import Program
    from ..errors import RillError
    from .run import CosimMismatchError, run

    ap = argparse.ArgumentParser(prog="rill cosim", description=__doc__.splitlines()[0])
    ap.add_argument("program", help="a saved rill program (Program.save)")
    ap.add_argument("inputs", help=".npy stack of inferences along axis 0")
    ap.add_argument("--beats", action="store_true", help="inputs are raw input beats")
    ap.add_argument("--waves", action="store_true", help="dump an FST waveform")
    ap.add_argument("--load", choices=["backdoor", "port"], default="backdoor",
                    help="preload memories by $readmemh (default) or through the load port")
    ap.add_argument("--reset-at", type=int, action="append", default=[], metavar="K",
                    help="clear the accelerator (and reset the VM) before inference K")
    ns = ap.parse_args(argv)

    try:
        program = Program.load(ns.program)
        xs = np.load(ns.inputs)
    except (RillError, OSError, ValueError) as e:
        print(f"rill cosim: {e}")
        return 2
    inputs = [xs[k] for k in range(xs.shape[0])]
    try:
        res = run(program, inputs, waves=ns.waves, resets=ns.reset_at, load=ns.load,
                  beats=ns.beats, check=False)
    except CosimMismatchError as e:
        print(f"FAIL: {e}")
        return 1
    exp = res.expected_cycles
    print(f"program {program.name}: {len(inputs)} inferences on {program.config}")
    print(f"cycles per inference: RTL {sorted(set(res.cycles_per_inference))}, program {exp}")
    print(f"simulated {res.sim_cycles} cycles in {res.sim_seconds:.1f} s "
          f"(build {res.build_seconds:.1f} s)")
    if res.waves:
        print(f"waves: {res.waves}")
    if res.ok:
        print(f"PASS: bit-exact with the VM ({len(inputs) * program.n_out} output beats), "
              f"cycle-exact ({exp} cycles per inference)")
        return 0
    from .run import _format_mismatches

    print(f"FAIL: {len(res.mismatches)} element mismatches, {len(res.errors)} other errors "
          f"(run dir {res.run_dir})")
    if res.mismatches:
        print(_format_mismatches(res.mismatches))
    for e in res.errors[:10]:
        print(f"  {e}")
    return 1
