"""The golden VM: runs a Program's bundles bit-exactly and knows its cycle count.

It does not trust the compiler. At load it decodes every bundle, applies the timing rules of
docs/isa.md to find, for every register read, which write it sees (or the value from before the
inference), and rejects illegal programs. That dataflow is then executed level by level with
vectorised numpy: one batched block reduction per level instead of a Python loop per MAC.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict

import numpy as np

from ..compile.program import Program, as_sequence
from ..errors import ProgramError, VMInputError
from ..hw import isa, numerics
from ..hw.isa import MOp, VOp
from . import kernels

_VEC_FUNCS = {
    VOp.ADD: numerics.fp32_add,
    VOp.SUB: numerics.fp32_sub,
    VOp.MUL: numerics.fp32_mul,
    VOp.RELU: numerics.relu,
    VOp.TANH: numerics.act_tanh,
    VOp.SIGMOID: numerics.act_sigmoid,
    VOp.MAX: numerics.fp32_max,
    VOp.MIN: numerics.fp32_min,
    VOp.ABS: numerics.fp32_abs,
    VOp.NEG: numerics.fp32_neg,
    VOp.PHI: numerics.act_phi,
    VOp.RECIP: numerics.fn_recip,
    VOp.RSQRT: numerics.fn_rsqrt,
    VOp.EXP2: numerics.fn_exp2,
    VOp.LOG2: numerics.fn_log2,
    VOp.GT: numerics.fp32_gt,
    VOp.GE: numerics.fp32_ge,
    VOp.KEEP: numerics.fp32_keep,
    VOp.DROP: numerics.fp32_drop,
    VOp.OR: numerics.fp32_or,
    VOp.RMAX: numerics.fp32_rmax,  # over the lanes (last axis) of each register
}

_FAST_FUNCS = {
    "ADD": kernels.add, "SUB": kernels.sub, "MUL": kernels.mul, "RELU": kernels.relu,
    "TANH": kernels.act_tanh, "SIGMOID": kernels.act_sigmoid,
    "MAX": kernels.fp32_max, "MIN": kernels.fp32_min, "ABS": kernels.fp32_abs,
    "NEG": kernels.fp32_neg,
    # the v3 ops have no specialised kernel: the numerics functions take canonical operands
    **{op.name: _VEC_FUNCS[op] for op in (VOp.PHI, VOp.RECIP, VOp.RSQRT, VOp.EXP2, VOp.LOG2,
                                          VOp.GT, VOp.GE, VOp.KEEP, VOp.DROP, VOp.OR,
                                          VOp.RMAX)},
}


def _ix(rows: list[int]) -> slice | np.ndarray:
    """Row indices as a slice when they are consecutive (a view instead of a gather)."""
    if rows and rows == list(range(rows[0], rows[0] + len(rows))):
        return slice(rows[0], rows[0] + len(rows))
    return np.array(rows, dtype=np.int64)


@dataclasses.dataclass
class _Event:
    """One op instance: what it reads (addr, cycle) and writes (addr, cycle)."""

    kind: str  # "mac" | "macc" | VOp name | "out"
    core: int
    cycle: int
    reads: list[tuple[int, int]]
    write: tuple[int, int] | None
    wslot: int = -1  # global weight slot
    relu: bool = False  # a matrix op's m_relu: it reads RELU(bf16(x))
    srcs: list[int] = dataclasses.field(default_factory=list)  # resolved version ids
    # per read: cycles before a write edge it already sees (Timing.read_ahead: the forward)
    aheads: list[int] = dataclasses.field(default_factory=list)


def _opcode(kind: str) -> MOp | VOp | None:
    """The opcode of an event kind (MAC for both matrix kinds: the forwards do not tell them
    apart; None for OUT, which writes no register)."""
    if kind in ("mac", "macc"):
        return MOp.MAC
    return None if kind == "out" else VOp[kind]


def _port(kind: str, j: int) -> str:
    """The read port of an event's j-th read (Timing.read_ahead)."""
    return isa.read_port(kind in ("mac", "macc"), j)


