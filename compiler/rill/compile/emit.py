"""Bundle emission, and the check that the emitted program means the dataflow."""

from __future__ import annotations

import bisect

from ..hw.config import Config
from ..hw.isa import Bundle, Timing
from .dataflow import Dataflow
from .schedule import Schedule, latency, read_offsets, read_port


def emit(df: Dataflow, sch: Schedule, addr: dict[int, int], config: Config) -> list[list[Bundle]]:
    slots: list[list[dict]] = [[{} for _ in range(sch.length)] for _ in range(config.num_cores)]
    wcore_addr = _weight_addresses(df)
    for o in df.ops:
        s = slots[sch.core[o.id]][sch.issue[o.id]]
        if o.is_matrix:
            s.update(m_op=int(o.opcode), m_w=wcore_addr[o.wblock], m_x=addr[id(o.operands[0])],
                     m_dst=addr[id(o.out)] & (config.rf_depth - 1), m_relu=int(o.x_relu))
            if o.is_macc:
                s["m_acc"] = addr[id(o.operands[1])]
        else:
            s.update(v_op=int(o.opcode), v_a=addr[id(o.operands[0])])
            if len(o.operands) > 1:
                s["v_b"] = addr[id(o.operands[1])]
            if o.out is not None:
                s["v_dst"] = addr[id(o.out)] & (config.rf_depth - 1)
    return [[Bundle(**s) for s in core] for core in slots]


def _weight_addresses(df: Dataflow) -> list[int]:
    """Address of each weight block within its core's weight memory (in creation order)."""
    count: dict[int, int] = {}
    out = []
    for c in df.weight_core:
        out.append(count.get(c, 0))
        count[c] = out[-1] + 1
    return out


def verify_schedule(df: Dataflow, sch: Schedule, addr: dict[int, int], config: Config) -> None:
    """Check that, under the ISA's timing rules, every read of the emitted program sees the
    value the dataflow means (its producer's write, or no write yet for inputs, constants and
    old state). A failure is a compiler bug: stop rather than emit a wrong program."""
    tm = Timing.of(config)
    writes: dict[int, list[tuple[int, int]]] = {}
    for o in df.ops:
        if o.out is not None:
            writes.setdefault(addr[id(o.out)], []).append((sch.issue[o.id] + latency(o, tm) - 1,
                                                           o.id))
    for lst in writes.values():
        lst.sort()
    by_id = {o.id: o for o in df.ops}
    for o in df.ops:
        for j, (v, off) in enumerate(zip(o.operands, read_offsets(o, tm), strict=True)):
            lst = writes.get(addr[id(v)], [])
            r = sch.issue[o.id] + off
            # the latest write at the read's edge or before, or at the next edge when a
            # forward shows it (docs/isa.md)
            k = bisect.bisect_right(lst, (r + 1, len(df.ops)))
            if k and lst[k - 1][0] == r + 1 and \
                    tm.read_ahead(read_port(o, j), by_id[lst[k - 1][1]].opcode) == 0:
                k -= 1
            seen = lst[k - 1][1] if k else None
            want = v.producer.id if v.producer is not None else None
            if seen != want:
                raise AssertionError(
                    f"schedule error: op {o.id} ({o.opcode.name}) at cycle {sch.issue[o.id]} "
                    f"reads register {addr[id(v)]:#x} written by op {seen}, means op {want}"
                )
