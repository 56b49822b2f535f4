"""Layer `ir`: NNIR, rill's typed graph IR between the torch frontend and the compiler.

`graph` (op kinds, nodes, graphs), `verify` (the verifier), `streaming` (streaming_transform)
and `nnir` (the user-facing `NNIR` handle). Depends on `rill.errors` only (`hw` is allowed).
The single upward edge, `NNIR.to_program` -> `rill.compile`, is a lazy import inside that method.
"""

from .graph import Graph, GruLayer, LstmLayer, Node, OpKind
from .nnir import NNIR
from .streaming import streaming_transform
from .verify import verify

__all__ = [
    "Graph", "GruLayer", "LstmLayer", "Node", "OpKind", "NNIR", "streaming_transform", "verify"
]
