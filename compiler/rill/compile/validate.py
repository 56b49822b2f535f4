"""validate_program: one check of a Program against its config and its own contents.

Both the compiler's output (at the end of `compile_graph`) and `Program.load` go through it, so
a program file cannot promise what the compiler would never emit: an edited header that
reshapes outputs, overruns a register bank, the weight or instruction memory or the output
FIFO, or gives a negative cycle count is refused with the field named, expected vs actual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidProgramError
from ..hw import isa
from ..hw.config import Config
from .multi_io import is_multi, shapes

if TYPE_CHECKING:
    from .program import Program


def _int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _beats(shape: tuple[int, ...], B: int) -> int:
    """Beats a tensor of `shape` takes: one per row per feature block of B lanes."""
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    return rows * -(-shape[-1] // B)


def validate_program(p: Program, origin: str = "program") -> Program:
    """Raise InvalidProgramError naming the first field of `p` inconsistent with its config or
    its contents; return `p` unchanged otherwise."""
    if getattr(p, "models", None) is not None:  # several models: the table and each model
        from .link import validate_models

        return validate_models(p, origin)

    def bad(field: str, expected: str, actual: object) -> InvalidProgramError:
        return InvalidProgramError(f"{origin}: {field}: expected {expected}, got {actual!r}")

    c = p.config
    if not isinstance(c, Config):
        raise bad("config", "a rill Config", type(p.config).__name__)
    B = c.block_size
    for f in ("length", "n_in", "n_out", "t_last_out"):
        if not _int(getattr(p, f)):
            raise bad(f, "an int", getattr(p, f))
    if not isinstance(p.name, str):
        raise bad("name", "a str", p.name)
    if not 1 <= p.length <= c.instr_depth:
        raise bad("length", f"1..{c.instr_depth} bundles per core (Config.instr_depth)", p.length)
    if not 1 <= p.n_in <= c.rf_depth:
        raise bad("n_in", f"1..{c.rf_depth} input beats (Config.rf_depth, the input bank)",
                  p.n_in)
    if not 1 <= p.n_out <= c.out_fifo_depth:
        raise bad("n_out", f"1..{c.out_fifo_depth} output beats (Config.out_fifo_depth)",
                  p.n_out)
    for f, n in (("input_shape", p.n_in), ("output_shape", p.n_out)):
        shape = getattr(p, f)
        cf_field = f.replace("shape", "channels_first")
        cf = getattr(p, cf_field)
        if is_multi(shape):  # several inputs (outputs): a tuple of >= 2 shapes, channels-last
            parts = shapes(shape)
            if len(parts) < 2 or cf is not False or not all(
                    s and all(_int(d) and d > 0 for d in s) for s in parts):
                raise bad(f, "two or more non-empty tuples of positive ints, channels-last",
                          shape)
            if sum(_beats(s, B) for s in parts) != n:
                raise bad(f, f"shapes of {n} beats in all", shape)
            continue
        if (not isinstance(shape, tuple) or not shape
                or not all(_int(d) and d > 0 for d in shape)):
            raise bad(f, "a non-empty tuple of positive ints", shape)
        if not isinstance(cf, (bool, np.bool_)) or (cf and len(shape) < 2):
            raise bad(cf_field, f"a bool, true only for a shape of rank >= 2 ({f}={shape})", cf)
        if cf:  # the beats carry (*lead, L, C)
            shape = shape[:-2] + (shape[-1], shape[-2])
        if _beats(shape, B) != n:
            field = "n_in" if f == "input_shape" else "n_out"
            raise bad(f, f"a shape of {n} beats of {B} lanes ({field}={n})",
                      f"{shape} ({_beats(shape, B)} beats)")
    ax = p.streaming_axis
    # the input axis streaming removed: an axis of the sequence input, one rank above
    rank = len(shapes(p.input_shape)[0])
    if ax is not None and not (_int(ax) and 0 <= ax <= rank):
        raise bad("streaming_axis", f"None or an axis in [0, {rank}]", ax)
    if not 0 <= p.t_last_out < p.length:
        raise bad("t_last_out", f"a cycle in [0, {p.length}) (length={p.length})", p.t_last_out)
    _validate_sections(p, bad)
    _validate_outputs(p, bad)
    debug = getattr(p, "debug", None)  # optional provenance (compile/debuginfo.py)
    if debug is not None and (why := debug.check(c.num_cores, p.length)) is not None:
        raise bad("debug", "a provenance table matching the program", why)
    return p


def _validate_sections(p: Program, bad) -> None:
    c = p.config
    B, nb = c.block_size, isa.bundle_bytes(c)
    if len(p.bundles) != c.num_cores or len(p.weights) != c.num_cores:
        raise bad("cores", f"{c.num_cores} instruction streams and weight images "
                  "(Config.num_cores)", f"{len(p.bundles)} and {len(p.weights)}")
    for core, (b, w) in enumerate(zip(p.bundles, p.weights, strict=True)):
        b, w = np.asarray(b), np.asarray(w)
        if b.dtype != np.uint8 or b.shape != (p.length, nb):
            raise bad(f"bundles[{core}]", f"uint8 {(p.length, nb)}", f"{b.dtype} {b.shape}")
        if w.dtype != np.uint16 or w.ndim != 3 or w.shape[1:] != (B, B):
            raise bad(f"weights[{core}]", f"uint16 [blocks, {B}, {B}]", f"{w.dtype} {w.shape}")
        if w.shape[0] > c.weight_depth:
            raise bad(f"weights[{core}]", f"at most {c.weight_depth} blocks "
                      "(Config.weight_depth)", w.shape[0])
        if ((w & 0x7F80) == 0x7F80).any():
            raise bad(f"weights[{core}]", "finite bf16 weights", "a NaN or inf weight")
    k = np.asarray(p.consts)
    if k.dtype != np.uint32 or k.ndim != 2 or k.shape[1] != B:
        raise bad("consts", f"uint32 [n, {B}]", f"{k.dtype} {k.shape}")
    if k.shape[0] > c.rf_depth:
        raise bad("consts", f"at most {c.rf_depth} rows (Config.rf_depth, the constant bank)",
                  k.shape[0])


def _validate_outputs(p: Program, bad) -> None:
    """The instruction streams must push exactly n_out beats, the last at cycle t_last_out."""
    lsb = 0
    for name, width in isa.fields(p.config):
        if name == "v_op":
            break
        lsb += width
    outs: list[int] = []
    for raw in p.bundles:
        bits = np.unpackbits(np.asarray(raw, np.uint8), axis=1, bitorder="little")
        v_op = bits[:, lsb : lsb + isa.V_OP_BITS].astype(np.int64) @ (1 << np.arange(isa.V_OP_BITS))
        bad_op = ~np.isin(v_op, [int(op) for op in isa.VOp])
        if bad_op.any():
            raise bad("bundles", "vector opcodes of isa.VOp",
                      f"v_op {int(v_op[bad_op][0])} at pc {int(np.flatnonzero(bad_op)[0])}")
        outs.extend(np.flatnonzero(v_op == isa.VOp.OUT).tolist())
    if len(outs) != p.n_out:
        raise bad("n_out", f"the {len(outs)} OUT instructions of the program", p.n_out)
    if max(outs) != p.t_last_out:
        raise bad("t_last_out", f"the cycle of the last OUT instruction ({max(outs)})",
                  p.t_last_out)
