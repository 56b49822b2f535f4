"""nn.GRU -> an NNIR `gru` node (the LSTM's options, shapes and errors; `convert.py` calls it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.fx

from ..ir import GruLayer, Node, OpKind

if TYPE_CHECKING:
    from .convert import _Lowering


def convert_gru(low: _Lowering, n: torch.fx.Node, mod: torch.nn.GRU) -> None:
    """Any number of layers, biases on or off, `(seq, F)` or batch-1 3-D input (batch_first
    or not). Bidirectional, an initial h0 and train-mode dropout are typed errors."""
    from .convert import source_line

    problems = []
    if mod.bidirectional:
        problems.append("bidirectional")
    if getattr(mod, "proj_size", 0):
        problems.append("proj_size")
    if len(n.args) != 1 or n.kwargs:
        problems.append("initial h0 given")
    if mod.dropout and mod.training and mod.num_layers > 1:
        problems.append(f"dropout={mod.dropout:g} in training mode (call model.eval() "
                        "first: in eval mode it is inactive)")
    if problems:
        low.fail(n, "unsupported GRU options: " + ", ".join(problems))
        return
    (x,) = n.args
    shape = low.shape(x)
    if len(shape) == 2:
        seq_axis = 0
    elif len(shape) == 3:
        seq_axis = 1 if mod.batch_first else 0
        if shape[1 - seq_axis] != 1:
            low.fail(n, f"batch size must be 1, input shape is {shape}")
            return
    else:
        low.fail(n, f"input must be (seq, features) or batch-1 3-D, got {shape}")
        return

    def param(name: str, k: int):
        return getattr(mod, f"{name}_l{k}").detach().float().numpy()

    layers = tuple(
        GruLayer(param("weight_ih", k), param("weight_hh", k),
                 param("bias_ih", k) if mod.bias else None,
                 param("bias_hh", k) if mod.bias else None)
        for k in range(mod.num_layers)
    )
    out_shape = low.shape(n)[0]  # (output, h_n): the node stands for the output sequence
    low.nodes.append(Node(n.name, OpKind.GRU, (x.name,), out_shape, source_line(n),
                          layers=layers, seq_axis=seq_axis))
    low.lstm_results.add(n.name)  # its getitem [0] is the output, [1] (h_n) must be unused
