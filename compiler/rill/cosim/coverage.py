"""Functional coverage of the cosim: what a regression exercised, and what it never did (holes).

Counters of our own, in two kinds:

- static bins, exact from the issued program (the bundles of every core in issue order; there
  are no stalls, so the static schedule is the timing), counted once per inference run:
  `op.<slot>.<OP>` every opcode per slot (`op.bundle.NOP`: both slots NOP; `op.m.MAC.relu`,
  `op.m.MACC.relu`: with m_relu, a ReLU folded into the matrix op's x read);
  `bank.c<N>.<operand>.<bank>` every source bank per operand (m_x, m_acc, v_a, v_b) on a config
  of N cores (`const`, `input`, `M<c>` / `V<c>` the matrix / vector bank of core c);
  `dist.<producer>.<slack>` result-to-use distance: the read cycle minus the producer's write
  edge (issue + latency - 1, docs/isa.md), `min` (0: the minimum legal distance, latency - 1)
  `min+1` .. `min+3` and `more`, per producer kind (MAC = MAC/MACC, ADD = ADD/SUB, MUL, ACT =
  TANH/SIGMOID, RELU); `MAC>acc` is a MACC's accumulator read of a MAC/MACC result (read at
  issue + mac_acc_read, so `min` is macc_distance apart: the read takes the result from the
  forward a cycle before its write edge, also counted as `dist.MAC>acc.fwd`; an ADD/SUB, MUL
  or TANH/SIGMOID/PHI result's `min` is likewise a cycle before its edge, `dist.ADD.fwd`,
  `dist.MUL.fwd`, `dist.ACT.fwd`, on ports x, a and b); `fwd.<port>` a read taken from a
  forward on that read port (`acc`, `x`, `a`, `b`); reads of a value written in the previous
  inference (streaming state) count as `dist.<producer>.prev` (not a bin);
  `chain.<n>` MACC chains by the number of blocks summed (1: a MAC alone, n: a MAC or a first
  MACC and n - 1 MACCs each accumulating the previous one's result), 9+ together.
- dynamic bins, measured by the bench (`tb_accel.py`, `RunResult.coverage`): `in.gap.<pos>` an
  idle input cycle before the first / a middle / the last beat of an inference; `out.stall.<pos>`
  output backpressure on such a beat; `fifo.peak.<level>` the output FIFO's high-water mark of a
  run (`1`, `<half`, `>=half`, `>=depth-2` near full, `full`), `fifo.room_wait` an inference
  whose start waited for room in the FIFO; `clear.idle` / `clear.run` clear_i while idle /
  during a run. The FIFO's occupancy is not a port: the bench derives it from the cycles it saw
  (input beats taken, output beats taken) and the program's OUT cycles, and checks the model
  against the cycle each output beat became valid (`fifo.model_mismatch` counts runs where it
  did not hold; their FIFO bins are not counted).

`rill.cosim.run.run` adds every run to `SESSION`; the cosim pytest suite prints its summary and
writes build/coverage.json and build/coverage.txt (the pytest plugin rill.cosim.pytest_plugin);
`rill fuzz --rtl` prints it at the end.
"""

from __future__ import annotations

import bisect
import collections
import json
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..compile.program import Program
from ..hw import isa

OPERANDS = ("m_x", "m_acc", "v_a", "v_b")
KINDS = ("MAC", "MAC>acc", "ADD", "MUL", "ACT", "RELU", "FN", "LOG", "RMAX")
SLACKS = ("min", "min+1", "min+2", "min+3", "more")
CHAIN_MAX = 8
POSITIONS = ("first", "middle", "last")
FIFO_LEVELS = ("1", "<half", ">=half", ">=depth-2", "full")
DYNAMIC_BINS = (
    *(f"in.gap.{p}" for p in POSITIONS),
    *(f"out.stall.{p}" for p in POSITIONS),
    *(f"fifo.peak.{lv}" for lv in FIFO_LEVELS),
    "fifo.room_wait",
    "clear.idle",
    "clear.run",
)
# holes that are holes on purpose, with the reason (shown next to them)
NOTES = {
    "clear.run": "not driven: docs/isa.md defines clear only between inferences (the VM's "
                 "reset()); a mid-run clear (in-flight writes, queued OUT beats) has no VM "
                 "semantics to check against",
}
GROUPS = ("op", "bank", "dist", "chain", "in", "out", "fifo", "clear")

