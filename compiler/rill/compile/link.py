"""Several models in one program: `ProgramBuilder` compiles each, then links them.

    builder = rill.ProgramBuilder(config)
    builder.add_nnir(lstm_nnir, name="lstm")                  # every core
    builder.add_nnir(mlp_nnir, name="mlp", core_indices=[1])  # pinned to core 1
    program = builder.to_program()
    vm = program.to_vm(); vm.run(x, model_index=1)

Each model is compiled alone by the ordinary compiler, for the config restricted to its cores
(`dataclasses.replace(config, num_cores=len(core_indices))`; its core j is core
core_indices[j] of the machine), then relocated:

- instructions: model k's bundles are pc [base_k, base_k + P_k) of every core's instruction
  memory, base_k = P_0 + ... + P_{k-1}; a core the model does not use gets NOP bundles;
- weights: model k's blocks on a core follow models 0..k-1's there (m_w rewritten);
- constants: concatenated in model order (bank-0 register indices rewritten);
- registers: model k's indices in the cores' banks (2..) are shifted to a range [reg_lo,
  reg_hi) disjoint from every other model's, so its streaming state survives the other
  models' inferences and a clear of model k (select + clear on the RTL) zeroes only it. The
  input bank (1) is shared: every inference writes its beats there from idx 0.

A combination that does not fit is an `AllocationError` naming the model and the memory. The
timing of a model is untouched: its schedule is the one it has alone, so its outputs and cycles
are those of the same model compiled alone (for its cores).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AllocationError, InvalidProgramError, RillError
from ..hw import isa
from ..hw.config import Config
from .debuginfo import DebugInfo
from .program import ModelEntry, Program
from .validate import validate_program

if TYPE_CHECKING:
    from ..ir import NNIR

_ADDR_FIELDS = ("m_x", "m_acc", "v_a", "v_b")


def _used_fields(b: isa.Bundle) -> tuple[list[str], list[str]]:
    """The register-address fields and the destination-index fields `b` uses."""
    addrs, dsts = [], []
    if b.m_op != isa.MOp.NOP:
        addrs.append("m_x")
        if b.m_op == isa.MOp.MACC:
            addrs.append("m_acc")
        dsts.append("m_dst")
    if b.v_op != isa.VOp.NOP:
        addrs.append("v_a")
        if b.v_op in isa.BINARY_VOPS:
            addrs.append("v_b")
        if b.v_op != isa.VOp.OUT:
            dsts.append("v_dst")
    return addrs, dsts


@dataclasses.dataclass
class _Model:
    name: str
    cores: tuple[int, ...]
    program: Program  # compiled for the config restricted to `cores`


class ProgramBuilder:
    """Collects models (`add_nnir`) and links them into one program (`to_program`)."""

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"ProgramBuilder(config): a rill.Config, got {type(config).__name__}")
        self.config = config
        self._models: list[_Model] = []

    def add_nnir(self, nnir: NNIR, name: str | None = None,
                 core_indices=None) -> ProgramBuilder:
        """Compile `nnir` as the next model (index = the number added before it), on every
        core or only on `core_indices`; returns the builder (calls chain)."""
        c = self.config
        k = len(self._models)
        name = f"model{k}" if name is None else name
        if not isinstance(name, str):
            raise TypeError(f"add_nnir name={name!r}: a str")
        if k >= isa.MAX_MODELS:
            raise AllocationError(f"model {k} {name!r}: the model table holds {isa.MAX_MODELS} "
                                  f"models (isa.MAX_MODELS)")
        if core_indices is None:
            cores = tuple(range(c.num_cores))
        else:
            try:
                cores = tuple(int(i) for i in core_indices)
            except (TypeError, ValueError) as e:
                raise AllocationError(f"model {k} {name!r}: core_indices={core_indices!r}: not "
                                      f"a sequence of core numbers") from e
            if (not cores or len(set(cores)) != len(cores)
                    or not all(0 <= i < c.num_cores for i in cores)
                    or any(isinstance(i, bool) for i in core_indices)):
                raise AllocationError(f"model {k} {name!r}: core_indices={core_indices!r}: "
                                      f"distinct cores in 0..{c.num_cores - 1}")
        sub = dataclasses.replace(c, num_cores=len(cores))
        try:
            prog = nnir.to_program(sub, name=name)
        except RillError as e:  # the same type, the model named
            raise type(e)(f"model {k} {name!r}: {e}") from e
        self._models.append(_Model(name, cores, prog))
        return self

    def num_models(self) -> int:
        return len(self._models)

    def to_program(self, name: str | None = None) -> Program:
        """Link the models added so far (at least one) into one Program."""
        if not self._models:
            raise AllocationError("ProgramBuilder.to_program: no model added (add_nnir)")
        return link([(m.name, m.cores, m.program) for m in self._models], self.config, name)


def _place(prog: Program, cores: tuple[int, ...], config: Config) -> list[list[isa.Bundle]]:
    """A program compiled for len(cores) cores as bundles of `config`'s cores: its banks
    renamed (core j's banks are core cores[j]'s), NOPs on the other cores."""
    sub = prog.config
    bank_map = {isa.BANK_CONST: isa.BANK_CONST, isa.BANK_INPUT: isa.BANK_INPUT}
    for j, core in enumerate(cores):
        bank_map[isa.matrix_bank(j)] = isa.matrix_bank(core)
        bank_map[isa.vector_bank(j)] = isa.vector_bank(core)
    out = [[isa.Bundle()] * prog.length for _ in range(config.num_cores)]
    for j, core in enumerate(cores):
        placed = []
        for b in isa.decode(prog.bundles[j], sub):
            addrs, _ = _used_fields(b)
            new = {}
            for f in addrs:
                bank, idx = isa.split_addr(getattr(b, f), sub)
                new[f] = isa.make_addr(bank_map[bank], idx, config)
            placed.append(dataclasses.replace(b, **new))
        out[core] = placed
    return out


def _relocate(bundles: list[list[isa.Bundle]], config: Config, w_base: list[int],
              c_base: int, r_base: int) -> list[list[isa.Bundle]]:
    out = []
    for core, seg in enumerate(bundles):
        moved = []
        for b in seg:
            addrs, dsts = _used_fields(b)
            new = {}
            for f in addrs:
                bank, idx = isa.split_addr(getattr(b, f), config)
                if bank == isa.BANK_CONST:
                    idx += c_base
                elif bank != isa.BANK_INPUT:
                    idx += r_base
                new[f] = isa.make_addr(bank, idx, config)
            for f in dsts:
                new[f] = getattr(b, f) + r_base
            if b.m_op != isa.MOp.NOP:
                new["m_w"] = b.m_w + w_base[core]
            moved.append(dataclasses.replace(b, **new) if new else b)
        out.append(moved)
    return out


def _regs_used(bundles: list[list[isa.Bundle]], config: Config) -> int:
    """1 + the highest register index the bundles touch in the cores' banks (2..), else 0."""
    top = -1
    for seg in bundles:
        for b in seg:
            addrs, dsts = _used_fields(b)
            for f in addrs:
                bank, idx = isa.split_addr(getattr(b, f), config)
                if bank >= 2:
                    top = max(top, idx)
            for f in dsts:
                top = max(top, getattr(b, f))
    return top + 1


