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

    seq_axis = low.rnn_seq_axis(n, mod, "GRU", "h0")
    if seq_axis is None:
        return
    (x,) = n.args

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
