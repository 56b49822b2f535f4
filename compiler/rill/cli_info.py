"""`rill info PROGRAM [--json]`: what a saved program takes, gives, costs and uses.

Prints the config, the model's input and output shapes, the streaming dimension, the cycles
per inference (spaced: one inference alone in the pipeline) and the back-to-back interval,
both in µs at the config's clock, and the metrics (`Program.metrics()`): memory used vs
available and op counts, per core. --json prints the same as one JSON object.

exit status: 0 ok; 2 usage or input error (an unreadable or corrupt program); 3 internal error
(traceback with `rill --debug` or RILL_DEBUG=1).
"""

from __future__ import annotations

import argparse
import json

from .cli_common import describe_config, fmt_shape, preset_name_of


def _parser() -> argparse.ArgumentParser:
    doc = __doc__
    ap = argparse.ArgumentParser(prog="rill info", description=doc.split("\n\n")[1],
                                 epilog=doc[doc.index("exit status"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--debug", action="store_true",
                    help="on an internal error, print the traceback (or RILL_DEBUG=1)")
    ap.add_argument("program", help="a saved rill program (rill compile, Program.save)")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    return ap


def _shape_json(shape):
    return [_shape_json(s) for s in shape] if shape and isinstance(
        shape[0], (tuple, list)) else [int(d) for d in shape]


def info(program) -> dict:
    """Everything `rill info` prints, as a JSON-able dict."""
    c = program.config
    cycles = program.cycle_count_per_inference()
    interval = program.interval_cycles_per_inference()
    return {
        "name": program.name,
        "num_models": program.num_models(),
        "config": c.to_dict(),
        "preset": preset_name_of(c),
        "input_shape": _shape_json(program.model_input_shape()),
        "output_shape": _shape_json(program.model_output_shape()),
        "streaming_dim": program.model_input_streaming_dim(),
        "cycles_per_inference": cycles,
        "interval_cycles": interval,
        "us_per_inference": cycles / c.clock_mhz,
        "interval_us": interval / c.clock_mhz,
        "clock_mhz": c.clock_mhz,
        "metrics": program.metrics(),
    }


def _used(d: dict) -> str:
    return f"{d['used']}/{d['available']}"


def format_info(d: dict, config) -> str:
    m = d["metrics"]
    sd = d["streaming_dim"]
    lines = [
        f"program {d['name']!r} ({d['num_models']} model{'s' if d['num_models'] > 1 else ''}) "
        f"on {describe_config(config)}" + (": model 0 below" if d["num_models"] > 1 else ""),
        f"  input  {fmt_shape(d['input_shape'])}"
        + ("" if sd is None else f"   streaming: one element of the model input's axis {sd} "
           f"per inference, state kept between inferences"),
        f"  output {fmt_shape(d['output_shape'])}",
        f"  cycles per inference: {d['cycles_per_inference']} spaced = "
        f"{d['us_per_inference']:.3f} us at {d['clock_mhz']:g} MHz; back to back every "
        f"{d['interval_cycles']} cycles = {d['interval_us']:.3f} us",
        f"  instructions {_used(m['instr_memory'])} bundles per core; constants "
        f"{_used(m['constants'])}; input beats {m['input_beats']}, output beats "
        f"{m['output_beats']}; {m['mac_ops']} MAC ops, {m['vector_ops']} vector ops",
        "",
    ]
    if d["num_models"] > 1:
        for e in m["models"]:
            lines.insert(-1, f"  model {e['index']} {e['name']!r}: input "
                         f"{fmt_shape(e['input_shape'])}, output {fmt_shape(e['output_shape'])}"
                         f", {e['cycles_per_inference']} cycles (interval "
                         f"{e['interval_cycles_per_inference']}), cores {e['cores']}, "
                         f"bundles {e['instr_base']}..{e['instr_base'] + e['program_length'] - 1}"
                         f", registers {e['registers'][0]}..{e['registers'][1] - 1}")
    head = ("core", "weight blocks", "issuing bundles", "MAC ops", "vector ops",
            "matrix regs", "vector regs")
    rows = [head] + [(str(pc["core"]), _used(pc["weight_blocks"]),
                      f"{pc['instructions']['issuing']}/{pc['instructions']['used']}",
                      str(pc["mac_ops"]), str(pc["vector_ops"]),
                      _used(pc["registers"]["matrix_bank"]),
                      _used(pc["registers"]["vector_bank"])) for pc in m["per_core"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  " + "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from .compile.program import Program

    ns = _parser().parse_args(argv)
    program = Program.load(ns.program)
    d = info(program)
    if ns.json:
        print(json.dumps(d, indent=2))
    else:
        print(format_info(d, program.config))
    return 0
