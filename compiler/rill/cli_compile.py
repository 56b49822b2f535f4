"""`rill compile MODEL -o OUT.rill --input-shape 128 [--config PRESET|config.json]
[--streaming-axis N]`: compile a PyTorch model (or an ONNX file) to a saved rill program.

MODEL is `module:factory` (an importable module, looked up from the current directory too),
`path/to/file.py:factory` (a callable returning a torch `nn.Module`, called with no arguments),
or a `.onnx` file (through `rill.NNIR.from_onnx`; --input-shape then fills dynamic axes). The
flow is the library's: prepare_shape on a random input of the given shape, to_nnir,
streaming_transform(N) if asked, to_program(config).

exit status: 0 compiled and saved; 2 usage or input error (bad arguments, an unknown preset, a
model that cannot be imported, run on the given shape, or compiled: the message names it);
3 internal error (traceback with `rill --debug` or RILL_DEBUG=1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .cli_common import (
    UsageError,
    describe_config,
    fmt_shape,
    load_model_factory,
    parse_shape,
    resolve_config,
)


def _parser() -> argparse.ArgumentParser:
    doc = __doc__
    ap = argparse.ArgumentParser(prog="rill compile", description=doc.split("\n\n")[1],
                                 epilog=doc[doc.index("exit status"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--debug", action="store_true",
                    help="on an internal error, print the traceback (or RILL_DEBUG=1)")
    ap.add_argument("model", help="module:factory, path/to/file.py:factory, or model.onnx")
    ap.add_argument("-o", "--output", required=True, metavar="OUT.rill",
                    help="where to save the program")
    ap.add_argument("--input-shape", action="append", nargs="+", metavar="DIM",
                    help="the model input's shape, e.g. 128 or 20 128 or 1,32,5; repeat the "
                    "option for each input of a multi-input model (required for a torch model; "
                    "for ONNX, where the file's shape is dynamic: in input order, or NAME=DIMS)")
    ap.add_argument("--config", metavar="PRESET|config.json", default=None,
                    help="a Config preset (see `rill presets`) or a Config JSON file "
                    "(default: bittware_ia840f_c3b64)")
    ap.add_argument("--streaming-axis", type=int, default=None, metavar="N",
                    help="stream along input axis N: one element per inference, state kept "
                    "on chip between inferences")
    ap.add_argument("--name", default=None, help="the program's name (default: the factory's)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random tracing input")
    ap.add_argument("--scheduler", choices=("list", "optimal"), default="list",
                    help="list: the greedy list scheduler (default, milliseconds); optimal: "
                    "search for a faster schedule with CP-SAT (seconds, needs OR-Tools), "
                    "keeping the list schedule when none is faster")
    return ap


def _nnir_from_torch(spec: str, shapes: list[tuple[int, ...]], seed: int):
    factory = load_model_factory(spec)  # before torch: a bad name fails fast
    import torch

    import rill

    try:
        model = factory()
    except Exception as e:  # the user's code
        raise UsageError(f"model {spec!r}: calling the factory failed: "
                         f"{type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"model {spec!r}: the factory returned {type(model).__name__}, not a "
                         f"torch.nn.Module")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(s, generator=gen) for s in shapes]
    try:
        with torch.no_grad():
            model(*inputs)
    except Exception as e:  # wrong --input-shape (or a broken model): the user's input
        raise UsageError(f"model {spec!r} fails on input shape "
                         f"{', '.join(fmt_shape(s) for s in shapes)}: {type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}") from e
    gm, _ = rill.fx.prepare_shape(model, *inputs)
    return rill.fx.nnir.to_nnir(gm)


def _onnx_input_names(path: str) -> list[str]:
    import onnx

    try:
        model = onnx.load(path)
    except Exception as e:  # protobuf's and onnx's own errors: not an ONNX file
        raise UsageError(f"model {path}: not an ONNX model ({type(e).__name__}: {e})") from None
    inits = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def _nnir_from_onnx(path: str, raw_shapes: list[list[str]] | None):
    import rill

    from_onnx = getattr(rill.NNIR, "from_onnx", None)
    if from_onnx is None:
        raise UsageError(f"model {path}: ONNX import (rill.NNIR.from_onnx) is not in this rill "
                         f"yet; give a torch model as module:factory")
    if not Path(path).is_file():
        raise UsageError(f"model {path}: no such file")
    if not raw_shapes:
        return from_onnx(path)
    named = [v[0].split("=", 1) if "=" in v[0] else None for v in raw_shapes]
    if all(named):  # --input-shape NAME=20,128 [...]
        overrides = {n[0]: parse_shape([n[1], *v[1:]]) for n, v in zip(named, raw_shapes,
                                                                       strict=True)}
    elif any(named):
        raise UsageError("--input-shape: name every ONNX input (NAME=DIMS) or none")
    else:  # in the order of the file's inputs
        names = _onnx_input_names(path)
        if len(names) != len(raw_shapes):
            raise UsageError(f"model {path} has {len(names)} input(s) ({', '.join(names)}); "
                             f"--input-shape was given {len(raw_shapes)} time(s)")
        overrides = {n: parse_shape(v) for n, v in zip(names, raw_shapes, strict=True)}
    return from_onnx(path, override_input_shapes=overrides)


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    config = resolve_config(ns.config)  # an unknown preset fails before torch is imported
    out = Path(ns.output)
    if not out.parent.is_dir():
        raise UsageError(f"-o {ns.output}: directory {out.parent} does not exist")
    if ns.model.endswith(".onnx"):
        nnir = _nnir_from_onnx(ns.model, ns.input_shape)
        name = ns.name or Path(ns.model).stem
    else:
        shapes = [parse_shape(v) for v in ns.input_shape] if ns.input_shape else None
        if not shapes:
            raise UsageError("--input-shape is required for a torch model (e.g. "
                             "--input-shape 128, or 20 128 for a sequence of 20)")
        nnir = _nnir_from_torch(ns.model, shapes, ns.seed)
        name = ns.name or ns.model.rsplit(":", 1)[1]
    t0 = time.perf_counter()
    out_axis = None
    if ns.streaming_axis is not None:
        nnir, out_axis = nnir.streaming_transform(ns.streaming_axis)
    program = nnir.to_program(config, name=name, scheduler=ns.scheduler)
    seconds = time.perf_counter() - t0
    program.save(out)
    cycles = program.cycle_count_per_inference()
    print(f"compiled {ns.model} in {seconds * 1e3:.0f} ms (to_program) for "
          f"{describe_config(config)}")
    stream = ("" if ns.streaming_axis is None else
              f", streaming axis {ns.streaming_axis} (output axis {out_axis})")
    print(f"  input {fmt_shape(program.model_input_shape())} -> output "
          f"{fmt_shape(program.model_output_shape())}{stream}")
    print(f"  {cycles} cycles per inference = "
          f"{program.compute_duration_per_inference_us():.3f} us at {config.clock_mhz:g} MHz; "
          f"back to back every {program.interval_cycles_per_inference()} cycles")
    print(f"saved {out}")
    return 0