_V_KIND = {isa.VOp.ADD: "ADD", isa.VOp.SUB: "ADD", isa.VOp.MUL: "MUL",
           **{op: "ACT" for op in isa.ACT_VOPS},  # TANH, SIGMOID, PHI
           **{op: "RELU" for op in isa.SIMPLE_VOPS},  # RELU: the compare/select path
           isa.VOp.RECIP: "FN", isa.VOp.RSQRT: "FN", isa.VOp.EXP2: "FN", isa.VOp.LOG2: "LOG",
           isa.VOp.RMAX: "RMAX"}
_V_BINARY = isa.BINARY_VOPS
_PORT = {"m_x": "x", "m_acc": "acc", "v_a": "a", "v_b": "b"}
# a producer kind's opcode as far as the forwards go (Timing.read_ahead)
_FWD_OP = {"MAC": isa.MOp.MAC, "ADD": isa.VOp.ADD, "MUL": isa.VOp.MUL, "ACT": isa.VOp.TANH,
           "RELU": isa.VOp.RELU, "FN": isa.VOp.RECIP, "LOG": isa.VOp.LOG2,
           "RMAX": isa.VOp.RMAX}
_M_OPS = frozenset(int(op) for op in isa.MOp)


def bank_label(bank: int) -> str:
    if bank == isa.BANK_CONST:
        return "const"
    if bank == isa.BANK_INPUT:
        return "input"
    return f"{'MV'[bank % 2]}{(bank - 2) // 2}"


def static_bins(num_cores: int) -> list[str]:
    """The static bins of a config of `num_cores` cores, in report order."""
    bins = [f"op.m.{op.name}" for op in isa.MOp] + [f"op.v.{op.name}" for op in isa.VOp]
    bins += ["op.m.MAC.relu", "op.m.MACC.relu"]
    bins.append("op.bundle.NOP")
    banks = [bank_label(b) for b in range(2 + 2 * num_cores)]
    bins += [f"bank.c{num_cores}.{o}.{b}" for o in OPERANDS for b in banks]
    bins += [f"dist.{k}.{s}" for k in KINDS for s in SLACKS]
    bins += ["dist.MAC>acc.fwd", "dist.MAC.fwd", "dist.ADD.fwd", "dist.MUL.fwd", "dist.ACT.fwd"]
    bins += [f"fwd.{p}" for p in ("acc", "x", "a", "b")]
    bins += [f"chain.{n}" for n in range(1, CHAIN_MAX + 1)] + [f"chain.{CHAIN_MAX + 1}+"]
    return bins


def _slack(s: int) -> str:
    return SLACKS[s] if s < len(SLACKS) - 1 else SLACKS[-1]


