"""Lowering of conv1d nodes (docs/architecture.md, "Convolutions").

The operand is `(*lead, L, C_in)`: rows are time steps, features channels. Tap `j` of output
`t` reads input `t + j*d - pad_left`. Each tap's weight is expanded to a dense `[C_out, C_in]`
matrix (block-diagonal for grouped and depthwise convs) and cut into blocks; blocks that the
group structure makes zero are not stored and not multiplied, so a depthwise conv costs one MAC
per tap and block. The matrix unit does it all (bf16 weights, like every other layer): no
vector-unit op per tap, which leaves the vector slot to the activations.

One output block is one accumulation chain, tap by tap (oldest input first), the bias added
just before the newest tap:  y_t = ((W_0 x_{t-(k-1)d} + ... + W_{k-2} x_{t-d}) + b) + W_{k-1} x_t,
MAC for the first term and MACC for the rest.

Streamed (one step per inference), the state is **partial sums**, not a window of inputs:
register `S_s` (s = 1 .. (k-1)d, per output block) holds what the inputs so far contribute to
the output `s` steps ahead. Each step, with `x_t` the only new input,

    y_t     = (S_1 + b) + W_{k-1} x_t
    S_s_new = S_{s+1} + W_{k-1-s/d} x_t   if d divides s (S_{(k-1)d + 1} = nothing: a MAC)
    S_s_new = S_{s+1}                     otherwise (a copy: ADD of -0.0, exact)

so the chain's oldest terms were computed in earlier inferences and only `W_{k-1} x_t` is on
the critical path; no input is copied, and with dilation 1 no copy at all. `reset()` / `clear`
zero the S registers: exactly the padding's zero history. The non-streaming lowering builds
every chain in the same order (a zero constant where the streamed chain reads zero state), so
a streamed causal conv gives the bits of the whole-sequence program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..hw.isa import VOp
from ..hw.numerics import canonical, round_to_bf16
from ..ir import Node
from ..ir.conv import out_length
from .dataflow import Val, ValKind
from .lower import Row, Tensor, blocks, check_finite

if TYPE_CHECKING:
    from .lower import Lowering

Terms = list[tuple[int, int]]  # (input block kb, weight block id)


def conv_weights(lo: Lowering, node: Node) -> list[list[Terms]]:
    """taps[j][n]: the nonzero weight blocks of output block n for tap j, in input-block order."""
    B = lo.B
    w = np.asarray(node.weight, np.float32)  # [C_out, C_in / G, k]
    c_out, cpg, k = w.shape
    G = node.conv.groups
    opg = c_out // G
    nb, kb_n = blocks(c_out, B), blocks(cpg * G, B)
    full = np.zeros((k, nb * B, kb_n * B), np.float32)
    mask = np.zeros((nb * B, kb_n * B), bool)
    o = np.arange(c_out)
    for i in range(cpg):  # output channel o reads input channel (o // opg) * cpg + i
        col = (o // opg) * cpg + i
        full[:, o, col] = w[:, i, :].T
        mask[o, col] = True
    full = canonical(round_to_bf16(full))
    live = mask.reshape(nb, B, kb_n, B).any(axis=(1, 3))
    taps: list[list[Terms]] = []
    for j in range(k):
        per_n = []
        for n in range(nb):
            terms = []
            for kb in np.flatnonzero(live[n]).tolist():
                wid = len(lo.df.weight_blocks)
                lo.df.weight_blocks.append(full[j, n * B:(n + 1) * B, kb * B:(kb + 1) * B].copy())
                lo.df.weight_core.append(lo.next_core)
                lo.next_core = (lo.next_core + 1) % lo.df.num_cores
                terms.append((kb, wid))
            per_n.append(terms)
        taps.append(per_n)
    return taps


def _chain(lo: Lowering, terms: Terms, xrow: Row, init: Val | None) -> Val | None:
    live = [(wid, xrow[kb]) for kb, wid in terms if xrow[kb] is not None]
    return lo.chain([w for w, _ in live], [x for _, x in live], init)


def _pin(lo: Lowering, v: Val | None, key: tuple) -> None:
    """Make `v` the new value of state `key`: its producing op carries the pin, or, for a value
    some other op made (old state, a constant), an exact copy does (x + -0.0 = x, also for
    +-0 and NaN)."""
    df = lo.df
    if v is None:
        v = df.zero()
    if v.producer is None or v.producer.pin is not None:
        df.vec(VOp.ADD, v, df.const(np.full(lo.B, -0.0, np.float32)), pin=key)
        return
    v.producer.pin = key
    v.pin = key


def lower_conv(lo: Lowering, node: Node, x: Tensor) -> Tensor:
    check_finite(node, "weight", node.weight, bf16=True)
    check_finite(node, "bias", node.bias, bf16=False)
    c = node.conv
    k, d = c.kernel, c.dilation
    taps = conv_weights(lo, node)
    bias = lo.bias_vals(node.bias, node.weight.shape[0])
    nb = len(bias)
    if node.stateful:
        return [_stream_row(lo, node, r, xr, taps, bias) for r, xr in enumerate(x)]
    L = lo.g.node(node.inputs[0]).shape[-2]
    L_out = out_length(node, L)
    out: Tensor = []
    for lead in range(len(x) // L):
        xs = x[lead * L:(lead + 1) * L]
        for t in range(L_out):
            idx = [t + j * d - c.pad_left for j in range(k)]
            valid = [j for j in range(k) if 0 <= idx[j] < L]
            row: Row = []
            for n in range(nb):
                # taps before the first present input: the streamed chain reads zero state there
                acc = None if not valid or valid[0] == 0 else lo.df.zero()
                for j in range(k):
                    if j == k - 1 and k > 1 and bias[n] is not None:
                        acc = lo.df.vec(VOp.ADD, lo.materialize(acc), bias[n])
                    elif j == k - 1 and k == 1:
                        acc = bias[n]
                    if 0 <= idx[j] < L:
                        acc = _chain(lo, taps[j][n], xs[idx[j]], acc)
                row.append(acc)
            out.append(row)
    return out


def _stream_row(lo: Lowering, node: Node, r: int, xr: Row, taps, bias) -> Row:
    k, d = node.conv.kernel, node.conv.dilation
    D = (k - 1) * d
    out: Row = []
    for n in range(len(bias)):
        key = ("conv", node.name, r, n)
        S = {s: Val(ValKind.STATE, pin=(*key, s)) for s in range(1, D + 1)}
        if D:
            init = S[1] if bias[n] is None else lo.df.vec(VOp.ADD, S[1], bias[n])
        else:
            init = bias[n]
        out.append(_chain(lo, taps[k - 1][n], xr, init))
        for s in range(1, D + 1):
            old = S.get(s + 1)
            v = _chain(lo, taps[k - 1 - s // d][n], xr, old) if s % d == 0 else old
            _pin(lo, v, (*key, s))
    return out
