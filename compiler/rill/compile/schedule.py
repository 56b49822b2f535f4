"""Static list scheduling: the issue cycle and core of every dataflow op.

The schedule is the timing of the hardware (there are no interlocks), so every constraint the
RTL relies on is enforced here with the exact latencies of `isa.Timing`; the VM re-derives the
dataflow from the emitted bundles and would expose any slip.
"""

from __future__ import annotations

import dataclasses
import heapq

from ..errors import AllocationError
from ..hw import isa
from ..hw.config import Config
from ..hw.isa import Timing, VOp
from .dataflow import Dataflow, Op


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


def read_port(op: Op, operand: int) -> str:
    """The register-file read port of `op`'s operand `operand`: "x", "acc", "a" or "b"."""
    return isa.read_port(op.is_matrix, operand)


def read_ahead(reader: Op, operand: int, writer: Op, tm: Timing) -> int:
    """How many cycles before `writer`'s write edge `reader`'s operand `operand` sees it
    (`Timing.read_ahead`: the accumulator and vector forwards)."""
    return tm.read_ahead(read_port(reader, operand), writer.opcode)


def edges(df: Dataflow, tm: Timing, forward: bool = True) -> list[tuple[Op, Op, int]]:
    """Every ordering constraint between two ops as (src, dst, delta): dst issues at or after
    src's issue + delta. One list for both schedulers (this one and `optimal.py`).

    `forward=False` schedules no read onto a forward (MACC chains macc_distance + 1 apart, an
    ADD's consumers from its write edge); the forwards still exist, so what a read sees ahead
    still orders a new value after it (WAR)."""
    out: list[tuple[Op, Op, int]] = []
    writers = {o.pin: o for o in df.ops if o.pin is not None}
    for o in df.ops:
        for j, (v, off) in enumerate(zip(o.operands, read_offsets(o, tm), strict=True)):
            if v.producer is not None:
                # write-first banks: readable in the cycle of the write edge, t + L - 1, and
                # earlier through a forward (a MACC's accumulator, an ADD's result)
                ahead = read_ahead(o, j, v.producer, tm) if forward else 0
                out.append((v.producer, o, latency(v.producer, tm) - 1 - off - ahead))
            elif v.pin is not None:
                # reading the old state: its new value must land after this read (WAR), and
                # after what the read sees ahead; nothing else orders them when another
                # block's chain reads it late
                w = writers[v.pin]
                out.append((o, w, off + read_ahead(o, j, w, tm) - latency(w, tm) + 2))
        if o.after is not None:
            out.append((o.after, o, 1))
    return out


def priorities(df: Dataflow, tm: Timing,
               consumers: dict[int, list[tuple[Op, int]]]) -> dict[int, tuple[int, int]]:
    """Each op's list-scheduling priority, highest first: (the longest latency path from
    issuing it to the last OUT's issue, -1 if it leads to no OUT; the longest path from issuing
    it to the end of the program). Latency is counted to the last output beat, so the work an
    output waits for goes first and the rest (the next step's recurrent part, state updates)
    fills the slots it leaves. Data and ordering edges; WAR edges constrain but lead nowhere."""
    last = df.outputs[-1].id if df.outputs else -1
    to_out: dict[int, int] = {}
    to_end: dict[int, int] = {}
    for o in reversed(df.ops):
        out = 0 if o.id == last else -1
        end = latency(o, tm)
        for c, delta in consumers[o.id]:
            if c.id > o.id:
                end = max(end, delta + to_end[c.id])
                if to_out[c.id] >= 0:
                    out = max(out, delta + to_out[c.id])
        to_out[o.id], to_end[o.id] = out, end
    return {oid: (to_out[oid], to_end[oid]) for oid in to_out}


def schedule(df: Dataflow, config: Config, forward: bool = True) -> Schedule:
    """The list schedule; `forward`: schedule reads onto the forwards (`edges`)."""
    tm = Timing.of(config)
    ops = df.ops
    # edges: producer id -> [(consumer, delta)]: the consumer issues at >= producer issue + delta
    consumers: dict[int, list[tuple[Op, int]]] = {o.id: [] for o in ops}
    deps: dict[int, set[int]] = {o.id: set() for o in ops}
    for src, dst, delta in edges(df, tm, forward):
        consumers[src.id].append((dst, delta))
        deps[dst.id].add(src.id)
    waiting = {oid: len(d) for oid, d in deps.items()}

    prio = priorities(df, tm, consumers)

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
            item = (-prio[oid][0], -prio[oid][1], oid)
            if o.is_matrix:
                heapq.heappush(m_ready[o.core], item)
            else:
                heapq.heappush(v_ready, item)
        scheduled: list[Op] = []

        def retire(batch: list[Op], t: int) -> None:
            """Issue-time bookkeeping of `batch` (issued at t): consumers' earliest cycles,
            readiness."""
            nonlocal done
            for o in batch:
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

        # vector slots first: a MACC reads its accumulator late, so one whose accumulator an
        # ADD issues this cycle may issue in this cycle too
        for c in range(config.num_cores):
            rejected = []
            while v_ready:
                item = heapq.heappop(v_ready)
                o = by_id[item[-1]]
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
        retire(scheduled, t)
        while pending and pending[0][0] <= t:
            _, oid = heapq.heappop(pending)
            o = by_id[oid]
            if o.is_matrix:
                heapq.heappush(m_ready[o.core], (-prio[oid][0], -prio[oid][1], oid))
            else:
                heapq.heappush(v_ready, (-prio[oid][0], -prio[oid][1], oid))
        scheduled = []
        for c in range(config.num_cores):
            if m_ready[c]:
                *_, oid = heapq.heappop(m_ready[c])
                issue[oid], core_of[oid] = t, c
                scheduled.append(by_id[oid])
        retire(scheduled, t)
        if not any(m_ready) and not v_ready and pending and pending[0][0] > t + 1:
            t = pending[0][0]
        else:
            t += 1
    return finish(df, config, issue, core_of)


def list_schedule(df: Dataflow, config: Config) -> Schedule:
    """The list schedule with reads on the forwards, or without them when that one ends
    sooner: the greedy scheduler packs some graphs worse with the shorter distances (the 20-step
    seed LSTM sequence with the accumulator forward: 1815 against 1763 cycles). Earlier last
    OUT first, then the shorter program."""
    def key(s: Schedule) -> tuple[int, int]:
        return (s.issue[df.outputs[-1].id] if df.outputs else 0, s.length)
    a = schedule(df, config)
    b = schedule(df, config, forward=False)
    return b if key(b) < key(a) else a


def finish(df: Dataflow, config: Config, issue: dict[int, int],
           core_of: dict[int, int]) -> Schedule:
    """The Schedule of these issue cycles and cores: its length, checked against the
    instruction memory."""
    tm = Timing.of(config)
    length = max((issue[o.id] + latency(o, tm) for o in df.ops), default=1)
    if length > config.instr_depth:
        raise AllocationError(
            f"program needs {length} bundles per core; instruction memory holds "
            f"{config.instr_depth} (Config.instr_depth)"
        )
    return Schedule(issue, core_of, length)