def analyze(program: Program) -> collections.Counter:
    """The static bins one inference of `program` hits, with counts."""
    c = program.config
    t = isa.Timing.of(c)
    hits: collections.Counter = collections.Counter()
    writes: dict[tuple[int, int], list[tuple[int, str, tuple]]] = collections.defaultdict(list)
    reads = []  # (read cycle, operand, address, reading op)
    m_ops = []  # (pc, op id, MOp)
    for core, raw in enumerate(program.bundles):
        for pc, b in enumerate(isa.decode(raw, c)):
            if b.m_op not in _M_OPS:  # an illegal bundle (hand-made): counted, not analysed
                hits["op.m.illegal"] += 1
                continue
            m, v = isa.MOp(b.m_op), isa.VOp(b.v_op)
            hits[f"op.m.{m.name}"] += 1
            hits[f"op.v.{v.name}"] += 1
            if m == isa.MOp.NOP and v == isa.VOp.NOP:
                hits["op.bundle.NOP"] += 1
            if m != isa.MOp.NOP:
                if b.m_relu:
                    hits[f"op.m.{m.name}.relu"] += 1
                op = (core, pc, "m")
                m_ops.append((pc, op, m))
                reads.append((pc, "m_x", b.m_x, op))
                if m == isa.MOp.MACC:
                    reads.append((pc + t.mac_acc_read, "m_acc", b.m_acc, op))
                writes[(isa.matrix_bank(core), b.m_dst)].append((pc + t.mac - 1, "MAC", op))
            if v != isa.VOp.NOP:
                op = (core, pc, "v")
                reads.append((pc, "v_a", b.v_a, op))
                if v in _V_BINARY:
                    reads.append((pc, "v_b", b.v_b, op))
                if v != isa.VOp.OUT:
                    writes[(isa.vector_bank(core), b.v_dst)].append(
                        (pc + t.vop(v) - 1, _V_KIND[v], op))
    for ws in writes.values():
        ws.sort()
    edges = {reg: [w[0] for w in ws] for reg, ws in writes.items()}
    parent = {}  # MACC -> the MAC/MACC whose result it accumulates (this inference)
    for cyc, operand, addr, op in reads:
        bank, idx = isa.split_addr(addr, c)
        hits[f"bank.c{c.num_cores}.{operand}.{bank_label(bank)}"] += 1
        if bank < 2:
            continue
        ws = writes.get((bank, idx))
        if not ws:
            hits["dist.unwritten"] += 1  # zero from clear_i: not a bin
            continue
        # the latest write at the read's edge, or at the next one when a forward shows it (a
        # MACC's accumulator: a matrix result; a vector or x operand: an ADD/SUB, MUL or
        # activation result)
        port = _PORT[operand]
        i = bisect.bisect_right(edges[(bank, idx)], cyc + 1) - 1
        if i >= 0 and ws[i][0] == cyc + 1 and t.read_ahead(port, _FWD_OP[ws[i][1]]) == 0:
            i -= 1
        edge, kind, producer = ws[i] if i >= 0 else ws[-1]
        ahead = t.read_ahead(port, _FWD_OP[kind])  # a read this far before the edge is on time
        if operand == "m_acc" and kind == "MAC":
            kind = "MAC>acc"
            if i >= 0:
                parent[op] = producer
        if i >= 0 and cyc < edge:
            hits[f"dist.{kind}.fwd"] += 1  # taken from a forward, not the bank
            hits[f"fwd.{port}"] += 1
        hits[f"dist.{kind}.{_slack(cyc + ahead - edge) if i >= 0 else 'prev'}"] += 1
    length, used = {}, set(parent.values())
    for _pc, op, _m in sorted(m_ops):
        length[op] = length.get(parent.get(op), 0) + 1
    for op, n in length.items():
        if op not in used:
            hits[f"chain.{n if n <= CHAIN_MAX else f'{CHAIN_MAX + 1}+'}"] += 1
    return hits


def out_pcs(program: Program) -> list[int]:
    """The issue cycles (pc) of the program's OUT ops, over all cores, in order."""
    c = program.config
    return sorted(pc for raw in program.bundles for pc, b in enumerate(isa.decode(raw, c))
                  if b.v_op == isa.VOp.OUT)


# ---------------------------------------------------------------------------------------------
# dynamic: what the bench measured


