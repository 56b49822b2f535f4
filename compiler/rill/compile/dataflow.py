"""The compiler's dataflow graph: block-sized values and the ops between them.

NNIR is lowered to this (`lower.py`), then scheduled (`schedule.py`), register-allocated
(`regalloc.py`) and emitted (`emit.py`).
A value is one register's worth: `block_size` fp32 lanes.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from ..hw.isa import MOp, VOp


class ValKind(enum.Enum):
    INPUT = "input"  # input-stream beat, bank 1
    CONST = "const"  # constant bank 0
    STATE = "state"  # streaming state as it was when the inference started
    OP = "op"  # produced by an op in this program


@dataclasses.dataclass(eq=False, repr=False)
class Val:
    kind: ValKind
    index: int = 0  # beat (INPUT) or constant index (CONST)
    producer: Op | None = None
    pin: tuple | None = None  # state key: the STATE value and the op writing the new state share it

    def __repr__(self) -> str:
        src = f"Op#{self.producer.id}" if self.producer else self.index
        return f"Val({self.kind.value}, {src})"


@dataclasses.dataclass(eq=False, repr=False)
class Op:
    id: int
    opcode: MOp | VOp
    operands: tuple[Val, ...]  # MAC: (x,); MACC: (x, acc); vector ops: (a,) or (a, b)
    out: Val | None
    core: int | None = None  # fixed for matrix ops (their weight block's core)
    wblock: int = -1  # global weight block id (matrix ops)
    after: Op | None = None  # must issue at least a cycle after this op (OUT order)
    pin: tuple | None = None
    x_relu: bool = False  # a matrix op reading RELU(bf16(x)) (isa.Bundle.m_relu; fold_relu)
    node: str = ""  # the NNIR node it was lowered from (Program.debug, rill trace / report)
    detail: str = ""  # a finer scope within that node, e.g. "layer 1"

    def __repr__(self) -> str:  # the default would recurse through the whole graph
        return f"Op#{self.id}({self.opcode.name}, core={self.core})"

    @property
    def is_matrix(self) -> bool:
        return isinstance(self.opcode, MOp)

    @property
    def is_macc(self) -> bool:
        # MOp and VOp are IntEnums: VOp.SUB == MOp.MACC, so always check the type first
        return self.is_matrix and self.opcode == MOp.MACC


@dataclasses.dataclass
class Dataflow:
    """Everything the scheduler needs, built by the lowering."""

    num_cores: int
    block_size: int
    ops: list[Op] = dataclasses.field(default_factory=list)
    consts: list[np.ndarray] = dataclasses.field(default_factory=list)  # fp32 [B] each
    weight_blocks: list[np.ndarray] = dataclasses.field(default_factory=list)  # bf16 [B, B]
    weight_core: list[int] = dataclasses.field(default_factory=list)
    n_inputs: int = 0
    outputs: list[Op] = dataclasses.field(default_factory=list)
    _const_ids: dict[bytes, Val] = dataclasses.field(default_factory=dict)
    node: str = ""  # the NNIR node being lowered: new ops record it (provenance)
    detail: str = ""  # and a finer scope within it, if the lowering sets one

    def const(self, lanes: np.ndarray) -> Val:
        lanes = np.asarray(lanes, dtype=np.float32)
        key = lanes.tobytes()
        if key not in self._const_ids:
            self._const_ids[key] = Val(ValKind.CONST, index=len(self.consts))
            self.consts.append(lanes)
        return self._const_ids[key]

    def zero(self) -> Val:
        return self.const(np.zeros(self.block_size, np.float32))

    def op(self, opcode: MOp | VOp, *operands: Val, core: int | None = None, wblock: int = -1,
           pin: tuple | None = None) -> Op:
        out = None if opcode == VOp.OUT else Val(ValKind.OP, pin=pin)
        o = Op(len(self.ops), opcode, tuple(operands), out, core=core, wblock=wblock, pin=pin,
               node=self.node, detail=self.detail)
        if out is not None:
            out.producer = o
        self.ops.append(o)
        return o

    def vec(self, opcode: VOp, *operands: Val, pin: tuple | None = None) -> Val:
        return self.op(opcode, *operands, pin=pin).out

    def out(self, v: Val) -> None:
        o = self.op(VOp.OUT, v)
        o.after = self.outputs[-1] if self.outputs else None
        self.outputs.append(o)


def fold_relu(df: Dataflow) -> int:
    """Fold RELU ops into the matrix ops that read them (`isa.Bundle.m_relu`: the matrix unit
    zeroes x's negative lanes in its first stage, docs/isa.md), so a ReLU between two Linears
    costs no cycle: the MAC reads the ReLU's operand. A RELU left without readers (every one
    a matrix op's x) is dropped; one that an OUT, a vector op or a MACC's accumulator reads
    stays for them. Op ids are renumbered (they are list indices). Returns the RELUs
    dropped."""
    def is_relu(o: Op | None) -> bool:
        return o is not None and not o.is_matrix and o.opcode == VOp.RELU and o.pin is None

    def relu_of(v: Val) -> Op | None:
        return v.producer if is_relu(v.producer) else None

    for o in df.ops:
        if o.is_matrix:
            x, r = o.operands[0], relu_of(o.operands[0])
            while r is not None:  # RELU(RELU(x)) = RELU(x)
                x, o.x_relu = r.operands[0], True
                r = relu_of(x)
            o.operands = (x, *o.operands[1:])
    read = {id(v) for o in df.ops for v in o.operands}
    keep = [o for o in df.ops if not is_relu(o) or id(o.out) in read] \
        if any(o.x_relu for o in df.ops) else df.ops
    dropped = len(df.ops) - len(keep)
    if dropped:
        # a dropped RELU's operand may itself be a RELU read only by it: drop to a fixpoint
        df.ops = keep
        for i, o in enumerate(df.ops):
            o.id = i
        dropped += fold_relu(df)
    return dropped
