"""`make run`: the seed LSTM compiled for ia_840f_c3b64, run on the VM and on the RTL."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import rill
from rill.models import LstmNet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rill demo")
    ap.add_argument("--config", default="ia_840f_c3b64", help="Config preset name")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-rtl", action="store_true", help="VM only")
    args = ap.parse_args(argv or [])
    presets = sorted(n for n, v in vars(rill.Config).items()
                     if isinstance(v, classmethod) and n not in ("from_dict", "load"))
    if args.config not in presets:
        print(f"rill demo: error: --config {args.config!r} is not a Config preset; presets: "
              f"{', '.join(presets)}", file=sys.stderr)
        return 2
    if args.steps < 1:
        print(f"rill demo: error: --steps {args.steps}: must be at least 1", file=sys.stderr)
        return 2
    config = getattr(rill.Config, args.config)()

    torch.manual_seed(0)
    model = LstmNet()
    x = torch.randn(args.steps, 128)
    gm, expected = rill.fx.prepare_shape(model, x)
    t0 = time.perf_counter()
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(config)
    t_compile = time.perf_counter() - t0
    print(f"seed LSTM 128->256x2->16, streaming, {args.steps} steps, on {args.config} "
          f"({config.num_cores} cores x {config.block_size}, {config.clock_mhz:g} MHz)")
    print(f"  compiled in {t_compile * 1e3:.0f} ms: {program.length} bundles per core, "
          f"{sum(w.shape[0] for w in program.weights)} weight blocks")

    vm = program.to_vm()
    steps = [x[t].numpy() for t in range(args.steps)]
    vm_beats = [vm.run_beats(program.input_beats(s)) for s in steps]
    vm_out = np.stack([program.output_from_beats(b) for b in vm_beats])
    err = float(np.abs(vm_out - expected.numpy()).max())
    cycles = program.cycle_count_per_inference()
    print(f"  VM:  max |error| vs torch float32 = {err:.2e}; "
          f"{cycles} cycles per inference = {program.compute_duration_per_inference_us():.3f} us")
    if args.no_rtl:
        return 0

    from rill.cosim import run as cosim_run

    print("  RTL: running on Verilator (the first run for a config builds the model: "
          "about a minute at 3 x 64 on two cores; cached under build/ after that) ...", flush=True)
    t0 = time.perf_counter()
    res = cosim_run(program, steps)
    wall = time.perf_counter() - t0
    exact = all(np.array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))
                for a, b in zip(res.outputs, vm_out, strict=True))
    rtl_cycles = sorted(set(res.cycles_per_inference))
    print(f"  RTL: {args.steps} inferences in {wall:.1f} s (Verilator, incl. build if needed); "
          f"cycles per inference {rtl_cycles}")
    print(f"bit-exact: {'yes' if exact else 'no'}")
    print(f"cycle-exact: {'yes' if rtl_cycles == [cycles] else 'no'} "
          f"(VM {cycles}, RTL {rtl_cycles})")
    print(f"latency: {cycles} cycles = {cycles / config.clock_mhz:.3f} us at "
          f"{config.clock_mhz:g} MHz")
    return 0 if exact and rtl_cycles == [cycles] else 1
