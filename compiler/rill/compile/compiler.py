"""NNIR -> Program: the named pass pipeline."""

from __future__ import annotations

import numpy as np

from ..errors import AllocationError, ConfigError, UnsupportedError
from ..hw import isa
from ..hw.config import Config
from ..hw.numerics import f32_bits, f32_to_bf16_bits
from ..ir import Graph, verify
from ..ir.conv import torch_shape
from ..ir.dce import eliminate_dead_nodes
from .dataflow import fold_relu
from .debuginfo import ScheduleNote, build_debug
from .emit import emit, verify_schedule
from .lower import lower
from .optimal import optimal_schedule
from .program import Program
from .regalloc import allocate
from .schedule import list_schedule
from .validate import validate_program

SCHEDULERS = ("list", "optimal")


def compile_graph(graph: Graph, config: Config, name: str | None = None,
                  scheduler: str = "list", effort: float = 1.0) -> Program:
    """`scheduler`: "list" (the greedy list scheduler, milliseconds) or "optimal" (CP-SAT,
    `optimal.py`, searching for `effort` units of deterministic time: about a second to ten;
    never later than the list schedule, and the same program when it finds nothing better)."""
    if scheduler not in SCHEDULERS:
        raise ConfigError(f"scheduler {scheduler!r}: expected one of {', '.join(SCHEDULERS)}")
    graph = verify(eliminate_dead_nodes(verify(graph)))
    df, layout = lower(graph, config.num_cores, config.block_size)
    fold_relu(df)
    _check_weights_fit(df.weight_core, config)
    if len(df.outputs) > config.out_fifo_depth:
        raise AllocationError(
            f"program emits {len(df.outputs)} output beats per inference; the output FIFO holds "
            f"{config.out_fifo_depth} (Config.out_fifo_depth)"
        )
    sch = list_schedule(df, config)
    addr = allocate(df, sch, config)
    note = ScheduleNote("list")
    if scheduler == "optimal":
        res = optimal_schedule(df, config, effort=effort, hint=sch)
        if res.schedule is not sch:
            try:  # a tighter schedule can hold more values live at once
                sch, addr = res.schedule, allocate(df, res.schedule, config)
            except AllocationError:
                pass  # keep the list schedule, whose registers fit
        if df.outputs:
            last = sch.issue[df.outputs[-1].id]
            note = ScheduleNote("optimal", res.bound + df.n_inputs + isa.Timing.of(config).out,
                                res.bound == last)
    verify_schedule(df, sch, addr, config)
    bundles = emit(df, sch, addr, config)
    B = config.block_size
    weights = []
    for c in range(config.num_cores):
        blocks = [w for w, wc in zip(df.weight_blocks, df.weight_core, strict=True) if wc == c]
        arr = np.stack(blocks) if blocks else np.zeros((0, B, B), np.float32)
        weights.append(f32_to_bf16_bits(arr).reshape(-1, B, B))
    consts = (f32_bits(np.stack(df.consts)) if df.consts else np.zeros((0, B), np.uint32))
    inp, outp = graph.inputs, graph.outputs  # shapes as the user sees them (torch)
    for what, io in (("inputs", inp), ("outputs", outp)):
        if len(io) > 1 and any(n.channels_first for n in io):
            raise UnsupportedError(f"several {what} with a channels-first (..., C, L) one: a "
                                   f"multi-input or multi-output program is channels-last")
    # one input (output): its shape; several: a tuple of their shapes, in the model's order
    in_shape = torch_shape(inp[0]) if len(inp) == 1 else tuple(torch_shape(n) for n in inp)
    out_shape = torch_shape(outp[0]) if len(outp) == 1 else tuple(torch_shape(n) for n in outp)
    return validate_program(Program(
        config=config,
        length=sch.length,
        n_in=df.n_inputs,
        n_out=len(df.outputs),
        bundles=[isa.encode(b, config) for b in bundles],
        weights=weights,
        consts=consts.reshape(-1, B).astype(np.uint32),
        input_shape=in_shape,
        output_shape=out_shape,
        streaming_axis=graph.stream_axis,
        t_last_out=sch.issue[df.outputs[-1].id],
        name=name or "program",
        input_channels_first=len(inp) == 1 and inp[0].channels_first,
        output_channels_first=len(outp) == 1 and outp[0].channels_first,
        debug=build_debug(df, sch, {n.name: n for n in graph.nodes}, config.num_cores, note),
    ), origin=f"compiled program {name or 'program'!r}")


def _check_weights_fit(weight_core: list[int], config: Config) -> None:
    per_core = np.bincount(np.asarray(weight_core, dtype=np.int64), minlength=config.num_cores)
    if per_core.max(initial=0) > config.weight_depth:
        B = config.block_size
        raise AllocationError(
            f"model needs {len(weight_core)} weight blocks of {B}x{B} "
            f"({len(weight_core) * B * B} weights), {int(per_core.max())} on the fullest core; "
            f"each core holds {config.weight_depth} blocks ({config.weights_per_core} weights), "
            f"{config.num_cores} cores hold {config.num_cores * config.weights_per_core}"
        )