def link(models: list[tuple[str, tuple[int, ...], Program]], config: Config,
         name: str | None = None) -> Program:
    """(name, cores, program compiled for len(cores) cores) per model -> one Program."""
    if len(models) > isa.MAX_MODELS:
        raise AllocationError(f"{len(models)} models: the model table holds {isa.MAX_MODELS} "
                              f"(isa.MAX_MODELS)")
    c, B = config, config.block_size
    if len(models) == 1 and models[0][1] == tuple(range(c.num_cores)):
        prog = models[0][2]  # compiled for this very machine: nothing to link
        return dataclasses.replace(prog, config=c, name=name or prog.name)
    placed = [_place(p, cores, c) for _, cores, p in models]
    entries, segs = [], []
    base, c_base, r_base = 0, 0, 0
    w_base = [0] * c.num_cores
    for k, ((mname, cores, p), bundles) in enumerate(zip(models, placed, strict=True)):
        who = f"model {k} {mname!r}"
        n_regs = _regs_used(bundles, c)
        n_w = [0] * c.num_cores
        for j, core in enumerate(cores):
            n_w[core] = int(p.weights[j].shape[0])
        n_c = int(p.consts.shape[0])
        checks = (
            ("instruction memory", base, p.length, c.instr_depth, "bundles",
             "Config.instr_depth"),
            ("register file", r_base, n_regs, c.rf_depth, "registers per bank",
             "Config.rf_depth"),
            ("constant bank", c_base, n_c, c.rf_depth, "constant rows", "Config.rf_depth"),
        ) + tuple((f"weight memory of core {core}", w_base[core], n_w[core], c.weight_depth,
                   "weight blocks", "Config.weight_depth") for core in range(c.num_cores))
        for what, before, need, avail, unit, field in checks:
            if before + need > avail:
                raise AllocationError(
                    f"{who} does not fit the {what}: it needs {need} {unit} after the "
                    f"{before} of the models before it; {avail} available ({field})")
        segs.append(_relocate(bundles, c, w_base, c_base, r_base))
        entries.append(ModelEntry(
            mname, base, p.length, p.n_in, p.n_out, p.t_last_out, p.input_shape,
            p.output_shape, p.streaming_axis, bool(p.input_channels_first),
            bool(p.output_channels_first), r_base, r_base + n_regs, tuple(cores),
            tuple((w_base[core], n_w[core]) for core in range(c.num_cores)), (c_base, n_c)))
        base += p.length
        c_base += n_c
        r_base += n_regs
        for core in range(c.num_cores):
            w_base[core] += n_w[core]
    bundles = [isa.encode([b for seg in segs for b in seg[core]], c)
               for core in range(c.num_cores)]
    weights = []
    for core in range(c.num_cores):
        blocks = [p.weights[cores.index(core)] for _, cores, p in models if core in cores]
        weights.append(np.concatenate(blocks).astype(np.uint16) if blocks
                       else np.zeros((0, B, B), np.uint16))
    consts = np.concatenate([p.consts for _, _, p in models]).astype(np.uint32).reshape(-1, B)
    m0 = entries[0]
    debug = _link_debug(models, entries, c, base)
    if len(entries) == 1:  # one model on some of the cores: a one-model program
        return validate_program(Program(
            c, m0.length, m0.n_in, m0.n_out, bundles, weights, consts, m0.input_shape,
            m0.output_shape, m0.streaming_axis, m0.t_last_out, name or m0.name,
            m0.input_channels_first, m0.output_channels_first, debug=debug),
            origin=f"linked program {name or m0.name!r}")
    prog = Program(
        c, base, m0.n_in, m0.n_out, bundles, weights, consts, m0.input_shape, m0.output_shape,
        m0.streaming_axis, m0.t_last_out, name or "+".join(e.name for e in entries),
        m0.input_channels_first, m0.output_channels_first, debug=debug, models=tuple(entries))
    return validate_program(prog, origin=f"linked program {prog.name!r}")


