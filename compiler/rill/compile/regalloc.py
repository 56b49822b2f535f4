"""Register allocation: an address for every dataflow value, by interval colouring per bank."""

from __future__ import annotations

import heapq

from ..errors import AllocationError
from ..hw.config import Config
from ..hw.isa import BANK_CONST, BANK_INPUT, Timing, make_addr, matrix_bank, vector_bank
from .dataflow import Dataflow, Op, Val, ValKind
from .schedule import Schedule, latency, read_offsets, read_port


def allocate(df: Dataflow, sch: Schedule, config: Config) -> dict[int, int]:
    """Register addresses for every value (keyed by id(val)), by interval colouring per bank."""
    tm = Timing.of(config)
    addr: dict[int, int] = {}
    for v in _all_vals(df):
        if v.kind == ValKind.INPUT:
            addr[id(v)] = make_addr(BANK_INPUT, v.index, config)
        elif v.kind == ValKind.CONST:
            addr[id(v)] = make_addr(BANK_CONST, v.index, config)
    for what, n in (("input beats", df.n_inputs), ("constants", len(df.consts))):
        if n > config.rf_depth:
            raise AllocationError(
                f"program has {n} {what}; a register bank holds {config.rf_depth} "
                f"(Config.rf_depth)"
            )

    # the last cycle a value must still be in its register: a read that a forward lets see a
    # write ahead (a MACC's accumulator of a matrix bank, a vector operand of a vector bank,
    # where the next value may come from an ADD) counts that late
    writer_of = {o.pin: o for o in df.ops if o.pin is not None}
    last_read: dict[int, int] = {}
    for o in df.ops:
        for j, (v, off) in enumerate(zip(o.operands, read_offsets(o, tm), strict=True)):
            w = v.producer if v.producer is not None else writer_of.get(v.pin)
            ahead = 0 if w is None else tm.max_read_ahead(read_port(o, j), w.is_matrix)
            last_read[id(v)] = max(last_read.get(id(v), -1), sch.issue[o.id] + off + ahead)

    def bank_of(o: Op) -> int:
        c = sch.core[o.id]
        return matrix_bank(c) if o.is_matrix else vector_bank(c)

    # streaming state: the op writing the new state fixes the bank; the register is permanent
    next_idx: dict[int, int] = {}
    pinned: dict[tuple, int] = {}
    for o in df.ops:
        if o.pin is not None:
            b = bank_of(o)
            idx = next_idx.get(b, 0)
            next_idx[b] = idx + 1
            pinned[o.pin] = make_addr(b, idx, config)
            addr[id(o.out)] = pinned[o.pin]
    for v in _all_vals(df):
        if v.kind == ValKind.STATE:
            addr[id(v)] = pinned[v.pin]
            writer = next(o for o in df.ops if o.pin == v.pin)
            w = sch.issue[writer.id] + latency(writer, tm) - 1
            if last_read.get(id(v), -1) >= w:
                raise AssertionError(f"state {v.pin} overwritten before its last read")

    intervals: dict[int, list[tuple[int, int, Val]]] = {}
    for o in df.ops:
        if o.out is None or o.pin is not None:
            continue
        w = sch.issue[o.id] + latency(o, tm) - 1
        intervals.setdefault(bank_of(o), []).append((w, last_read.get(id(o.out), w), o.out))
    for b, items in intervals.items():
        items.sort(key=lambda i: i[0])
        active: list[tuple[int, int]] = []  # (last read, idx)
        free: list[int] = []
        top = next_idx.get(b, 0)
        for w, end, v in items:
            while active and active[0][0] < w:
                heapq.heappush(free, heapq.heappop(active)[1])
            if free:
                idx = heapq.heappop(free)
            else:
                idx, top = top, top + 1
            if idx >= config.rf_depth:
                raise AllocationError(
                    f"register bank {b} needs more than {config.rf_depth} registers at cycle {w} "
                    f"(Config.rf_depth)"
                )
            heapq.heappush(active, (end, idx))
            addr[id(v)] = make_addr(b, idx, config)
    return addr


def _all_vals(df: Dataflow):
    seen = set()
    for o in df.ops:
        for v in (*o.operands, o.out):
            if v is not None and id(v) not in seen:
                seen.add(id(v))
                yield v
