"""The numbers of `rill report`: the critical path of one inference by model op, the issue-slot
utilisation of every core's matrix and vector unit, and the MAC array against its bounds.

Everything is read from the VM's decode of the bundles (what the hardware runs), so it holds
for any program; the model op behind each slot comes from the program's provenance table
(`Program.debug`), and without one ops are labelled by unit.

Critical path: walk back from the final OUT (its beat is the last cycle counted by
`cycle_count_per_inference`), each time to the input that arrived last, i.e. with the least
slack between its write and this op's read (for an OUT also the OUT before it, which it must
follow). Each op on the path is charged the cycles from its read of the input on the path to
the next op's read of its result (reads, not issues: a MACC reads its accumulator late, so it
may issue before that accumulator's producer): "latency" up to the cycle the result is
written, "wait" the slack after it (a busy slot, a write-port clash). Input beats and the output
latency close the sum, which is exactly the program's cycle count.
"""

from __future__ import annotations

import dataclasses

from ..hw import isa

INPUT_LABEL = "input beats"


@dataclasses.dataclass
class PathRow:
    label: str  # model op (NNIR node and detail), or a unit without provenance
    op: str  # NNIR op kind, "" when unknown
    source: str
    cycles: int = 0
    latency: int = 0
    wait: int = 0
    ops: int = 0


@dataclasses.dataclass
class Report:
    name: str
    config: str
    cores: int
    n_in: int
    length: int  # bundles per core
    cycles: int  # cycle_count_per_inference()
    clock_mhz: float
    out_latency: int
    path: list[int]  # event indices on the critical path, earliest first
    points: list[int]  # the cycle each of them reads its input on the path (the first: issue)
    by_op: list[PathRow]  # critical-path cycles per model op (first appearance order)
    unit_ops: list[dict]  # per core: {"matrix": n, "vector": n}
    macs: int
    mac_latency: int
    labels: list[str]  # every model op of the program, in first-issue order
    slots: list[tuple[int, int, int, str]]  # (core, pc, slot 0=matrix/1=vector, label)
    has_provenance: bool
    measured: list[int] | None = None  # RTL cycles per inference (--rtl)
    rtl_ok: bool | None = None
    scheduler: str | None = None  # which made the program ("list", "optimal"), if recorded
    floor: int | None = None  # the optimal scheduler's proven floor for the dataflow graph
    floor_proven: bool = False  # the program's count is that floor

    @property
    def us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def mac_util(self) -> float:
        """MACs issued / (cores x cycles): the MAC array's utilisation over one inference."""
        return self.macs / (self.cores * self.cycles)

    @property
    def busiest_macs(self) -> int:
        return max((u["matrix"] for u in self.unit_ops), default=0)

    @property
    def throughput_bound(self) -> int:
        """No schedule of these weights is shorter: the busiest core issues a MAC every cycle
        once the input is in, then the last result goes through the MAC and the OUT."""
        if not self.macs:
            return self.n_in + self.out_latency
        return self.n_in + self.busiest_macs - 1 + self.mac_latency - 1 + self.out_latency

    @property
    def latency_bound(self) -> int:
        """The critical path without its waits: the dependency chain alone."""
        return self.cycles - sum(r.wait for r in self.by_op)

    def util_at(self, cycles: int) -> float:
        return self.macs / (self.cores * cycles) if cycles else 0.0

    def to_json(self) -> dict:
        return {
            "name": self.name, "config": self.config, "cores": self.cores, "n_in": self.n_in,
            "program_length": self.length, "cycles_per_inference": self.cycles,
            "us_per_inference": self.us, "clock_mhz": self.clock_mhz,
            "critical_path": [dataclasses.asdict(r) for r in self.by_op],
            "critical_path_ops": len(self.path),
            "units": [{"core": c, **u, "matrix_util": u["matrix"] / self.cycles,
                       "vector_util": u["vector"] / self.cycles}
                      for c, u in enumerate(self.unit_ops)],
            "macs": self.macs, "mac_util": self.mac_util,
            "throughput_bound_cycles": self.throughput_bound,
            "latency_bound_cycles": self.latency_bound,
            "has_provenance": self.has_provenance,
            "rtl_cycles": self.measured, "rtl_ok": self.rtl_ok,
            "scheduler": self.scheduler, "schedule_floor_cycles": self.floor,
            "schedule_floor_proven": self.floor_proven,
        }


