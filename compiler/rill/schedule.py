"""Static list scheduling, register allocation and bundle emission.

The schedule is the timing of the hardware (there are no interlocks), so every constraint the
RTL relies on is enforced here with the exact latencies of `isa.Timing`; the VM re-derives the
dataflow from the emitted bundles and would expose any slip.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq

from .config import Config
from .dataflow import Dataflow, Op, Val, ValKind
from .errors import AllocationError
from .isa import (
    BANK_CONST,
    BANK_INPUT,
    Bundle,
    Timing,
    VOp,
    make_addr,
    matrix_bank,
    vector_bank,
)


@dataclasses.dataclass
class Schedule:
    issue: dict[int, int]  # op id -> cycle
    core: dict[int, int]  # op id -> core
    length: int


def latency(op: Op, tm: Timing) -> int:
    return tm.mac if op.is_matrix else tm.vop(op.opcode)


def read_offsets(op: Op, tm: Timing) -> list[int]:
    if op.is_macc:
        return [0, tm.mac_acc_read]
    return [0] * len(op.operands)


def schedule(df: Dataflow, config: Config) -> Schedule:
    tm = Timing.of(config)
    ops = df.ops
    # edges: producer id -> [(consumer, delta)]: the consumer issues at >= producer issue + delta
    consumers: dict[int, list[tuple[Op, int]]] = {o.id: [] for o in ops}
    deps: dict[int, set[int]] = {o.id: set() for o in ops}

    def edge(src: Op, dst: Op, delta: int) -> None:
        consumers[src.id].append((dst, delta))
        deps[dst.id].add(src.id)

    writers = {o.pin: o for o in ops if o.pin is not None}
    for o in ops:
        for v, off in zip(o.operands, read_offsets(o, tm), strict=True):
            if v.producer is not None:
                # write-first banks: readable in the cycle of the write edge, t + L - 1
                edge(v.producer, o, latency(v.producer, tm) - 1 - off)
            elif v.pin is not None:
                # reading the old state: its new value must land after this read (WAR);
                # nothing else orders them when another block's chain reads it late
                w = writers[v.pin]
                edge(o, w, off - latency(w, tm) + 2)
        if o.after is not None:
            edge(o.after, o, 1)
    waiting = {oid: len(d) for oid, d in deps.items()}

    # priority: the longest latency path from issuing this op to the end of the program
    # (data and ordering edges; WAR edges constrain but are not on a path to an output)
    prio = {}
    for o in reversed(ops):
        best = latency(o, tm)
        for c, delta in consumers[o.id]:
            if c.id > o.id:
                best = max(best, delta + prio[c.id])
        prio[o.id] = best

    earliest = {o.id: 0 for o in ops}
    issue: dict[int, int] = {}
    core_of: dict[int, int] = {}
    pending: list[tuple[int, int]] = []  # (earliest, id)
    m_ready: list[list[tuple]] = [[] for _ in range(config.num_cores)]
    v_ready: list[tuple] = []
    wport: list[set[int]] = [set() for _ in range(config.num_cores)]
    out_slots: set[int] = set()
    by_id = {o.id: o for o in ops}
    deps_seen: dict[int, set[int]] = {o.id: set() for o in ops}
    for o in ops:
        if waiting[o.id] == 0:
            heapq.heappush(pending, (0, o.id))

    t = 0
    done = 0
    give_up = 64 * (len(ops) + 64)  # far beyond any schedule: only a dependency cycle gets here
    while done < len(ops):
        if t > give_up:
            raise AssertionError(f"scheduler stuck at cycle {t}: dependency cycle among "
                                 f"{len(ops) - done} unscheduled ops")
        while pending and pending[0][0] <= t:
            _, oid = heapq.heappop(pending)
            o = by_id[oid]
            item = (-prio[oid], oid)
            if o.is_matrix:
                heapq.heappush(m_ready[o.core], item)
            else:
                heapq.heappush(v_ready, item)
        scheduled: list[Op] = []
        for c in range(config.num_cores):
            if m_ready[c]:
                _, oid = heapq.heappop(m_ready[c])
                issue[oid], core_of[oid] = t, c
                scheduled.append(by_id[oid])
            rejected = []
            while v_ready:
                item = heapq.heappop(v_ready)
                o = by_id[item[1]]
                w = t + latency(o, tm) - 1
                ok = (t + 1 not in out_slots) if o.opcode == VOp.OUT else (w not in wport[c])
                if ok:
                    if o.opcode == VOp.OUT:
                        out_slots.add(t + 1)
                    else:
                        wport[c].add(w)
                    issue[o.id], core_of[o.id] = t, c
                    scheduled.append(o)
                    break
                rejected.append(item)
            for item in rejected:
                heapq.heappush(v_ready, item)
        for o in scheduled:
            done += 1
            # all of o's edges first: a consumer may hang on o by several (data and WAR)
            for c, delta in consumers[o.id]:
                earliest[c.id] = max(earliest[c.id], t + delta)
            for c, _ in consumers[o.id]:
                if o.id in deps_seen[c.id]:
                    continue
                deps_seen[c.id].add(o.id)
                waiting[c.id] -= 1
                if waiting[c.id] == 0:
                    heapq.heappush(pending, (earliest[c.id], c.id))
        if not any(m_ready) and not v_ready and pending and pending[0][0] > t + 1:
            t = pending[0][0]
        else:
            t += 1
    length = max((issue[o.id] + latency(o, tm) for o in ops), default=1)
    if length > config.instr_depth:
        raise AllocationError(
            f"program needs {length} bundles per core; instruction memory holds "
            f"{config.instr_depth} (Config.instr_depth)"
        )
    return Schedule(issue, core_of, length)


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

    last_read: dict[int, int] = {}
    for o in df.ops:
        for v, off in zip(o.operands, read_offsets(o, tm), strict=True):
            last_read[id(v)] = max(last_read.get(id(v), -1), sch.issue[o.id] + off)

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


def emit(df: Dataflow, sch: Schedule, addr: dict[int, int], config: Config) -> list[list[Bundle]]:
    slots: list[list[dict]] = [[{} for _ in range(sch.length)] for _ in range(config.num_cores)]
    wcore_addr = _weight_addresses(df)
    for o in df.ops:
        s = slots[sch.core[o.id]][sch.issue[o.id]]
        if o.is_matrix:
            s.update(m_op=int(o.opcode), m_w=wcore_addr[o.wblock], m_x=addr[id(o.operands[0])],
                     m_dst=addr[id(o.out)] & (config.rf_depth - 1))
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
    for o in df.ops:
        for v, off in zip(o.operands, read_offsets(o, tm), strict=True):
            lst = writes.get(addr[id(v)], [])
            k = bisect.bisect_right(lst, (sch.issue[o.id] + off, len(df.ops)))
            seen = lst[k - 1][1] if k else None
            want = v.producer.id if v.producer is not None else None
            if seen != want:
                raise AssertionError(
                    f"schedule error: op {o.id} ({o.opcode.name}) at cycle {sch.issue[o.id]} "
                    f"reads register {addr[id(v)]:#x} written by op {seen}, means op {want}"
                )
