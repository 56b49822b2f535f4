"""`make bench`: compile time, VM speed, cycles and accuracy for the reference models.

Prints a markdown table, with the commercial tool's cycle counts on the same array beside ours
and the machine's load average (timings from a loaded machine swing by several times).
The RTL columns run each program on the Verilator model (--no-rtl skips them): cycles measured
there, bit-exactness against the VM, build time and simulated cycles per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

import rill
from rill.models import LstmNet, Mlp

COMMERCIAL = {"LSTM streaming": 218, "LSTM 20 steps": 2209, "MLP": 182}
VM_PASSES = 5  # VM time is the best of this many passes: the VM, not the machine's noise


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def case(name, model, x, config, stream, rtl):
    gm, expected = rill.fx.prepare_shape(model, x)
    nnir = rill.fx.nnir.to_nnir(gm)
    if stream:
        nnir, _ = nnir.streaming_transform(0)
    t_compile, program = timed(lambda: nnir.to_program(config), 5)
    vm = program.to_vm()
    inputs = [x[t].numpy() for t in range(x.shape[0])] if stream else [x.numpy()]
    t_vm = float("inf")
    for _ in range(VM_PASSES):
        vm.reset()
        t0 = time.perf_counter()
        outs = [vm.run(i) for i in inputs]
        t_vm = min(t_vm, (time.perf_counter() - t0) / len(inputs))
    got = np.stack(outs) if stream else outs[0]
    err = float(np.abs(got - expected.numpy()).max())
    row = {
        "model": name, "config": config_name(config),
        "cycles": program.cycle_count_per_inference(),
        "commercial (3x64)": COMMERCIAL.get(name, "-") if config_name(config) == "ia_840f_c3b64"
        else "-",
        "us": f"{program.compute_duration_per_inference_us():.3f}",
        "compile s": f"{t_compile:.3f}", f"VM ms/inf (best of {VM_PASSES})": f"{t_vm * 1e3:.2f}",
        "max |err|": f"{err:.1e}",
    }
    if rtl:
        from rill.cosim import run as cosim_run

        res = cosim_run(program, inputs)
        exact = all(np.array_equal(a.view(np.uint32), b.view(np.uint32))
                    for a, b in zip(res.outputs, outs, strict=True))
        row["RTL cycles"] = "/".join(str(c) for c in sorted(set(res.cycles_per_inference)))
        row["bit-exact"] = "yes" if exact else "NO"
        row["Verilator build s"] = f"{res.build_seconds:.0f}"
        row["sim cycles/s"] = f"{res.sim_cycles / res.sim_seconds:,.0f}"
    return row


def config_name(c: rill.Config) -> str:
    for name in ("ia_840f_c3b64", "ia_420f_c6b32"):
        if getattr(rill.Config, name)() == c:
            return name
    return f"c{c.num_cores}b{c.block_size}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-rtl", action="store_true", help="skip the RTL (Verilator) columns")
    ap.add_argument("--config", action="append", choices=["ia_840f_c3b64", "ia_420f_c6b32"],
                    help="preset(s) to run (default: both)")
    args = ap.parse_args()
    torch.manual_seed(0)
    lstm, mlp = LstmNet(), Mlp()
    x_seq, x_mlp = torch.randn(20, 128), torch.randn(784)
    rows = []
    for name in args.config or ["ia_840f_c3b64", "ia_420f_c6b32"]:
        config = getattr(rill.Config, name)()
        rows.append(case("LSTM streaming", lstm, x_seq, config, True, not args.no_rtl))
        rows.append(case("LSTM 20 steps", lstm, x_seq, config, False, not args.no_rtl))
        rows.append(case("MLP", mlp, x_mlp, config, False, not args.no_rtl))
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print(f"\nload average (1/5/15 min) when the last preset finished: {load} on "
          f"{os.cpu_count()} cores (timings are only comparable on a quiet machine: load well "
          "below the core count)")


if __name__ == "__main__":
    main()