def fifo_model(outs: Sequence[int], last_in: Sequence[int], taken: Sequence[int],
               first_valid: Sequence[int], depth: int) -> tuple[int, int, bool]:
    """The output FIFO of a run, from what the bench saw: inference k starts (pc 0 issues) in
    the first cycle s > last_in[k] in which the FIFO holds at most depth - n_out beats; an OUT
    issued in cycle t is pushed at the edge ending t + 1; a beat taken in cycle c is popped at
    the edge ending c. Returns (peak occupancy, inferences that waited for room, whether the
    model predicts the cycle every beat became valid: first_valid, in order)."""
    n_out = len(outs)
    lim = depth - n_out
    pushes: list[int] = []
    waits = 0

    def count(s: int) -> int:  # beats in the FIFO in cycle s
        return bisect.bisect_left(pushes, s) - bisect.bisect_left(taken, s)

    for t_last in last_in:
        s = t_last + 1
        while count(s) > lim:
            j = bisect.bisect_left(taken, s)
            if j >= len(taken):
                return 0, waits, False  # never room: the run did not finish
            s = taken[j] + 1
        waits += s != t_last + 1
        pushes += [s + pc + 1 for pc in outs]
    peak = max((bisect.bisect_right(pushes, e) - bisect.bisect_right(taken, e) for e in pushes),
               default=0)
    ok = len(first_valid) == len(pushes) and all(
        fv == max(p + 1, taken[j - 1] + 1 if j else 0)
        for j, (p, fv) in enumerate(zip(pushes, first_valid, strict=False)))
    return peak, waits, ok


def fifo_level(peak: int, depth: int) -> str:
    if peak >= depth:
        return "full"
    if peak >= depth - 2:
        return ">=depth-2"
    if peak <= 1:
        return "1"
    return "<half" if peak < depth // 2 else ">=half"


def bench_bins(gaps: Mapping[str, int], stalls: Mapping[str, int], clears: Mapping[str, int],
               fifo: tuple[int, int, bool] | None, depth: int) -> dict[str, int]:
    """The dynamic bins of one bench run (`RunResult.coverage`)."""
    out = collections.Counter()
    for p, n in gaps.items():
        out[f"in.gap.{p}"] += n
    for p, n in stalls.items():
        out[f"out.stall.{p}"] += n
    for what, n in clears.items():
        out[f"clear.{what}"] += n
    if fifo is not None:
        peak, waits, ok = fifo
        if not ok:
            out["fifo.model_mismatch"] += 1
        elif peak:
            out[f"fifo.peak.{fifo_level(peak, depth)}"] += 1
            out["fifo.room_wait"] += waits
    return {k: int(v) for k, v in out.items() if v}


# ---------------------------------------------------------------------------------------------
# the accumulator


