"""`rill report PROGRAM [--rtl] [--out DIR]`: where the cycles of one inference go.

Writes DIR/index.html (tables and the picture), DIR/latency.png (or .svg with --svg) and
DIR/report.json (the same numbers), and prints the tables: the critical path of one inference
broken down by model op, every core's matrix and vector slot utilisation, the MAC array's
utilisation (MACs issued / (cores x cycles)) against the throughput and latency bounds, for a
program from the optimal scheduler the floor CP-SAT proved for its dataflow graph, and with
--rtl the cycles the RTL measured (rill.cosim.run) next to the predicted ones.

An app-layer tool: it reads the VM's decode of the program (rill.vm) and, with --rtl, runs the
cosim; matplotlib is imported only to draw.

exit status: 0 report written (with --rtl: and the RTL matched the VM, bits and cycles);
1 the RTL differed from the VM; 2 bad input (unreadable program, bad arguments).
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

import numpy as np

from .analysis import Report, analyse, table

__all__ = ["Report", "analyse", "table", "write_report", "main"]


def measure_rtl(program, rep: Report, inferences: int = 3, seed: int = 0) -> None:
    """Run `inferences` random inputs on the RTL; fill rep.measured and rep.rtl_ok."""
    from ..cosim.run import run

    rng = np.random.default_rng(seed)
    shape = program.input_shape
    multi = isinstance(shape, tuple) and all(isinstance(s, (tuple, list)) for s in shape)

    def one():  # a model input (a tuple of them for a program of several inputs)
        if multi:
            return tuple(rng.standard_normal(s).astype(np.float32) for s in shape)
        return rng.standard_normal(shape).astype(np.float32)

    beats = [program.input_beats(one()) for _ in range(inferences)]
    res = run(program, beats, beats=True, check=False, name=f"report-{program.name}")
    rep.measured = list(res.cycles_per_inference)
    rep.rtl_ok = res.ok and set(res.cycles_per_inference) == {rep.cycles}


def _html_table(head: list[str], rows: list[list]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def to_html(rep: Report, image: str) -> str:
    path_rows = [[r.label, r.op, r.source, r.cycles, f"{r.cycles / rep.cycles:.1%}", r.latency,
                  r.wait, r.ops] for r in rep.by_op]
    path_rows.append(["total", "", "", rep.cycles, "100%", rep.latency_bound,
                      rep.cycles - rep.latency_bound, len(rep.path)])
    unit_rows = [[c, u["matrix"], f"{u['matrix'] / rep.cycles:.1%}", u["vector"],
                  f"{u['vector'] / rep.cycles:.1%}"] for c, u in enumerate(rep.unit_ops)]
    mac_rows = [
        ["issued", rep.cycles, rep.macs, f"{rep.mac_util:.1%}"],
        [f"throughput bound (busiest core: {rep.busiest_macs} MACs back to back)",
         rep.throughput_bound, rep.macs, f"{rep.util_at(rep.throughput_bound):.1%}"],
        ["latency bound (critical path without waits)", rep.latency_bound, rep.macs,
         f"{rep.util_at(rep.latency_bound):.1%}"],
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rill report: {html.escape(rep.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:80em;margin:1em auto}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{html.escape(rep.name)} on {html.escape(rep.config)}</h1>",
        f"<p>{rep.cycles} cycles per inference ({rep.us:.3f} µs at {rep.clock_mhz:g} MHz); "
        f"{rep.cores} cores, {rep.length} bundles per core, {rep.n_in} input beats."
        + ("" if rep.has_provenance else " The program has no provenance table: ops are "
           "labelled by unit.") + "</p>",
        f'<p><img src="{html.escape(image)}" alt="latency chart"></p>',
        "<h2>Critical path by model op</h2>",
        _html_table(["model op", "NNIR op", "source", "cycles", "share", "latency", "wait",
                     "ops"], path_rows),
        "<h2>Issue-slot utilisation</h2>",
        _html_table(["core", "matrix ops", "matrix", "vector ops", "vector"], unit_rows),
        "<h2>MAC array</h2>",
        _html_table(["schedule", "cycles", "MACs", "utilisation (MACs / (cores × cycles))"],
                    mac_rows),
    ]
    if rep.measured is not None:
        parts += ["<h2>RTL</h2>", _html_table(
            ["inference", "measured cycles", "predicted cycles"],
            [[k, m, rep.cycles] for k, m in enumerate(rep.measured)]),
            f"<p>{'bit- and cycle-exact with the VM' if rep.rtl_ok else 'MISMATCH'}</p>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(program, out: str | Path, rtl: bool = False, svg: bool = False,
                 inferences: int = 3) -> Report:
    """Analyse `program`, write DIR/index.html, the picture and report.json; return the
    Report (its `table()` is the terminal view)."""
    from .charts import render

    out = Path(out)
    vm = program.to_vm()
    rep = analyse(program, vm)
    if rtl:
        measure_rtl(program, rep, inferences)
    image = f"latency.{'svg' if svg else 'png'}"
    out.mkdir(parents=True, exist_ok=True)
    render(rep, vm, out / image)
    (out / "index.html").write_text(to_html(rep, image), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(rep.to_json(), indent=1) + "\n")
    return rep


def main(argv: list[str] | None = None) -> int:
    from ..compile.program import Program
    from ..errors import RillError

    ap = argparse.ArgumentParser(prog="rill report", description=__doc__.splitlines()[0],
                                 epilog=__doc__[__doc__.index("exit status"):])
    ap.add_argument("program", help="a saved rill program (Program.save)")
    ap.add_argument("--out", default="build/report", help="directory (default build/report)")
    ap.add_argument("--rtl", action="store_true", help="also run it on the RTL (Verilator) "
                    "and show the measured cycles")
    ap.add_argument("--inferences", type=int, default=3, help="RTL inferences (random inputs)")
    ap.add_argument("--svg", action="store_true", help="draw an SVG instead of a PNG")
    ap.add_argument("--model", type=int, default=0, metavar="K",
                    help="model K of a program of several models (default 0)")
    ns = ap.parse_args(argv)
    if ns.inferences < 1:
        ap.error("--inferences must be >= 1")
    program = Program.load(ns.program)  # a RillError: the CLI prints it, exit status 2
    if program.num_models() > 1 or ns.model:  # one model's segment, with its provenance
        n = program.num_models()
        program = program.model(ns.model)
        print(f"model {ns.model} ({program.name!r}) of {n}"
              + (": --model K for another" if n > 1 else ""))
    try:
        rep = write_report(program, ns.out, rtl=ns.rtl, svg=ns.svg, inferences=ns.inferences)
    except OSError as e:
        raise RillError(f"cannot write the report into {ns.out}: {e}") from e
    print(table(rep))
    print(f"\nreport: {Path(ns.out) / 'index.html'}")
    return 0 if not ns.rtl or rep.rtl_ok else 1