class VM:
    def __init__(self, program: Program):
        self.program = program
        c = program.config
        self.B = c.block_size
        self.timing = isa.Timing.of(c)
        self._decode()
        self._resolve()
        self._plan()
        self.reset()

    # load-time analysis ----------------------------------------------------------------------
    def _check_addr(self, addr: int, core: int, pc: int, field: str) -> int:
        bank, _ = isa.split_addr(addr, self.program.config)
        if bank >= self.program.config.num_banks:
            raise ProgramError(f"core {core} pc {pc}: {field} names bank {bank}, which does not "
                               f"exist ({self.program.config.num_banks} banks)")
        return addr

    def _decode(self) -> None:
        p, c = self.program, self.program.config
        tm = self.timing
        self.events: list[_Event] = []
        slot_base, base = [], 0
        for w in p.weights:
            slot_base.append(base)
            base += w.shape[0]
        for core, raw in enumerate(p.bundles):
            if raw.shape != (p.length, isa.bundle_bytes(c)):
                raise ProgramError(f"core {core}: instruction stream shape {raw.shape}, expected "
                                   f"({p.length}, {isa.bundle_bytes(c)})")
            for pc, b in enumerate(isa.decode(raw, c)):
                if b.m_op not in iter(MOp):
                    raise ProgramError(f"core {core} pc {pc}: illegal matrix opcode {b.m_op}")
                if b.m_op != MOp.NOP:
                    if b.m_w >= p.weights[core].shape[0]:
                        raise ProgramError(f"core {core} pc {pc}: weight block {b.m_w} not loaded")
                    reads = [(self._check_addr(b.m_x, core, pc, "m_x"), pc)]
                    if b.m_op == MOp.MACC:
                        reads.append((self._check_addr(b.m_acc, core, pc, "m_acc"),
                                      pc + tm.mac_acc_read))
                    dst = isa.make_addr(isa.matrix_bank(core), b.m_dst, c)
                    self.events.append(_Event(
                        "macc" if b.m_op == MOp.MACC else "mac", core, pc, reads,
                        (dst, pc + tm.mac - 1), wslot=slot_base[core] + b.m_w,
                        relu=bool(b.m_relu)))
                if b.v_op not in iter(VOp):
                    raise ProgramError(f"core {core} pc {pc}: illegal vector opcode {b.v_op}")
                if b.v_op != VOp.NOP:
                    op = VOp(b.v_op)
                    reads = [(self._check_addr(b.v_a, core, pc, "v_a"), pc)]
                    if op in isa.BINARY_VOPS:
                        reads.append((self._check_addr(b.v_b, core, pc, "v_b"), pc))
                    write = None
                    if op != VOp.OUT:
                        dst = isa.make_addr(isa.vector_bank(core), b.v_dst, c)
                        write = (dst, pc + tm.vop(op) - 1)
                    self.events.append(_Event("out" if op == VOp.OUT else op.name, core, pc,
                                              reads, write))

    def _resolve(self) -> None:
        """Point every read at the version it sees: a write's version id is its event index,
        registers as they were before the inference come after those."""
        p, c = self.program, self.program.config
        writes: dict[int, list[tuple[int, int]]] = defaultdict(list)  # addr -> [(cycle, ev idx)]
        seen_slot: dict[tuple[int, int], int] = {}
        for i, ev in enumerate(self.events):
            if ev.write is None:
                continue
            addr, cyc = ev.write
            if cyc >= p.length:
                raise ProgramError(f"core {ev.core} pc {ev.cycle}: {ev.kind} writes at cycle "
                                   f"{cyc}, after the program ends ({p.length})")
            bank = addr >> c.idx_bits
            if (bank, cyc) in seen_slot:
                raise ProgramError(f"core {ev.core} pc {ev.cycle}: two writes to bank {bank} at "
                                   f"cycle {cyc}")
            seen_slot[(bank, cyc)] = i
            writes[addr].append((cyc, i))
        for lst in writes.values():
            lst.sort()
        outs = sorted((ev.cycle, i) for i, ev in enumerate(self.events) if ev.kind == "out")
        for (a, _), (b, _) in zip(outs, outs[1:], strict=False):
            if a == b:
                raise ProgramError(f"two OUT ops in cycle {a}")
        if len(outs) != p.n_out:
            raise ProgramError(f"program declares {p.n_out} output beats but has {len(outs)} OUTs")
        self.out_events = [i for _, i in outs]

        n_ev = len(self.events)
        self.initial_addrs: list[int] = []  # versions n_ev.. are registers as they were
        initial_ver: dict[int, int] = {}
        tm = self.timing
        opcode = [_opcode(ev.kind) for ev in self.events]
        for ev in self.events:
            srcs, aheads = [], []
            for j, (addr, r) in enumerate(ev.reads):
                lst = writes.get(addr, [])
                port = _port(ev.kind, j)
                # write-first: edge r is seen; a forward also shows the write of edge r + 1
                # (a MACC's accumulator: a matrix result; an operand a/b: an ADD/SUB result)
                k = bisect.bisect_left(lst, (r + 2, -1))
                if k and lst[k - 1][0] == r + 1 and \
                        tm.read_ahead(port, opcode[lst[k - 1][1]]) == 0:
                    k -= 1
                # how far ahead of its source's write edge this read could see it (rill
                # report: a read at the edge of a forwardable result is a cycle late)
                aheads.append(tm.read_ahead(port, opcode[lst[k - 1][1]]) if k else 0)
                if k == 0:
                    if addr not in initial_ver:
                        initial_ver[addr] = n_ev + len(self.initial_addrs)
                        self.initial_addrs.append(addr)
                    srcs.append(initial_ver[addr])
                else:
                    srcs.append(lst[k - 1][1])
            ev.srcs, ev.aheads = srcs, aheads  # an event's own result is version id = its index
        self.final_writes = {addr: lst[-1][1] for addr, lst in writes.items()}

    def _plan(self) -> None:
        """Levelise the dataflow and group each level's ops by kind into vectorised batches.

        Versions are renumbered into rows of one array: registers as they were first, then each
        batch's results in order, so every batch writes one contiguous slice. Block sums get
        rows of their own, ordered by the batch that consumes them, which then reads a slice."""
        n_ev = len(self.events)
        level = [0] * (n_ev + len(self.initial_addrs))
        bs_level = {}
        # a topological order: an event's sources were written no later than it reads them,
        # and it writes strictly after it reads (a MACC reads its accumulator late, so it may
        # issue in the cycle of the ADD it reads, or before: issue order is not one)
        order = sorted(range(n_ev), key=lambda i: self.events[i].write[1]
                       if self.events[i].write is not None else self.events[i].cycle + 1)
        for i in order:
            ev = self.events[i]
            if ev.kind in ("mac", "macc"):
                bs_level[i] = level[ev.srcs[0]] + 1
                lv = bs_level[i] + 1
                if ev.kind == "macc":
                    lv = max(lv, level[ev.srcs[1]] + 1)
            else:
                lv = 1 + max(level[s] for s in ev.srcs)
            level[i] = lv
        groups: dict[tuple[int, int, str], list[int]] = defaultdict(list)
        for i in order:
            ev = self.events[i]
            if ev.kind in ("mac", "macc"):
                groups[(bs_level[i], 0, "blocksum_relu" if ev.relu else "blocksum")].append(i)
                groups[(level[i], 1, ev.kind)].append(i)
            elif ev.kind != "out":
                groups[(level[i], 1, ev.kind)].append(i)
        steps = sorted(groups.items())
        consumer = {i: n for n, (k, g) in enumerate(steps) if k[1] == 1 for i in g}
        bs_batches = [sorted(g, key=lambda i: consumer[i]) for k, g in steps
                      if k[2].startswith("blocksum")]
        self._weights_for_plan(bs_batches)
        n_init = len(self.initial_addrs)
        row = {n_ev + j: j for j in range(n_init)}  # version id -> row of V
        bs_row: dict[int, int] = {}  # mac/macc event -> row of the block sums
        self.plan = []
        for (_, _, kind), idx in steps:
            if kind.startswith("blocksum"):
                idx = bs_batches.pop(0)
                out = _ix([bs_row.setdefault(i, len(bs_row)) for i in idx])
                slots = [self.slot_of[self.events[i].wslot] for i in idx]
                self.plan.append((kind, out, _ix([row[self.events[i].srcs[0]] for i in idx]),
                                  _ix(slots)))
                continue
            idx = sorted(idx, key=lambda i: (bs_row[i] if kind in ("mac", "macc")
                                             else row[self.events[i].srcs[0]]))
            out = _ix([row.setdefault(i, len(row)) for i in idx])
            evs = [self.events[i] for i in idx]
            if kind in ("mac", "macc"):
                acc = _ix([row[e.srcs[1]] for e in evs]) if kind == "macc" else None
                self.plan.append((kind, out, _ix([bs_row[i] for i in idx]), acc))
            else:
                b = _ix([row[e.srcs[1]] for e in evs]) if len(evs[0].srcs) > 1 else None
                self.plan.append((kind, out, _ix([row[e.srcs[0]] for e in evs]), b))
        self.out_srcs = np.array([row[self.events[i].srcs[0]] for i in self.out_events], np.int64)
        self.final_addrs = np.array(list(self.final_writes), dtype=np.int64)
        self.final_vers = np.array([row[v] for v in self.final_writes.values()], dtype=np.int64)
        self.init_addrs = np.array(self.initial_addrs, dtype=np.int64)
        self.n_versions, self.n_bs = len(row), len(bs_row)
        self.version_row = row  # version id (event index) -> its row of V (vm/trace.py)

    def _weights_for_plan(self, batches: list[list[int]]) -> None:
        """Lay the VM's float64 copy of the weights out in first-use order, so most batches are
        contiguous slices (no gather copy per run)."""
        p = self.program
        all_w = np.concatenate([w.reshape(-1, self.B, self.B) for w in p.weights]) \
            if p.weights else np.zeros((0, self.B, self.B), np.uint16)
        self.slot_of: dict[int, int] = {}
        order = []
        for b in batches:
            for i in b:
                s = self.events[i].wslot
                if s not in self.slot_of:
                    self.slot_of[s] = len(order)
                    order.append(s)
        w = numerics.bf16_bits_to_f32(all_w[order]) if order else np.zeros((0, self.B, self.B))
        if not np.isfinite(w).all():
            raise ProgramError("weight image holds inf or NaN")
        self.w64 = w.astype(np.float64)
        self.w_emax, self.w_emin = numerics.exponent_range(w)
        self.w_spread = self.w_emax.astype(np.int64) - self.w_emin
        self.w_spread_max = self.w_spread.max(axis=-1, initial=-2000)

    # running ---------------------------------------------------------------------------------
    def reset(self, model_index: int | None = None) -> None:
        """Back to the state right after loading: constants loaded, everything else zero.
        model_index: None or 0 (a program of several models: `vm.multi.MultiModelVM`)."""
        if model_index is not None:
            self.program.check_model_index(model_index)
        c = self.program.config
        self.rf = np.zeros((1 << c.addr_bits, self.B), np.float32)
        k = self.program.consts.shape[0]
        self.rf[:k] = numerics.from_f32_bits(self.program.consts)
        self._canonical = kernels.is_canonical(self.rf)  # runs only ever write canonical values

    def run_beats(self, beats: np.ndarray, *, trace=None, model_index: int = 0) -> np.ndarray:
        """One inference from raw input beats ([n_in, B] bf16 bits) to output beats.
        trace: a path, a callable or a `vm.trace.Tracer`: one record per issued op (vm/trace.py);
        read from the finished run, so the run itself is the same with or without it."""
        p, c = self.program, self.program.config
        p.check_model_index(model_index)
        beats = np.asarray(beats)
        if beats.shape != (p.n_in, self.B) or beats.dtype != np.uint16:
            raise VMInputError(f"input beats: expected uint16 [{p.n_in}, {self.B}], got "
                               f"{beats.dtype} {list(beats.shape)}")
        base = isa.BANK_INPUT << c.idx_bits
        self.rf[base : base + p.n_in] = numerics.canonical(numerics.bf16_bits_to_f32(beats))
        V = np.empty((self.n_versions, self.B), np.float32)
        V[: len(self.init_addrs)] = self.rf[self.init_addrs]
        BS = np.empty((self.n_bs, self.B), np.float32)
        with np.errstate(all="ignore"):
            (self._run_fast if self._canonical else self._run_general)(V, BS)
        self.rf[self.final_addrs] = V[self.final_vers]
        if trace is not None:
            from .trace import record_run

            record_run(self, V, trace)
        return numerics.f32_to_bf16_bits(V[self.out_srcs])

    def _run_fast(self, V: np.ndarray, BS: np.ndarray) -> None:
        """Every register holds a canonical value, so the kernels for canonical operands apply."""
        for kind, out, a, b in self.plan:
            if kind.startswith("blocksum"):
                x = kernels.round_to_bf16(V[a])
                if kind == "blocksum_relu":
                    x = kernels.relu(x)
                BS[out] = kernels.block_dot(x, self.w64[b], self.w_spread[b],
                                            self.w_spread_max[b])
            elif kind == "mac":
                V[out] = BS[a]
            elif kind == "macc":
                V[out] = kernels.add(V[b], BS[a])
            else:
                f = _FAST_FUNCS[kind]
                V[out] = f(V[a]) if b is None else f(V[a], V[b])

    def _run_general(self, V: np.ndarray, BS: np.ndarray) -> None:
        """The plain numerics functions, for register images holding non-canonical values."""
        for kind, out, a, b in self.plan:
            if kind.startswith("blocksum"):
                x = numerics.round_to_bf16(V[a])
                if kind == "blocksum_relu":
                    x = _VEC_FUNCS[VOp.RELU](x)
                BS[out] = numerics.block_dot(x, self.w64[b], self.w_emax[b], self.w_emin[b])
            elif kind == "mac":
                V[out] = BS[a]
            elif kind == "macc":
                V[out] = numerics.fp32_add(V[b], BS[a])
            else:
                f = _VEC_FUNCS[VOp[kind]]
                V[out] = f(V[a]) if b is None else f(V[a], V[b])

    def run(self, x: np.ndarray, *, trace=None, model_index: int = 0) -> np.ndarray:
        """One inference: float32 in (rounded to bf16), float32 out holding bf16 values. A
        streaming program keeps its state for the next call; `reset()` clears it. trace: see
        run_beats. model_index: 0 (a program of several models: `vm.multi.MultiModelVM`)."""
        self.program.check_model_index(model_index)
        return self.program.output_from_beats(self.run_beats(self.program.input_beats(x),
                                                             trace=trace))

    def run_timesteps(self, x: np.ndarray, axis: int = 0, *, trace=None,
                      model_index: int = 0) -> np.ndarray:
        """A whole sequence through a streaming program, one element per inference; a trace
        path or callable collects every step (`inference` = the step)."""
        self.program.check_model_index(model_index)
        x = as_sequence(x, axis)
        if trace is not None:
            from .trace import Tracer

            if not isinstance(trace, Tracer):
                with Tracer(trace) as t:
                    return self.run_timesteps(x, axis, trace=t)
        return np.stack([self.run(np.take(x, t, axis=axis), trace=trace)
                         for t in range(x.shape[axis])], axis=axis)

    def cycle_count_per_inference(self, model_index: int = 0) -> int:
        return self.program.cycle_count_per_inference(model_index)

    def num_models(self) -> int:
        return self.program.num_models()
