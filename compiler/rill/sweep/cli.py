"""`rill sweep`: a grid of configs x models on Dask -> cycles, fit, resources, Fmax, µs.

    rill sweep --cores 1,2,3 --block 16,32,64 --weight-depth 512,1024 --models lstm,mlp
    rill sweep --grid grid.json --models lstm,nets:tcn --input-shape 20,64 --streaming-axis 0
    rill sweep --cores 1,2 --block 8,16 --models mlp --scheduler tcp://head:8786 --rtl-sample 2

Each point is compiled on a worker (a LocalCluster of --workers processes by default, or the
cluster at --scheduler): cycles per inference and interval from the compiled program, or
"does not fit" with the compiler's typed error; LUT/FF/DSP/BRAM and Fmax from the resource
model (rill.hw.resources, calibrated on `rill synth`); µs at that Fmax and at the config's
nominal clock. --rtl-sample N runs N points on the Verilator model too and checks its cycles
equal the VM's. Writes OUT/sweep.csv (and sweep.parquet with pyarrow), OUT/sweep.html with
plots, OUT/sweep.png, and prints a table.

exit status: 0 done; 1 an RTL sample's cycles differ from the VM's; 2 usage or input error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..cli_common import UsageError, parse_shape
from ..errors import ConfigError


def _ints(s: str) -> list[int]:
    try:
        return [int(x) for x in s.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: expected integers separated by commas") from None


def _floats(s: str) -> list[float]:
    try:
        return [float(x) for x in s.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: expected numbers separated by commas") from None


def parser() -> argparse.ArgumentParser:
    doc = __doc__
    ap = argparse.ArgumentParser(prog="rill sweep",
                                 description="\n\n".join(doc.split("\n\n")[:2]),
                                 epilog=doc[doc.index("Each point"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("the grid (a product of the axes given; the others take "
                              "bittware_ia840f_c3b64's values)")
    g.add_argument("--cores", type=_ints, help="num_cores values, e.g. 1,2,3")
    g.add_argument("--block", type=_ints, help="block_size values, e.g. 16,32,64")
    g.add_argument("--weight-depth", type=_ints, help="weight_depth values (blocks per core)")
    g.add_argument("--rf-depth", type=_ints, help="rf_depth values (words per bank)")
    g.add_argument("--instr-depth", type=_ints, help="instr_depth values")
    g.add_argument("--clock", type=_floats, help="clock_mhz values (the nominal clock)")
    g.add_argument("--grid", metavar="GRID.json",
                   help="axes as JSON ({\"num_cores\": [1, 2], ...}) or a list of configs or "
                        "preset names; instead of the options above")
    m = ap.add_argument_group("models")
    m.add_argument("--models", default="lstm,mlp",
                   help="comma-separated: built-in (lstm, lstm20, gru, mlp, cnn, nlg, ffn) or "
                        "module:factory / file.py:factory (default lstm,mlp)")
    m.add_argument("--input-shape", nargs="+", metavar="DIM",
                   help="input shape of the module:factory models, e.g. 20,128")
    m.add_argument("--streaming-axis", type=int, default=None,
                   help="stream the module:factory models along this axis")
    m.add_argument("--seed", type=int, default=0, help="weights and sample inputs")
    r = ap.add_argument_group("where it runs")
    r.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="a running Dask scheduler (default: a LocalCluster)")
    r.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    r.add_argument("--rtl-sample", type=int, default=0, metavar="N",
                   help="run N of the fitting points on the Verilator model too")
    r.add_argument("-o", "--out", default=None,
                   help="output directory (default build/sweep/<date-time>)")
    r.add_argument("--quiet", action="store_true", help="no progress and no table")
    return ap


def configs_from(ns: argparse.Namespace):
    from .core import grid, load_grid

    axes = {"num_cores": ns.cores, "block_size": ns.block, "weight_depth": ns.weight_depth,
            "rf_depth": ns.rf_depth, "instr_depth": ns.instr_depth, "clock_mhz": ns.clock}
    axes = {k: v for k, v in axes.items() if v}
    if ns.grid:
        if axes:
            raise UsageError("give the grid as --grid or as axis options, not both")
        return load_grid(ns.grid)
    if not axes:
        raise UsageError("no grid: give --cores/--block/... or --grid GRID.json")
    return grid(axes)


def main(argv: list[str] | None = None) -> int:
    ns = parser().parse_args(sys.argv[1:] if argv is None else argv)
    from . import core, models, report

    try:
        configs = configs_from(ns)
    except ConfigError as e:
        raise UsageError(str(e)) from e
    specs = [s for s in ns.models.split(",") if s]
    shape = parse_shape(ns.input_shape) if ns.input_shape else None
    out = Path(ns.out or Path("build") / "sweep" / time.strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if ns.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    built = {}
    for s in specs:
        say(f"rill sweep: building {s} ...")
        mod = models.build(s, shape, ns.streaming_axis, ns.seed)
        built[mod.name] = mod
    t1 = time.monotonic()
    rtl_sample = ns.rtl_sample
    say(f"rill sweep: {len(configs)} configs x {len(built)} models = "
        f"{len(configs) * len(built)} points on "
        f"{ns.scheduler or f'a LocalCluster of {ns.workers} workers'} -> {out}")
    rows = core.run(configs, built, workdir=out, scheduler=ns.scheduler, workers=ns.workers,
                    rtl_sample=rtl_sample, progress=False if ns.quiet else None)
    t2 = time.monotonic()
    csv_path = report.write_csv(rows, out / "sweep.csv")
    pq = report.write_parquet(rows, out / "sweep.parquet")
    notes = [f"{len(configs)} configs x {len(built)} models; models built in {t1 - t0:.1f} s, "
             f"points evaluated in {t2 - t1:.1f} s on "
             f"{ns.scheduler or f'a LocalCluster of {ns.workers} workers'}.",
             "Resources and Fmax: rill.hw.resources (per-unit synthesis, Xilinx 7-series "
             "mapping; Fmax: ECP5 post-route of the slowest unit). docs/codesign.md says how "
             "well the model predicts a whole config."]
    report.write_html(rows, out / "sweep.html", "rill sweep", notes)
    report.png(rows, out / "sweep.png")
    if not ns.quiet:
        print(report.table(rows))
        print(f"\n{len(rows)} points in {t2 - t1:.1f} s (+ {t1 - t0:.1f} s building models); "
              f"{csv_path}{', ' + str(pq) if pq else ''}, {out / 'sweep.html'}")
    bad = [r for r in rows if r.get("rtl_equal") is False]
    for r in bad:
        print(f"rill sweep: RTL cycles {r['rtl_cycles']} (interval {r['rtl_interval']}) != VM "
              f"{r['cycles']} ({r['interval']}) for {r['model']} on {r['config']}: "
              f"{r.get('rtl_error', '')}", file=sys.stderr)
    return 1 if bad else 0
