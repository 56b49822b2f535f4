"""streaming_transform: remove the sequence axis so that each inference is one step."""

from __future__ import annotations

import dataclasses

from ..errors import NNIRError
from .conv import out_stream_axis, stream_axis_of, stream_node
from .graph import RECURRENT, Graph, Node, OpKind
from .lanes import stream_lanes, stream_rows
from .verify import verify


def streaming_transform(g: Graph, axis: int) -> tuple[Graph, int]:
    """Remove sequence axis `axis` of the input everywhere: every op then handles one element
    of the sequence per inference and LSTMs and GRUs keep their state on chip between
    inferences."""
    verify(g)
    if g.streaming:
        raise NNIRError("graph is already streaming")
    inp = g.inputs[0]  # several inputs: each streams on the same axis
    rank = len(inp.shape)
    user_ax, ax = stream_axis_of(inp, axis)  # the user's axis, and the NNIR axis it is
    if any(stream_axis_of(i, axis)[1] != ax or len(i.shape) != rank for i in g.inputs[1:]):
        raise NNIRError(f"streaming axis {axis}: the inputs differ in rank or layout")
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
        if n.op in RECURRENT and n.seq_axis != ax:
            raise NNIRError(f"{n.where()}: its sequence axis is {n.seq_axis}, not {ax}")
        shape = n.shape[:ax] + n.shape[ax + 1 :]
        n = dataclasses.replace(n, stateful=n.op in RECURRENT)
        if n.op in (OpKind.LANES, OpKind.ROWS):  # their maps lose the streamed axis
            ins = [g.node(i) for i in n.inputs]
            n = (stream_lanes if n.op is OpKind.LANES else stream_rows)(n, ax, ins)
        out.append(stream_node(n, ax, shape))  # convs: stateful; channels-first flags
    return verify(Graph(tuple(out), stream_axis=user_ax)), out_stream_axis(g.outputs[0], ax)
