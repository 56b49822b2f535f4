"""Convolutions in NNIR: the verifier's check of a conv1d node, and what streaming does to one.

Layout (docs/architecture.md, "Convolutions"): NNIR tensors are `(*rows, features)`; a conv
operand `(*lead, C, L)` in torch is held as `(*lead, L, C)`, time on rows and channels as
features, and a conv1d node convolves along axis -2. Only the graph's input and output record
the torch layout (`Node.channels_first`), for the program's host-side conversion and for
mapping streaming axes; the frontend checks every other op against it.
"""

from __future__ import annotations

import dataclasses

from ..errors import NNIRError, UnsupportedError
from .graph import Node


def torch_shape(n: Node) -> tuple[int, ...]:
    """The shape the user sees: NNIR's with the last two axes swapped when channels-first."""
    s = tuple(n.shape)
    return s[:-2] + (s[-1], s[-2]) if n.channels_first and len(s) >= 2 else s


def out_length(n: Node, length: int) -> int:
    c = n.conv
    return length + c.pad_left + c.pad_right - (c.kernel - 1) * c.dilation


def check_conv(n: Node, x: Node) -> None:
    c, w = n.conv, n.weight
    if c is None or w is None or w.ndim != 3:
        raise NNIRError(f"{n.where()}: a conv1d needs its parameters and a [C_out, C_in/groups, "
                        f"k] weight")
    if min(c.kernel, c.dilation, c.groups) < 1 or min(c.pad_left, c.pad_right) < 0:
        raise NNIRError(f"{n.where()}: bad geometry {c}")
    if len(x.shape) < 2 and not n.stateful:
        raise NNIRError(f"{n.where()}: operand shape {x.shape} has no time axis")
    c_in = x.shape[-1]
    c_out = w.shape[0]
    ok = w.shape[2] == c.kernel and c_in % c.groups == 0 and c_out % c.groups == 0
    ok = ok and w.shape[1] * c.groups == c_in
    ok = ok and (n.bias is None or tuple(n.bias.shape) == (c_out,))
    if not ok:
        raise NNIRError(f"{n.where()}: weight {tuple(w.shape)} (groups={c.groups}) does not fit "
                        f"{c_in} input channels")
    if n.stateful:
        want = x.shape[:-1] + (c_out,)
    else:
        want = x.shape[:-2] + (out_length(n, x.shape[-2]), c_out)
    if tuple(n.shape) != want:
        raise NNIRError(f"{n.where()}: shape {n.shape}, expected {want} from operand {x.shape}")


def stream_axis_of(inp: Node, axis: int) -> tuple[int, int]:
    """The user's streaming axis of the input (torch layout) -> (that axis normalised, the NNIR
    axis it is). Streaming a channels-first input's time axis (its last) removes NNIR axis -2;
    its channel axis is the feature axis and cannot be streamed."""
    rank = len(inp.shape)
    ax = axis + rank if axis < 0 else axis
    if not inp.channels_first or not 0 <= ax < rank:
        return ax, ax
    if ax == rank - 2:
        raise NNIRError(f"streaming axis {axis} of input shape {torch_shape(inp)} is its channel "
                        f"axis (the convolutions' features); stream the time axis {rank - 1}")
    return ax, rank - 2 if ax == rank - 1 else ax


def out_stream_axis(out: Node, ax: int) -> int:
    """The NNIR axis `ax` as an axis of the output in torch layout."""
    rank = len(out.shape)
    return rank - 1 if out.channels_first and ax == rank - 2 else ax


def stream_node(n: Node, ax: int, shape: tuple[int, ...]) -> Node:
    """Streaming a node: a conv along the streamed axis becomes stateful, which needs a causal
    conv (all its padding on the left: none, or PaddedConv1d's (k - 1) * dilation, both meaning
    zero history); channels-first tensors lose the flag with their time axis."""
    rank = len(n.shape)
    kw = {"shape": shape}
    if n.channels_first and ax == rank - 2:
        kw["channels_first"] = False
    if n.conv is not None and ax == rank - 2:
        c = n.conv
        causal = (c.kernel - 1) * c.dilation
        if c.pad_right or c.pad_left not in (0, causal):
            raise UnsupportedError(
                f"{n.where()}: padding (left {c.pad_left}, right {c.pad_right}) cannot be "
                f"streamed: a streamed conv sees only the past, so it must be causal "
                f"(rill.nn.PaddedConv1d, or padding=0 for torch's shorter output)"
            )
        kw["stateful"] = True
    return dataclasses.replace(n, **kw)
