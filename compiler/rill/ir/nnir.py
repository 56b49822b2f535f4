"""NNIR, the user-facing handle on a graph: `streaming_transform` and `to_program`, as in the
Vollo flow (`nnir.streaming_transform(0)`, `nnir.to_program(config)`).

`to_program` imports the compiler lazily, inside the method: `rill.compile` sits above `rill.ir`
(tests/test_layers.py lists this as the one documented upward edge of the layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .graph import Graph, GruLayer, LstmLayer, Node, OpKind
from .streaming import streaming_transform
from .verify import verify

if TYPE_CHECKING:
    from ..compile.program import Program
    from ..hw.config import Config

__all__ = [
    "NNIR", "Graph", "GruLayer", "LstmLayer", "Node", "OpKind", "streaming_transform", "verify"
]


class NNIR:
    """User-facing handle: `streaming_transform` and `to_program`, as in the Vollo flow."""

    def __init__(self, graph: Graph):
        self.graph = verify(graph)

    def streaming_transform(self, axis: int) -> tuple[NNIR, int]:
        g, out_axis = streaming_transform(self.graph, axis)
        return NNIR(g), out_axis

    @staticmethod
    def from_onnx(path, override_input_shapes: dict | None = None) -> NNIR:
        """An ONNX model as NNIR (`rill.frontend.onnx`); `override_input_shapes` maps an input
        name to its shape where the file leaves axes dynamic, e.g. {"x": (20, 128)}."""
        from ..frontend.onnx import from_onnx  # lazy upward edge: ir -> frontend (torch, onnx)

        return from_onnx(path, override_input_shapes)

    def to_program(self, config: Config, name: str | None = None,
                   scheduler: str = "list", effort: float = 1.0) -> Program:
        """Compile for `config`. `scheduler="optimal"` searches for a faster schedule with
        CP-SAT (needs OR-Tools) for `effort` units of its deterministic time (1: about a
        second to ten) and keeps the list scheduler's when it finds none."""
        from ..compile.compiler import compile_graph  # lazy upward edge: ir -> compile

        return compile_graph(self.graph, config, name=name, scheduler=scheduler, effort=effort)

    def __repr__(self) -> str:
        lines = [f"NNIR(stream_axis={self.graph.stream_axis})"]
        for n in self.graph.nodes:
            lines.append(f"  {n.name}: {n.op}{list(n.inputs)} -> {n.shape}")
        return "\n".join(lines)
