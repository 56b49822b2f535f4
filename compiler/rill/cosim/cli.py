"""`python -m rill cosim PROGRAM INPUTS.npy`: run a saved program on the RTL, compare with the VM.

INPUTS.npy is a stack of inferences along axis 0 (each one shaped like the program's input, or
with --beats raw [n_in, B] uint16 input beats). Prints the bit-exact verdict and the measured
cycles per inference. With --save DIR it only writes the run image into DIR; `python -m
rill.cosim DIR` (`replay_main`) then runs the accelerator bench on it, without pytest.

exit status: 0 every output bit and cycle count matches the VM; 1 RTL-vs-VM mismatch (bits,
cycles, stream protocol, or a simulation that gave no result); 2 bad input (an unreadable or
corrupt program, inputs of the wrong shape or dtype, bad arguments), found before simulating.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _report(ok: bool, cycles: Sequence[int], expected: int, mismatches: Sequence, errors:
            Sequence[str], n_beats: int, run_dir: Path) -> int:
    from .run import format_mismatches

    print(f"cycles per inference: RTL {sorted(set(cycles))}, program {expected}")
    if ok:
        print(f"PASS: bit-exact with the VM ({n_beats} output beats), "
              f"cycle-exact ({expected} cycles per inference)")
        return 0
    print(f"FAIL: {len(mismatches)} element mismatches, {len(errors)} other errors "
          f"(run dir {run_dir})")
    if mismatches:
        print(format_mismatches(mismatches))
    for e in errors[:10]:
        print(f"  {e}")
    return EXIT_MISMATCH


EXIT_MISMATCH, EXIT_BAD_INPUT = 1, 2


def _inferences(program, xs, beats: bool, model: int = 0) -> list[np.ndarray]:
    """The inferences of the stack xs, each checked as the VM takes it, so that bad input is
    told apart (exit 2) from an RTL-vs-VM mismatch (exit 1) before anything is simulated."""
    from ..errors import VMInputError

    if not isinstance(xs, np.ndarray) or xs.ndim == 0 or xs.shape[0] == 0:
        shape = getattr(xs, "shape", type(xs).__name__)
        raise VMInputError(f"inputs: expected an array stacking at least one inference along "
                           f"axis 0, got {shape}")
    entry = program.model_table()[model]
    want = (entry.n_in, program.B)
    for k in range(xs.shape[0]):
        if not beats:
            try:
                program.input_beats(xs[k], model)
            except VMInputError as e:
                raise VMInputError(f"inference {k}: {e}") from e
        elif xs.shape[1:] != want or xs.dtype.kind not in "ui":
            raise VMInputError(f"--beats: inference {k} is {xs.dtype} {xs.shape[1:]}, expected "
                               f"integer input beats of shape {want} (n_in, B)")
    return [xs[k] for k in range(xs.shape[0])]


def main(argv: list[str] | None = None) -> int:
    from ..compile.program import Program
    from ..errors import RillError
    from .run import CosimMismatchError, make_image, run

    ap = argparse.ArgumentParser(prog="rill cosim", description=__doc__.splitlines()[0],
                                 epilog=__doc__[__doc__.index("exit status"):])
    ap.add_argument("program", help="a saved rill program (Program.save)")
    ap.add_argument("inputs", help=".npy stack of inferences along axis 0")
    ap.add_argument("--beats", action="store_true", help="inputs are raw input beats")
    ap.add_argument("--waves", action="store_true", help="dump an FST waveform")
    ap.add_argument("--load", choices=["backdoor", "port"], default="backdoor",
                    help="preload memories by $readmemh (default) or through the load port")
    ap.add_argument("--reset-at", type=int, action="append", default=[], metavar="K",
                    help="clear the accelerator (and reset the VM) before inference K")
    ap.add_argument("--model", type=int, default=0, metavar="K",
                    help="run model K of a program of several models (rill info lists them)")
    ap.add_argument("--save", metavar="DIR", help="only write the run image into DIR (run "
                    "it with `python -m rill.cosim DIR`)")
    ns = ap.parse_args(argv)

    try:
        program = Program.load(ns.program)
        model = program.check_model_index(ns.model)
        inputs = _inferences(program, np.load(ns.inputs), ns.beats, model)
        models = [model] * len(inputs)
        if ns.save:
            make_image(program, inputs, resets=ns.reset_at, beats=ns.beats,
                       load=ns.load, model_indices=models).save(Path(ns.save))
    except (RillError, OSError, ValueError) as e:
        print(f"rill cosim: bad input: {e}")
        return EXIT_BAD_INPUT
    if ns.save:
        print(f"run image written to {ns.save}: run it with `python -m rill.cosim {ns.save}`")
        return 0
    try:
        res = run(program, inputs, waves=ns.waves, resets=ns.reset_at, load=ns.load,
                  beats=ns.beats, check=False, model_indices=models)
    except CosimMismatchError as e:
        print(f"FAIL: {e}")
        return EXIT_MISMATCH
    print(f"program {program.name}: {len(inputs)} inferences on {program.config}")
    print(f"simulated {res.sim_cycles} cycles in {res.sim_seconds:.1f} s "
          f"(build {res.build_seconds:.1f} s)")
    if res.waves:
        print(f"waves: {res.waves}")
    entry = program.model_table()[model]
    code = _report(res.ok, res.cycles_per_inference, program.cycle_count_per_inference(model),
                   res.mismatches, res.errors, len(inputs) * entry.n_out, res.run_dir)
    if not res.ok and res.divergence is not None:  # the first register write that differs
        print(res.divergence)
    elif not res.ok and res.divergence_error:
        print(f"first divergence not found: {res.divergence_error}")
    return code


def replay_main(argv: list[str] | None = None) -> int:
    from .image import RunImage
    from .run import CosimMismatchError, replay

    ap = argparse.ArgumentParser(prog="python -m rill.cosim",
                                 description="run the accelerator bench (tb_accel) on a saved "
                                 "run image, without pytest")
    ap.add_argument("run_dir", help="a directory holding a run image (image.npz)")
    ap.add_argument("--test", default="run_program", choices=["run_program", "load_port"],
                    help="the bench's test: memories preloaded (default) or through the port")
    ap.add_argument("--waves", action="store_true", help="dump an FST waveform")
    ns = ap.parse_args(argv)
    run_dir = Path(ns.run_dir).resolve()
    if not RunImage.exists(run_dir):
        print(f"python -m rill.cosim: no run image in {run_dir}")
        return EXIT_BAD_INPUT
    image = RunImage.load(run_dir)
    p = image.program
    print(f"program {p.name}: {image.n_inferences} inferences on {p.config} ({ns.test})")
    try:
        res = replay(run_dir, ns.test, waves=ns.waves)
    except CosimMismatchError as e:
        print(f"FAIL: {e}")
        return EXIT_MISMATCH
    print(f"simulated {res.sim_cycles} cycles; result in {run_dir}")
    return _report(res.ok, res.cycles, image.expected_cycles, res.mismatches, res.errors,
                   image.n_inferences * p.n_out, run_dir)