class Coverage:
    """Hit counts of bins; `defined` are the bins a regression should hit (the union over the
    configs it ran), everything else counted is shown as a plain counter."""

    def __init__(self) -> None:
        self.hits: collections.Counter = collections.Counter()
        self.defined: dict[str, None] = dict.fromkeys(DYNAMIC_BINS)
        self.runs = 0
        self.inferences = 0
        self.configs: collections.Counter = collections.Counter()

    def define(self, bins: Iterable[str]) -> None:
        self.defined.update(dict.fromkeys(bins))

    def add_program(self, program: Program, inferences: int = 1) -> None:
        """The static bins of `inferences` inferences of `program`."""
        self.define(static_bins(program.config.num_cores))
        for k, v in analyze(program).items():
            self.hits[k] += v * inferences

    def add_run(self, program: Program, inferences: int,
                dynamic: Mapping[str, int] | None = None) -> None:
        """One cosim run: the program's static bins, the bench's dynamic ones."""
        self.add_program(program, inferences)
        self.hits.update({k: int(v) for k, v in (dynamic or {}).items()})
        self.runs += 1
        self.inferences += inferences
        c = program.config
        self.configs[f"c{c.num_cores}b{c.block_size}"] += 1

    def merge(self, other: Coverage) -> Coverage:
        self.define(other.defined)
        self.hits.update(other.hits)
        self.runs += other.runs
        self.inferences += other.inferences
        self.configs.update(other.configs)
        return self

    def copy(self) -> Coverage:
        return Coverage().merge(self)

    def since(self, earlier: Coverage) -> Coverage:
        """What was added after `earlier` (a copy of this accumulator taken before)."""
        d = Coverage()
        d.define(self.defined)
        d.hits = self.hits - earlier.hits
        d.runs, d.inferences = self.runs - earlier.runs, self.inferences - earlier.inferences
        d.configs = self.configs - earlier.configs
        return d

    def holes(self) -> list[str]:
        return [b for b in self._ordered() if not self.hits.get(b)]

    def _ordered(self) -> list[str]:
        rank = {g: i for i, g in enumerate(GROUPS)}

        def key(b: str) -> tuple[int, int]:
            g, rest = b.split(".", 1)
            return rank.get(g, len(rank)), int(rest[1:].split(".")[0]) if g == "bank" else 0

        return sorted(self.defined, key=key)  # stable: definition order within a group

    # files -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        defined = self._ordered()
        return {"runs": self.runs, "inferences": self.inferences, "configs": dict(self.configs),
                "bins": {b: int(self.hits.get(b, 0)) for b in defined},
                "other": {k: int(v) for k, v in sorted(self.hits.items())
                          if k not in self.defined},
                "holes": self.holes(),
                "notes": {b: NOTES[b] for b in self.holes() if b in NOTES}}

    @classmethod
    def from_dict(cls, d: Mapping) -> Coverage:
        cov = cls()
        cov.define(d["bins"])
        cov.hits.update({k: v for k, v in {**d["bins"], **d.get("other", {})}.items() if v})
        cov.runs, cov.inferences = int(d["runs"]), int(d["inferences"])
        cov.configs.update(d.get("configs", {}))
        return cov

    def write(self, directory: Path, stem: str = "coverage") -> tuple[Path, Path]:
        """<stem>.json (hit counts, holes) and <stem>.txt (the summary)."""
        directory.mkdir(parents=True, exist_ok=True)
        js, txt = directory / f"{stem}.json", directory / f"{stem}.txt"
        js.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        txt.write_text(self.summary() + "\n")
        return js, txt

    def summary(self, width: int = 100) -> str:
        defined = self._ordered()
        hit = sum(1 for b in defined if self.hits.get(b))
        pct = 100.0 * hit / len(defined) if defined else 0.0
        configs = ", ".join(f"{k} x{v}" for k, v in sorted(self.configs.items()))
        lines = [f"rill cosim coverage: {self.runs} run(s), {self.inferences} inference(s) "
                 f"({configs or 'no runs'}); {hit}/{len(defined)} bins hit ({pct:.0f}%)"]
        groups: dict[str, list[str]] = collections.defaultdict(list)
        for b in defined:
            groups[b.split(".")[0]].append(b)
        for g, bins in groups.items():
            cells = [f"{b[len(g) + 1:]}={self.hits.get(b, 0)}" for b in bins]
            lines += _wrap(f"  {g:<6}", cells, width)
        other = [f"{k}={v}" for k, v in sorted(self.hits.items()) if k not in self.defined]
        if other:
            lines += _wrap("  other ", other, width)
        holes = self.holes()
        lines.append(f"HOLES ({len(holes)}):" if holes else "HOLES: none")
        by_group: dict[str, list[str]] = collections.defaultdict(list)
        for b in holes:
            by_group[b.split(".")[0]].append(b)
        for g, bins in by_group.items():
            lines += _wrap(f"  {g:<6}", [b[len(g) + 1:] for b in bins], width)
        for b in holes:
            if b in NOTES:
                lines += textwrap.wrap(f"{b}: {NOTES[b]}", width, initial_indent="  note: ",
                                       subsequent_indent="        ")
        return "\n".join(lines)


def _wrap(head: str, cells: list[str], width: int) -> list[str]:
    lines, cur = [], head
    for cell in cells:
        if len(cur) + len(cell) + 1 > width and cur.strip():
            lines.append(cur.rstrip())
            cur = " " * len(head)
        cur += cell + " "
    lines.append(cur.rstrip())
    return lines


SESSION = Coverage()  # every rill.cosim.run of this process