def _link_debug(models, entries, config: Config, length: int) -> DebugInfo | None:
    """The models' provenance tables as one: each model's slots at its cores and pcs, its
    node indices and dataflow op ids after the models' before it (None unless every model
    has one). `Program.model(k)` slices model k's back out for `rill trace` / `rill report`."""
    if any(p.debug is None for _, _, p in models):
        return None
    slots = np.full((config.num_cores, length, 2, 2), -1, np.int32)
    nodes, n_ops = [], 0
    for (_, cores, p), e in zip(models, entries, strict=True):
        sub = p.debug.slots.astype(np.int32)
        shifted = np.where(sub >= 0, sub + np.array([n_ops, len(nodes)], np.int32), -1)
        for j, core in enumerate(cores):
            slots[core, e.base:e.base + e.length] = shifted[j]
        nodes += p.debug.nodes
        n_ops += p.debug.n_ops
    return DebugInfo(nodes, slots, n_ops)


def validate_models(p: Program, origin: str) -> Program:
    """A program with a model table: the table against the program, every model's segment as
    a one-model program, and the isolation the hardware relies on (each model's registers,
    weights and constants in its own ranges)."""
    c = p.config

    def bad(field: str, expected: str, actual: object) -> InvalidProgramError:
        return InvalidProgramError(f"{origin}: {field}: expected {expected}, got {actual!r}")

    table = p.models
    if not isinstance(table, tuple) or not 2 <= len(table) <= isa.MAX_MODELS \
            or not all(isinstance(e, ModelEntry) for e in table):
        raise bad("models", f"a tuple of 2..{isa.MAX_MODELS} ModelEntry", table)
    m0 = table[0]
    for f in ("n_in", "n_out", "t_last_out", "input_shape", "output_shape", "streaming_axis",
              "input_channels_first", "output_channels_first"):
        if getattr(p, f) != getattr(m0, f):
            raise bad(f, f"model 0's {getattr(m0, f)!r}", getattr(p, f))
    base, regs = 0, []
    for k, e in enumerate(table):
        who = f"models[{k}]"
        ints = (e.base, e.length, e.reg_lo, e.reg_hi, *e.consts,
                *(v for w in e.weights for v in w))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
            raise bad(who, "int fields", e)
        if e.base != base:
            raise bad(f"{who}.base", f"{base} (segments in model order, back to back)", e.base)
        base += e.length
        if not 0 <= e.reg_lo <= e.reg_hi <= c.rf_depth:
            raise bad(f"{who}.registers", f"0 <= reg_lo <= reg_hi <= {c.rf_depth}",
                      (e.reg_lo, e.reg_hi))
        if any(lo < e.reg_hi and e.reg_lo < hi for lo, hi in regs):
            raise bad(f"{who}.registers", "a range disjoint from the other models'",
                      (e.reg_lo, e.reg_hi))
        regs.append((e.reg_lo, e.reg_hi))
        if len(e.weights) != c.num_cores or any(
                lo < 0 or lo + n > p.weights[core].shape[0] for core, (lo, n) in
                enumerate(e.weights)):
            raise bad(f"{who}.weights", "block ranges inside each core's weight image",
                      e.weights)
        if e.consts[0] < 0 or sum(e.consts) > p.consts.shape[0]:
            raise bad(f"{who}.consts", f"a row range inside the {p.consts.shape[0]} constants",
                      e.consts)
        if not e.cores or not all(0 <= i < c.num_cores for i in e.cores):
            raise bad(f"{who}.cores", f"cores in 0..{c.num_cores - 1}", e.cores)
    if base != p.length:
        raise bad("length", f"the models' {base} bundles", p.length)
    for k, e in enumerate(table):
        view = p.model(k)
        validate_program(view, f"{origin}: model {k} {e.name!r}")
        for core, raw in enumerate(view.bundles):
            lo_w, n_w = e.weights[core]
            for pc, b in enumerate(isa.decode(raw, c)):
                addrs, dsts = _used_fields(b)
                idx_ok = all(e.reg_lo <= getattr(b, f) < e.reg_hi for f in dsts)
                for f in addrs:
                    bank, idx = isa.split_addr(getattr(b, f), c)
                    if bank == isa.BANK_CONST:
                        idx_ok &= e.consts[0] <= idx < sum(e.consts)
                    elif bank >= 2:
                        idx_ok &= e.reg_lo <= idx < e.reg_hi
                if b.m_op != isa.MOp.NOP:
                    idx_ok &= lo_w <= b.m_w < lo_w + n_w
                if not idx_ok:
                    raise bad(f"model {k} core {core} pc {pc}",
                              "registers, weights and constants in the model's ranges", b)
    return p