def _label(program, core: int, pc: int, slot: int) -> tuple[str, str, str]:
    dbg = program.debug
    info = dbg.node_at(core, pc, slot) if dbg is not None else None
    if info is None:
        return (f"core {core} {'matrix' if slot == 0 else 'vector'}", "", "")
    return info.label(), info.op, info.source


def critical_path(vm) -> list[tuple[int, int]]:
    """The critical path of one inference, earliest first: (event index, the cycle it reads
    its input on the path, counted from the write edge it sees: an operand a forward could
    show a cycle before the edge (a MACC's accumulator, an ADD's result) counts a cycle
    later; for the first op its issue cycle)."""
    evs, n_ev = vm.events, len(vm.events)
    prev_out = dict(zip(vm.out_events[1:], vm.out_events[:-1], strict=False))
    cur = max(vm.out_events, key=lambda i: evs[i].cycle)
    path = []
    while True:
        ev = evs[cur]
        # the start of the program is a predecessor too: as far as inputs, constants and state
        # go, the op could issue at cycle 0 (a path starts where that binds)
        best, best_slack, point = None, ev.cycle, ev.cycle
        for (_, r), v, ahead in zip(ev.reads, ev.srcs, ev.aheads, strict=True):
            if v < n_ev:
                r += ahead
                slack = r - evs[v].write[1]
                if slack <= best_slack:
                    best, best_slack, point = v, slack, r
        if cur in prev_out:  # an OUT follows the OUT before it (its order, at issue)
            p = prev_out[cur]
            slack = ev.cycle - (evs[p].cycle + 1)
            if slack <= best_slack:
                best, best_slack, point = p, slack, ev.cycle
        path.append((cur, point))
        if best is None:
            break
        cur = best
    return path[::-1]


def analyse(program, vm=None) -> Report:
    """The latency report of `program` (a VM of it may be passed to save decoding again)."""
    if vm is None:
        vm = program.to_vm()
    c = program.config
    tm = isa.Timing.of(c)
    evs = vm.events
    crit = critical_path(vm)
    path, points = [i for i, _ in crit], [pt for _, pt in crit]
    rows: dict[str, PathRow] = {INPUT_LABEL: PathRow(INPUT_LABEL, "input", "", program.n_in,
                                                     program.n_in, 0, 0)}

    def row(i: int) -> PathRow:
        ev = evs[i]
        label, op, src = _label(program, ev.core, ev.cycle, 0 if ev.kind in ("mac", "macc")
                                else 1)
        return rows.setdefault(label, PathRow(label, op, src))

    r0 = row(path[0])
    r0.cycles += points[0]
    r0.wait += points[0]
    for k in range(len(path) - 1):
        a, ea, pa, pb = path[k], evs[path[k]], points[k], points[k + 1]
        seg = pb - pa
        # b read a's result at pb (write-first: from its write edge), or b is the OUT
        # after OUT a and could issue from a + 1
        slack = pb - (ea.write[1] if ea.write is not None else ea.cycle + 1)
        ra = row(a)
        ra.cycles += seg
        ra.wait += slack
        ra.latency += seg - slack
        ra.ops += 1
    rl = row(path[-1])
    # the OUT's beat is valid out cycles after its issue; its point is later than the issue
    # when it took its operand from a forward
    tail = evs[path[-1]].cycle + tm.out - points[-1]
    rl.cycles += tail
    rl.latency += tail
    rl.ops += 1
    total = sum(r.cycles for r in rows.values())
    if total != program.cycle_count_per_inference():
        raise AssertionError(f"critical path sums to {total} cycles, the program counts "
                             f"{program.cycle_count_per_inference()}")
    units = [{"matrix": 0, "vector": 0} for _ in range(c.num_cores)]
    slots, labels = [], {}
    for ev in sorted(evs, key=lambda e: (e.cycle, e.core)):
        slot = 0 if ev.kind in ("mac", "macc") else 1
        units[ev.core]["matrix" if slot == 0 else "vector"] += 1
        label = _label(program, ev.core, ev.cycle, slot)[0]
        labels.setdefault(label, None)
        slots.append((ev.core, ev.cycle, slot, label))
    macs = sum(u["matrix"] for u in units)
    if program.debug is not None:  # model order (the lowering's), not first issue
        order = {n.label(): k for k, n in enumerate(program.debug.nodes)}
        labels = dict.fromkeys(sorted(labels, key=lambda lb: order.get(lb, len(order))))
    return Report(
        name=program.name, config=config_name(c), cores=c.num_cores, n_in=program.n_in,
        length=program.length, cycles=program.cycle_count_per_inference(),
        clock_mhz=c.clock_mhz, out_latency=tm.out, path=path, points=points,
        by_op=list(rows.values()),
        unit_ops=units, macs=macs, mac_latency=tm.mac, labels=list(labels), slots=slots,
        has_provenance=program.debug is not None,
        **_schedule_fields(program))


