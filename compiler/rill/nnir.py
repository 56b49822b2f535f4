"""NNIR: rill's typed graph IR between the torch frontend and the compiler.

Nodes are frozen dataclasses in topological order; every tensor is `(*rows, features)` and ops
act on the last axis, so the compiler sees each tensor as rows of feature blocks. Passes are
`Graph -> Graph` functions with `verify` run between them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from .errors import NNIRError

if TYPE_CHECKING:
    from .config import Config
    from .program import Program

UNARY = ("relu", "sigmoid", "tanh")
BINARY = ("add", "sub", "mul")


@dataclasses.dataclass(frozen=True)
class LstmLayer:
    w_ih: np.ndarray  # [4H, I] float32, torch gate order i, f, g, o
    w_hh: np.ndarray  # [4H, H]
    bias: np.ndarray | None  # [4H] = b_ih + b_hh, or None


@dataclasses.dataclass(frozen=True)
class Node:
    """One NNIR op. `inputs` name earlier nodes; `shape` is the output shape."""

    name: str
    op: str  # input | linear | relu | sigmoid | tanh | add | sub | mul | lstm | output
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    source: str = ""  # model source line, for errors
    weight: np.ndarray | None = None  # linear [N, K]
    bias: np.ndarray | None = None  # linear [N]
    const: np.ndarray | None = None  # binary op with a constant operand, broadcast on rows
    layers: tuple[LstmLayer, ...] = ()
    seq_axis: int | None = None  # lstm: the sequence axis of its input
    stateful: bool = False  # lstm after streaming_transform: one step per inference

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
        return [n for n in self.nodes if n.op == "input"]

    @property
    def outputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "output"]


def verify(g: Graph) -> Graph:
    """Check structure and shapes; raise NNIRError naming the node."""
    seen: dict[str, Node] = {}
    for n in g.nodes:
        if n.name in seen:
            raise NNIRError(f"{n.where()}: duplicate node name")
        for i in n.inputs:
            if i not in seen:
                raise NNIRError(f"{n.where()}: input '{i}' is not defined before it")
        ins = [seen[i] for i in n.inputs]
        if n.op == "input":
            if ins or not n.shape:
                raise NNIRError(f"{n.where()}: an input takes no operands and needs a shape")
        elif n.op == "linear":
            (x,) = ins
            k = n.weight.shape[1]
            if x.shape[-1] != k or n.shape != x.shape[:-1] + (n.weight.shape[0],):
                raise NNIRError(
                    f"{n.where()}: weight {tuple(n.weight.shape)} expects {k} input features, "
                    f"got shape {x.shape} -> {n.shape}"
                )
        elif n.op in UNARY:
            if len(ins) != 1 or ins[0].shape != n.shape:
                raise NNIRError(f"{n.where()}: expects one operand of shape {n.shape}")
        elif n.op in BINARY:
            if n.const is not None:
                ok = len(ins) == 1 and ins[0].shape == n.shape
                ok = ok and n.const.ndim == 1 and n.const.shape[0] == n.shape[-1]
            else:
                ok = len(ins) == 2 and ins[0].shape == ins[1].shape == n.shape
            if not ok:
                raise NNIRError(
                    f"{n.where()}: operand shapes {[i.shape for i in ins]} do not match {n.shape}"
                )
        elif n.op == "lstm":
            (x,) = ins
            if not n.layers or x.shape[-1] != n.layers[0].w_ih.shape[1]:
                raise NNIRError(f"{n.where()}: input features {x.shape[-1]} do not match weights")
        elif n.op == "output":
            if len(ins) != 1 or ins[0].shape != n.shape:
                raise NNIRError(f"{n.where()}: output must repeat its operand's shape")
        else:
            raise NNIRError(f"{n.where()}: unknown op")
        seen[n.name] = n
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise NNIRError(
            f"rill programs take one input and give one output; graph has "
            f"{len(g.inputs)} inputs and {len(g.outputs)} outputs"
        )
    return g


def streaming_transform(g: Graph, axis: int) -> tuple[Graph, int]:
    """Remove sequence axis `axis` of the input everywhere: every op then handles one element
    of the sequence per inference and LSTMs keep their state on chip between inferences."""
    verify(g)
    if g.streaming:
        raise NNIRError("graph is already streaming")
    (inp,) = g.inputs
    rank = len(inp.shape)
    ax = axis + rank if axis < 0 else axis
    if not 0 <= ax < rank - 1:
        raise NNIRError(
            f"streaming axis {axis} of input shape {inp.shape}: must be a leading (row) axis, "
            f"not the feature axis"
        )
    out: list[Node] = []
    for n in g.nodes:
        if len(n.shape) != rank:
            raise NNIRError(
                f"{n.where()}: shape {n.shape} changes rank, so axis {ax} cannot be streamed"
            )
        if n.op == "lstm" and n.seq_axis != ax:
            raise NNIRError(f"{n.where()}: its sequence axis is {n.seq_axis}, not {ax}")
        shape = n.shape[:ax] + n.shape[ax + 1 :]
        out.append(dataclasses.replace(n, shape=shape, stateful=n.op == "lstm"))
    return verify(Graph(tuple(out), stream_axis=ax)), ax


class NNIR:
    """User-facing handle: `streaming_transform` and `to_program`, as in the Vollo flow."""

    def __init__(self, graph: Graph):
        self.graph = verify(graph)

    def streaming_transform(self, axis: int) -> tuple[NNIR, int]:
        g, out_axis = streaming_transform(self.graph, axis)
        return NNIR(g), out_axis

    def to_program(self, config: Config, name: str | None = None) -> Program:
        from .compiler import compile_graph

        return compile_graph(self.graph, config, name=name)

    def __repr__(self) -> str:
        lines = [f"NNIR(stream_axis={self.graph.stream_axis})"]
        for n in self.graph.nodes:
            lines.append(f"  {n.name}: {n.op}{list(n.inputs)} -> {n.shape}")
        return "\n".join(lines)
