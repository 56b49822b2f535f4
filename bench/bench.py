"""`make bench`: compile time, VM speed, cycles and accuracy for the reference models.

Prints a markdown table, with the commercial tool's cycle counts on the same array beside ours
and the machine's load average (timings from a loaded machine swing by several times).
"cycles" is the latency of one inference alone in the pipeline, "interval" the cycles between
inferences offered back to back (its inverse is the throughput); programs are compiled with the
optimal scheduler (CP-SAT, `scheduler="optimal"`), and "floor" is the latency below which no
schedule of the model's dataflow graph can go on these units: proven by CP-SAT, or for a graph
too big to search ("deps") the dependency path alone. The RTL columns run each
program on the Verilator model back to back (--no-rtl skips them): both measured there,
bit-exactness against the VM and simulated cycles per second. A second table gives the
Verilator model per config: flat or hierarchical, the C++ it emitted, the seconds its build
took when it was built (recorded in the build's stamp: a cached build shows the time of the
run that built it; "cold" means no compiler cache) and simulated cycles per second over this
run's programs. Besides the presets it builds and runs the small configs c1b8 and c2b16 on a
small streamed LSTM (--no-small skips them).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
import torch

import rill
from rill.compile.optimal import MAX_OPS
from rill.models import CnnNet, GruNet, LstmNet, Mlp, NormLinearGelu, PreNormFfn

COMMERCIAL = {"LSTM streaming": 218, "LSTM 20 steps": 2209, "LSTM x3 streaming": 304,
              "MLP": 182, "CNN streaming": 111,
              "LayerNorm-Linear-GELU": 224, "pre-norm FFN": 281}
EFFORT = 10.0  # the optimal scheduler's: the LSTM x3's 2 cycles need more than the default
VM_PASSES = 5  # VM time is the best of this many passes: the VM, not the machine's noise
SMALL_CONFIGS = ("c1b8", "c2b16")
SIM = {}  # config -> [simulated cycles, simulator wall s, simulator CPU s] over this run


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def case(name, model, x, config, stream, rtl, axis=0):
    gm, expected = rill.fx.prepare_shape(model, x)
    nnir = rill.fx.nnir.to_nnir(gm)
    if stream:
        nnir, _ = nnir.streaming_transform(axis)
    t_compile, program = timed(lambda: nnir.to_program(config, scheduler="optimal",
                                                       effort=EFFORT), 1)
    floor = program.debug.schedule  # what the optimal scheduler proved while compiling
    vm = program.to_vm()
    inputs = ([np.take(x.numpy(), t, axis=axis) for t in range(x.shape[axis])] if stream
              else [x.numpy()])
    t_vm = float("inf")
    for _ in range(VM_PASSES):
        vm.reset()
        t0 = time.perf_counter()
        outs = [vm.run(i) for i in inputs]
        t_vm = min(t_vm, (time.perf_counter() - t0) / len(inputs))
    got = np.stack(outs, axis=axis) if stream else outs[0]
    err = float(np.abs(got - expected.numpy()).max())
    row = {
        "model": name, "config": config_name(config),
        "cycles": program.cycle_count_per_inference(),
        "interval": program.interval_cycles_per_inference(),
        # no schedule of this dataflow graph has its last output sooner (CP-SAT's proof; for
        # graphs too big to search, the dependency path alone: "deps")
        "floor": (f"{floor.floor}" + ("" if floor.proven else " (deps)"
                                      if program.debug.n_ops > MAX_OPS else " (bound)")),
        "commercial (3x64)": COMMERCIAL.get(name, "-") if config_name(config) == "ia_840f_c3b64"
        else "-",
        "us": f"{program.compute_duration_per_inference_us():.3f}",
        "compile s": f"{t_compile:.3f}", f"VM ms/inf (best of {VM_PASSES})": f"{t_vm * 1e3:.2f}",
        "max |err|": f"{err:.1e}",
    }
    if rtl:
        from rill.cosim import run as cosim_run

        accel_build(config)  # first, so that its CPU time is not the simulator's
        cpu0 = children_cpu()
        # back to back: each latency and each interval between inferences measured
        res = cosim_run(program, inputs, back_to_back=True)
        tally(config_name(config), res, children_cpu() - cpu0)
        exact = all(np.array_equal(a.view(np.uint32), b.view(np.uint32))
                    for a, b in zip(res.outputs, outs, strict=True))
        row["RTL cycles"] = "/".join(str(c) for c in sorted(set(res.cycles_per_inference)))
        row["RTL interval"] = "/".join(str(c) for c in sorted(set(res.intervals))) or "-"
        row["bit-exact"] = "yes" if exact else "NO"
        row["sim cycles/s"] = f"{res.sim_cycles / res.sim_seconds:,.0f}"
    return row


def accel_build(config: rill.Config):
    """The Verilator model of `config` (built now unless cached)."""
    import importlib

    return importlib.import_module("rill.cosim.run").build_accel(config)  # the module


def children_cpu() -> float:
    """CPU seconds of finished child processes (the simulator runs as one)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def tally(name: str, res, cpu_s: float) -> None:
    t = SIM.setdefault(name, [0, 0.0, 0.0])
    t[0] += res.sim_cycles
    t[1] += res.sim_seconds
    t[2] += cpu_s


