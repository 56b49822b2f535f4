"""VM trace: one record per issued op of an inference, and `rill trace PROGRAM INPUTS.npy`.

    vm.run(x, trace="run.jsonl")            # JSON Lines (a ".txt" path: the text view)
    vm.run(x, trace=lambda rec: ...)        # a callback, one dict per issued op
    vm.run_timesteps(xs, trace="seq.jsonl") # one file for the whole sequence
    with Tracer("run.txt", lanes=8) as t:   # one sink over several runs
        vm.run(x0, trace=t); vm.run(x1, trace=t)

A record (issue order: cycle, core, matrix slot before vector slot):
  inference   runs traced by this sink so far (run_timesteps: the time step)
  cycle       issue cycle, the pc (docs/isa.md); t = n_in + cycle, from the first input beat
  write_cycle the edge its result is written (cycle + latency - 1); null for OUT
  core, slot  "matrix" | "vector";  op: MAC, MACC, ADD, ..., OUT
  srcs        [{bank, idx, cycle}]: registers read and the cycle each is read (MACC's acc late;
              it sees a matrix result, and a vector operand an ADD/SUB result, a cycle before
              its write_cycle: the forwards, docs/isa.md)
  dst         {bank, idx} written, or {"out_beat": k} for OUT
  weight      the weight block (index in this core's weight memory), matrix ops only
  value       every lane written, fp32 bits as 8 hex digits (OUT: the beat's bf16 << 16)
  df_op, node, detail, nnir_op, source   provenance from Program.debug (null without one)

The VM runs as usual (its fast path) and the trace reads every op's result from the VM's
version array afterwards, so a run without `trace` pays nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import VMInputError
from ..hw import isa
from ..hw.numerics import f32_to_bf16_bits

_OPNAME = {"mac": "MAC", "macc": "MACC", "out": "OUT"}


def _static(vm) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Per VM, once: the fixed fields of each op's record in issue order, the V row each
    value comes from, and which of them are OUT beats (bf16)."""
    cached = getattr(vm, "_trace_static", None)
    if cached is not None:
        return cached
    p, c = vm.program, vm.program.config
    base = np.cumsum([0] + [w.shape[0] for w in p.weights])
    dbg = p.debug
    order = sorted(range(len(vm.events)), key=lambda i: (
        vm.events[i].cycle, vm.events[i].core, vm.events[i].kind not in ("mac", "macc")))
    beat = {ev_i: k for k, ev_i in enumerate(vm.out_events)}
    recs, rows, is_out = [], [], []
    for i in order:
        ev = vm.events[i]
        matrix = ev.kind in ("mac", "macc")
        rec = {"cycle": ev.cycle, "t": p.n_in + ev.cycle,
               "write_cycle": ev.write[1] if ev.write else None, "core": ev.core,
               "slot": "matrix" if matrix else "vector", "op": _OPNAME.get(ev.kind, ev.kind),
               "srcs": [dict(zip(("bank", "idx"), isa.split_addr(a, c), strict=True), cycle=r)
                        for a, r in ev.reads]}
        if ev.write is not None:
            rec["dst"] = dict(zip(("bank", "idx"), isa.split_addr(ev.write[0], c), strict=True))
            rows.append(vm.version_row[i])
        else:
            rec["dst"] = {"out_beat": beat[i]}
            rec["write_cycle"] = None
            rows.append(vm.version_row[ev.srcs[0]])
        if matrix:
            rec["weight"] = int(ev.wslot - base[ev.core])
            rec["x_relu"] = ev.relu  # m_relu: x is RELU(bf16(rf[m_x]))
        info = dbg.node_at(ev.core, ev.cycle, 0 if matrix else 1) if dbg is not None else None
        rec["df_op"] = dbg.op_at(ev.core, ev.cycle, 0 if matrix else 1) if dbg else None
        rec["node"] = info.name if info else None
        rec["detail"] = info.detail if info else None
        rec["nnir_op"] = info.op if info else None
        rec["source"] = info.source if info else None
        recs.append(rec)
        is_out.append(ev.write is None)
    vm._trace_static = (recs, np.array(rows, np.int64), np.array(is_out, bool))
    return vm._trace_static


def records(vm, V: np.ndarray, inference: int = 0):
    """The records of the run whose versions are V (VM.run_beats), in issue order."""
    recs, rows, is_out = _static(vm)
    bits = V[rows].view(np.uint32).copy() if len(rows) else np.zeros((0, vm.B), np.uint32)
    if is_out.any():
        bits[is_out] = f32_to_bf16_bits(V[rows[is_out]]).astype(np.uint32) << 16
    for rec, lanes in zip(recs, bits, strict=True):
        yield {"inference": inference, **rec, "value": [f"{v:08x}" for v in lanes.tolist()]}


def lane_hash(value: list[str]) -> str:
    """A short hash of all lanes' bits: equal values, equal hashes."""
    return f"{zlib.crc32(''.join(value).encode()):08x}"