def _schedule_fields(program) -> dict:
    note = None if program.debug is None else program.debug.schedule
    if note is None:
        return {}
    return {"scheduler": note.scheduler, "floor": note.floor, "floor_proven": note.proven}


def config_name(c) -> str:
    from ..hw.config import Config

    for name in ("ia_840f_c3b64", "ia_420f_c6b32"):
        if getattr(Config, name)() == c:
            return name
    return f"c{c.num_cores}b{c.block_size}"


def table(rep: Report) -> str:
    """The report's numbers as plain-text tables (the terminal view)."""
    out = [f"{rep.name} on {rep.config}: {rep.cycles} cycles per inference "
           f"({rep.us:.3f} µs at {rep.clock_mhz:g} MHz), {rep.length} bundles per core"]
    if not rep.has_provenance:
        out.append("(no provenance table in this program: ops are labelled by unit)")
    out.append("")
    out.append(f"critical path ({len(rep.path)} ops) by model op:")
    w = max(len(r.label) for r in rep.by_op)
    out.append(f"  {'model op':<{w}}  {'cycles':>6}  {'share':>6}  {'latency':>7}  "
               f"{'wait':>5}  {'ops':>4}")
    for r in rep.by_op:
        out.append(f"  {r.label:<{w}}  {r.cycles:>6}  {r.cycles / rep.cycles:>6.1%}  "
                   f"{r.latency:>7}  {r.wait:>5}  {r.ops:>4}")
    out.append(f"  {'total':<{w}}  {rep.cycles:>6}")
    out.append("")
    out.append("issue-slot utilisation over the cycles of one inference:")
    out.append("  core  matrix ops  matrix  vector ops  vector")
    for c, u in enumerate(rep.unit_ops):
        out.append(f"  {c:>4}  {u['matrix']:>10}  {u['matrix'] / rep.cycles:>6.1%}  "
                   f"{u['vector']:>10}  {u['vector'] / rep.cycles:>6.1%}")
    out.append("")
    out.append(f"MAC array: {rep.macs} MACs / ({rep.cores} cores x {rep.cycles} cycles) = "
               f"{rep.mac_util:.1%}")
    out.append(f"  throughput bound (busiest core: {rep.busiest_macs} MACs back to back): "
               f">= {rep.throughput_bound} cycles, {rep.util_at(rep.throughput_bound):.1%}")
    out.append(f"  latency bound (the critical path without waits): >= {rep.latency_bound} "
               f"cycles, {rep.util_at(rep.latency_bound):.1%}")
    if rep.floor is not None:
        how = ("proven: no schedule of this model's dataflow graph is faster" if rep.floor_proven
               else "no schedule of this model's dataflow graph is faster than this bound")
        out.append(f"  schedule floor (the optimal scheduler, CP-SAT): {rep.floor} cycles "
                   f"({how})")
    elif rep.scheduler == "list":
        out.append("  schedule: the list scheduler (compile with scheduler=\"optimal\" for the "
                   "proven floor)")
    if rep.measured is not None:
        out.append("")
        verdict = "bit-exact" if rep.rtl_ok else "MISMATCH"
        out.append(f"RTL: measured {sorted(set(rep.measured))} cycles per inference over "
                   f"{len(rep.measured)} inferences, predicted {rep.cycles} ({verdict})")
    return "\n".join(out)