class SmallLstm(torch.nn.Module):
    """LSTM 16 -> 32 and a linear head: fits every config; streamed, ~150 cycles a step."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 32)
        self.fc = torch.nn.Linear(32, 8)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y)


def small_case(name: str, steps: int = 100) -> None:
    """The streamed SmallLstm on config `name` (for the Verilator table only)."""
    from rill.cosim import run as cosim_run

    torch.manual_seed(0)
    x = torch.randn(steps, 16)
    gm, _ = rill.fx.prepare_shape(SmallLstm(), x)
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    program = nnir.to_program(getattr(rill.Config, name)())
    accel_build(program.config)
    cpu0 = children_cpu()
    res = cosim_run(program, [x[t].numpy() for t in range(steps)])
    tally(name, res, children_cpu() - cpu0)


def verilator_rows(names) -> list[dict]:
    """One row per config: its Verilator model (from the build's stamp) and simulation speed."""
    rows = []
    for name in names:
        config = getattr(rill.Config, name)()
        info = accel_build(config).info  # cached: built by the runs above
        hier = info.get("hier_blocks")
        secs = info.get("seconds")
        cache = info.get("objcache")
        cycles, sim_s, cpu_s = SIM.get(name, (0, 0.0, 0.0))
        rows.append({
            "config": name, "lanes": config.num_cores * config.block_size,
            "model": "?" if hier is None else ("hierarchical" if hier else "flat"),
            "C++ MB": info.get("cpp_mb", "?"),
            "build s": "?" if secs is None else
            f"{secs:.0f} ({'cold' if not cache else cache}, cpu {info.get('cpu_seconds', 0):.0f})",
            "sim cycles": f"{cycles:,}",
            "sim cycles/s": f"{cycles / sim_s:,.0f}" if sim_s else "-",
            "per CPU s": f"{cycles / cpu_s:,.0f}" if cpu_s else "-",
        })
    return rows


def print_table(rows: list[dict]) -> None:
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


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
    ap.add_argument("--no-small", action="store_true",
                    help="leave the small configs (c1b8, c2b16) out of the Verilator table")
    args = ap.parse_args()
    torch.manual_seed(0)
    lstm, mlp = LstmNet(), Mlp()
    x_seq, x_mlp = torch.randn(20, 128), torch.randn(784)
    cnn, x_cnn = CnnNet(), torch.randn(1, 32, 20)  # the commercial example-2 CNN, 20 steps
    gru = GruNet()  # the seed LSTM's sizes, 128 -> GRU 256 x 2 -> 16
    nlg, ffn, x_blk = NormLinearGelu().eval(), PreNormFfn().eval(), torch.randn(256)
    # issue 11's second model (made last: the other rows keep their seeded weights and inputs)
    lstm3, x_seq3 = LstmNet(256, 256, 3, 32), torch.randn(20, 256)
    rows = []
    presets = args.config or ["ia_840f_c3b64", "ia_420f_c6b32"]
    for name in presets:
        config = getattr(rill.Config, name)()
        rows.append(case("LSTM streaming", lstm, x_seq, config, True, not args.no_rtl))
        rows.append(case("LSTM 20 steps", lstm, x_seq, config, False, not args.no_rtl))
        rows.append(case("LSTM x3 streaming", lstm3, x_seq3, config, True, not args.no_rtl))
        rows.append(case("GRU streaming", gru, x_seq, config, True, not args.no_rtl))
        rows.append(case("MLP", mlp, x_mlp, config, False, not args.no_rtl))
        rows.append(case("CNN streaming", cnn, x_cnn, config, True, not args.no_rtl, axis=2))
        rows.append(case("LayerNorm-Linear-GELU", nlg, x_blk, config, False, not args.no_rtl))
        rows.append(case("pre-norm FFN", ffn, x_blk, config, False, not args.no_rtl))
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print_table(rows)
    if not args.no_rtl:
        small = [] if args.no_small else list(SMALL_CONFIGS)
        for name in small:
            small_case(name)
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print("\nVerilator model per config (sim cycles/s: simulated cycles over the simulator's "
              "wall time, start-up and image load included; per CPU s: over its CPU time, "
              "which a loaded machine inflates less; small configs: a streamed LSTM "
              "16->32->8, 100 steps):\n")
        print_table(verilator_rows([*presets, *small]))
    print(f"\nload average (1/5/15 min) when the last run finished: {load} on "
          f"{os.cpu_count()} cores (timings are only comparable on a quiet machine: load well "
          "below the core count)")


if __name__ == "__main__":
    main()
