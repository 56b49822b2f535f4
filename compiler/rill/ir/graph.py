"""NNIR graphs: op kinds, nodes and the graph itself.

Nodes are frozen dataclasses in topological order; every tensor is `(*rows, features)` and ops
act on the last axis, so the compiler sees each tensor as rows of feature blocks. Passes are
`Graph -> Graph` functions with `verify` run between them.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np


class OpKind(enum.StrEnum):
    """What an NNIR node computes. A StrEnum: each kind equals (and prints as) its name."""

    INPUT = "input"
    LINEAR = "linear"
    RELU = "relu"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    MAX = "max"  # IEEE 754-2019 maximum (docs/numerics.md): the vector unit's MAX
    MIN = "min"
    ABS = "abs"
    NEG = "neg"
    # the function unit and compositions on the vector unit (compile/lower_funcs.py)
    EXP = "exp"
    EXP2 = "exp2"
    LOG = "log"
    LOG2 = "log2"
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    RECIP = "reciprocal"
    SILU = "silu"
    SOFTPLUS = "softplus"
    GELU = "gelu"  # approximate='none': x * PHI(x)
    GELU_TANH = "gelu_tanh"  # approximate='tanh'
    SOFTMAX = "softmax"  # over the features (last axis)
    LOG_SOFTMAX = "log_softmax"
    LAYER_NORM = "layer_norm"  # weight = gamma, bias = beta (or None), attrs["eps"]
    RMS_NORM = "rms_norm"  # weight = gamma (or None), attrs["eps"]
    DIV = "div"
    GT = "gt"  # 1.0 where a > b, else 0.0 (a float mask, as (a > b).float())
    GE = "ge"
    LT = "lt"
    LE = "le"
    WHERE = "where"  # inputs: the mask, then tensor operands; attrs["a"]/["b"]: constants
    LSTM = "lstm"
    GRU = "gru"
    CONV1D = "conv1d"
    LANES = "lanes"  # lane moves and sums on the matrix unit (ir/lanes.py)
    ROWS = "rows"  # weighted sums of whole rows on the vector unit (ir/lanes.py)
    OUTPUT = "output"


UNARY = frozenset({OpKind.RELU, OpKind.SIGMOID, OpKind.TANH, OpKind.ABS, OpKind.NEG,
                   OpKind.EXP, OpKind.EXP2, OpKind.LOG, OpKind.LOG2, OpKind.SQRT, OpKind.RSQRT,
                   OpKind.RECIP, OpKind.SILU, OpKind.SOFTPLUS, OpKind.GELU, OpKind.GELU_TANH,
                   OpKind.SOFTMAX, OpKind.LOG_SOFTMAX, OpKind.LAYER_NORM, OpKind.RMS_NORM})
BINARY = frozenset({OpKind.ADD, OpKind.SUB, OpKind.MUL, OpKind.MAX, OpKind.MIN, OpKind.DIV,
                    OpKind.GT, OpKind.GE, OpKind.LT, OpKind.LE})
# ops that combine the features of a row (the rest work lane by lane)
ROW_FUNCS = frozenset({OpKind.SOFTMAX, OpKind.LOG_SOFTMAX, OpKind.LAYER_NORM, OpKind.RMS_NORM})
# recurrent layers: `layers`, `seq_axis`; stateful (state pinned on chip) once streamed
RECURRENT = frozenset({OpKind.LSTM, OpKind.GRU})


@dataclasses.dataclass(frozen=True)
class LstmLayer:
    w_ih: np.ndarray  # [4H, I] float32, torch gate order i, f, g, o
    w_hh: np.ndarray  # [4H, H]
    bias: np.ndarray | None  # [4H] = b_ih + b_hh, or None


@dataclasses.dataclass(frozen=True)
class GruLayer:
    w_ih: np.ndarray  # [3H, I] float32, torch gate order r, z, n
    w_hh: np.ndarray  # [3H, H]
    b_ih: np.ndarray | None  # [3H], or None (bias=False)
    b_hh: np.ndarray | None  # [3H]: kept apart, the reset gate scales W_hn h + b_hn only


@dataclasses.dataclass(frozen=True)
class Conv1dParams:
    """A conv1d node's geometry (its weight [C_out, C_in / groups, k] is `Node.weight`). It
    convolves along axis -2 of its (*lead, L, C) operand: time on rows, channels as features."""

    kernel: int
    dilation: int = 1
    pad_left: int = 0  # zeros before the sequence (PaddedConv1d: (k - 1) * dilation)
    pad_right: int = 0
    groups: int = 1


@dataclasses.dataclass(frozen=True)
class Node:
    """One NNIR op. `inputs` name earlier nodes; `shape` is the output shape."""

    name: str
    op: OpKind  # a plain string naming a kind is converted in __post_init__
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    source: str = ""  # model source line, for errors
    weight: np.ndarray | None = None  # linear [N, K]
    bias: np.ndarray | None = None  # linear [N]
    const: np.ndarray | None = None  # binary op with a constant operand, broadcast on rows
    layers: tuple[LstmLayer, ...] | tuple[GruLayer, ...] = ()
    seq_axis: int | None = None  # lstm, gru: the sequence axis of its input
    stateful: bool = False  # lstm, gru after streaming_transform: one step per inference
    conv: Conv1dParams | None = None  # conv1d: kernel, dilation, padding, groups
    # input/output only: the torch tensor is (*lead, C, L); NNIR holds it as (*lead, L, C)
    # (docs/architecture.md, "Convolutions"); the program swaps the last two axes on the host
    channels_first: bool = False
    moves: object | None = None  # lanes: a rill.ir.lanes.LaneMap
    attrs: dict = dataclasses.field(default_factory=dict)  # eps of a norm; where's constants

    def __post_init__(self) -> None:
        if not isinstance(self.op, OpKind):
            try:
                object.__setattr__(self, "op", OpKind(self.op))
            except ValueError:
                pass  # kept as given: verify() rejects it as an unknown op, naming the node

    def where(self) -> str:
        return f"node '{self.name}' ({self.op})" + (f" at {self.source}" if self.source else "")


@dataclasses.dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    stream_axis: int | None = None  # input axis removed by streaming_transform

    @property
    def streaming(self) -> bool:
        return self.stream_axis is not None

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op is OpKind.INPUT]

    @property
    def outputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op is OpKind.OUTPUT]