def format_text(rec: dict, lanes: int = 4) -> str:
    def reg(r: dict) -> str:
        return f"r{r['bank']}:{r['idx']}"

    vals = np.array([int(h, 16) for h in rec["value"][:lanes]], np.uint32).view(np.float32)
    shown = " ".join(f"{v:.6g}" for v in vals.tolist())
    more = " …" if len(rec["value"]) > lanes else ""
    dst = (f"out[{rec['dst']['out_beat']}]" if "out_beat" in rec["dst"] else reg(rec["dst"]))
    srcs = [reg(s) for s in rec["srcs"]]
    if rec.get("x_relu"):
        srcs[0] = f"relu({srcs[0]})"
    srcs = ", ".join(srcs)
    if "weight" in rec:
        srcs = f"W{rec['weight']} · {srcs}"
    w = "" if rec["write_cycle"] is None else f"→{rec['write_cycle']:<5}"
    where = ""
    if rec["node"] is not None:
        where = f"  {rec['node']}{' ' + rec['detail'] if rec['detail'] else ''} " \
                f"({rec['nnir_op']}) df#{rec['df_op']}"
        if rec["source"]:
            where += f"  {rec['source']}"
    return (f"{rec['inference']:>3} {rec['cycle']:>5}{w:<7} c{rec['core']} "
            f"{'M' if rec['slot'] == 'matrix' else 'V'} {rec['op']:<7} {dst:<8} <- {srcs:<24} "
            f"[{shown}{more}] #{lane_hash(rec['value'])}{where}")


TEXT_HEADER = ("inf cycle→write  core slot op  dst <- srcs  [lanes] #hash  node (nnir op) df#op"
               "  source")


class Tracer:
    """A trace sink over one or more runs: a path (JSON Lines, or text for a ".txt" path or
    fmt="text"), an open text file, or a callable taking each record dict."""

    def __init__(self, sink: str | Path | io.TextIOBase | Callable[[dict], object],
                 fmt: str | None = None, lanes: int = 4):
        self.inference, self.lanes, self._own = 0, lanes, None
        if isinstance(sink, (str, Path)):
            fmt = fmt or ("text" if Path(sink).suffix == ".txt" else "jsonl")
            try:
                self._own = sink = open(sink, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as e:
                raise VMInputError(f"trace: cannot write {sink}: {e}") from e
        if fmt not in (None, "text", "jsonl"):
            raise VMInputError(f"trace format {fmt!r}: expected 'text' or 'jsonl'")
        if hasattr(sink, "write"):
            self.fmt = fmt or "jsonl"
            if self.fmt == "text":
                sink.write(f"# {TEXT_HEADER}\n")
            self._emit = (lambda r: sink.write(json.dumps(r) + "\n")) if self.fmt == "jsonl" \
                else (lambda r: sink.write(format_text(r, self.lanes) + "\n"))
        elif callable(sink):
            self.fmt, self._emit = "callback", sink
        else:
            raise VMInputError(f"trace={sink!r}: expected a path, a text file or a callable")

    def add(self, vm, V: np.ndarray) -> None:
        for rec in records(vm, V, self.inference):
            self._emit(rec)
        self.inference += 1

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def record_run(vm, V: np.ndarray, trace) -> None:
    """VM.run_beats' hook: trace is a Tracer, or anything Tracer() takes (opened per run)."""
    if isinstance(trace, Tracer):
        trace.add(vm, V)
        return
    with Tracer(trace) as t:
        t.add(vm, V)


def main(argv: list[str] | None = None) -> int:
    from ..compile.program import Program

    ap = argparse.ArgumentParser(prog="rill trace", description="run a saved program on the VM "
                                 "and list every issued op: cycle, core, slot, registers, the "
                                 "value written and the model op it came from")
    ap.add_argument("program", help="a saved rill program (Program.save)")
    ap.add_argument("inputs", help=".npy stack of inferences along axis 0 (a streaming program: "
                    "the time steps, run in order)")
    ap.add_argument("--out", help="write here instead of standard output")
    ap.add_argument("--format", choices=["text", "jsonl"],
                    help="default: jsonl for an --out ending in .jsonl, else text")
    ap.add_argument("--lanes", type=int, default=4, help="lanes shown per value in the text "
                    "view (JSON Lines always has all of them)")
    ap.add_argument("--model", type=int, default=0, metavar="K",
                    help="model K of a program of several models (default 0)")
    ns = ap.parse_args(argv)
    if ns.lanes < 0:
        ap.error("--lanes must be >= 0")
    program = Program.load(ns.program)
    if program.num_models() > 1 or ns.model:  # one model's segment, with its provenance
        n = program.num_models()
        program = program.model(ns.model)
        print(f"rill trace: model {ns.model} ({program.name!r}) of {n}", file=sys.stderr)
    try:
        xs = np.load(ns.inputs, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise VMInputError(f"cannot read inputs {ns.inputs}: {e}") from e
    if not isinstance(xs, np.ndarray) or xs.ndim == 0 or xs.shape[0] == 0:
        raise VMInputError(f"inputs: expected an array stacking at least one inference along "
                           f"axis 0, got {getattr(xs, 'shape', type(xs).__name__)}")
    fmt = ns.format or ("jsonl" if ns.out and ns.out.endswith((".jsonl", ".json")) else "text")
    vm = program.to_vm()
    beats = []
    for k in range(xs.shape[0]):  # every input checked before anything is written
        try:
            beats.append(program.input_beats(xs[k]))
        except VMInputError as e:
            raise VMInputError(f"inference {k}: {e}") from e
    with Tracer(ns.out or sys.stdout, fmt, ns.lanes) as t:
        for b in beats:
            vm.run_beats(b, trace=t)
    n_ops = len(vm.events)
    print(f"rill trace: {len(beats)} inference(s) of {program.name}, {n_ops} ops each"
          + (f" -> {ns.out}" if ns.out else "")
          + ("" if program.debug else " (no provenance: the file has no debug table)"),
          file=sys.stderr)
    return 0
