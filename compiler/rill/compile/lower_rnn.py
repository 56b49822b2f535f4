"""The GRU lowering (`nn.GRU`, torch's equations and gate order r, z, n):

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)       one matvec over [x blocks | h blocks]
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)       with the summed bias, like the LSTM's
    n  = tanh((W_in x + b_in) + r * (W_hn h + b_hn))  two matvecs: r scales the h part only
    h' = n * (1 - z) + z * h                          (ATen: `(h - n).mul_(z).add_(n)`, equal
                                                       in exact arithmetic; ours has one MUL
                                                       and one ADD after n, not three ops)

Every op is an existing one (MAC/MACC, ADD, SUB, MUL, SIGMOID, TANH). Streaming, h lives in a
pinned vector register per hidden block (the op writing h' and the STATE value share the pin);
the sequence program starts from zero constants and computes every op of the first step as the
streaming program does. Each matvec accumulates its blocks in one fixed order in both programs
(inputs and the state first, then the blocks produced by this inference in order), so a
streamed run gives the sequence program's bits.

A layer on the model input computes its h parts W_h{r,z,n} h one step ahead, at the end of the
step that makes h, and keeps them as state too (`lower_gru`): the step's critical path then
starts from the x part alone (docs/architecture.md, "GRU").
"""

from __future__ import annotations

import math

import numpy as np

from ..hw.isa import MOp, VOp
from ..ir import Node
from .dataflow import Val, ValKind
from .lower import Lowering, Row, Tensor, blocks, check_finite


def _order(row: Row, n_state: int) -> tuple[list[int], list[int]]:
    """Operand order over `row + state`, as (present, produced): what is there when a step
    starts (inputs, constants, and the recurrent state, which the streaming program holds from
    cycle 0), then what this step produces, in production order. The state ranks as present in
    the sequence program too, where it is produced: both programs accumulate alike."""
    live = [k for k in range(len(row)) if row[k] is not None]
    present = [k for k in live if row[k].producer is None]
    produced = sorted((k for k in live if row[k].producer is not None),
                      key=lambda k: row[k].producer.id)
    return present + [len(row) + j for j in range(n_state)], produced


def _split(low: Lowering, macs: int, chain_len: int) -> int:
    """Sub-chains per output block (as `Lowering.split_factor`, over all of a step's MACs)."""
    tm = low.timing
    issue = math.ceil(macs / low.df.num_cores)

    def estimate(s: int) -> int:
        depth = math.ceil(math.log2(s)) if s > 1 else 0
        return max(issue, tm.macc_distance * math.ceil(chain_len / s)) + (tm.add - 1) * depth

    return min(range(1, max(chain_len, 1) + 1), key=lambda s: (estimate(s), s))


def _tree(low: Lowering, parts: list[Val], pin: tuple | None = None) -> Val:
    """Sum by a tree of ADDs (the root pinned as state if `pin`)."""
    while len(parts) > 1:
        last = len(parts) == 2
        parts = [low.df.vec(VOp.ADD, parts[i], parts[i + 1], pin=pin if last else None)
                 if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def _chain(low: Lowering, wids: list[int], xs: Row, init: Val | None,
           pin: tuple | None = None) -> Val | None:
    """MAC/MACC chain as `Lowering.chain`, its last op pinned as state if `pin`."""
    acc = init
    for i, (wid, v) in enumerate(zip(wids, xs, strict=True)):
        p = pin if i == len(wids) - 1 else None
        core = low.df.weight_core[wid]
        acc = (low.df.op(MOp.MAC, v, core=core, wblock=wid, pin=p) if acc is None else
               low.df.op(MOp.MACC, v, acc, core=core, wblock=wid, pin=p)).out
    return acc


def _matvec(low: Lowering, wrow: list[int], xs: Row, order: tuple[list[int], list[int]],
            bias: Val | None, split: int, pin: tuple | None = None) -> Val | None:
    """One output block. The present operands (ready when the step starts) are cut into
    `split` sub-chains, the first on `bias` (any value: the accumulator it starts from), joined
    by a tree of ADDs; the produced operands follow, arriving together at the end of their
    layer's step, in sub-chains of their own (the first continuing the present sum)."""
    present, produced = ([k for k in ks if xs[k] is not None] for ks in order)
    n_p = _split_after(low, len(produced)) if produced else 0
    groups = [present[i::split] for i in range(split)]
    tails = [produced[i::n_p] for i in range(n_p)]
    groups = [g for g in groups if g]
    tails = [g for g in tails if g]
    last_pin = pin if not tails and len(groups) == 1 else None
    parts = [_chain(low, [wrow[k] for k in g], [xs[k] for k in g], bias if i == 0 else None,
                    pin=last_pin)
             for i, g in enumerate(groups)]
    parts = [p for p in parts if p is not None]
    acc = _tree(low, parts, pin=pin if not tails else None) if parts else bias
    if not tails:
        if pin is not None and (acc is None or acc.pin != pin):
            raise AssertionError("pinned matvec without operands")
        return acc
    parts = [_chain(low, [wrow[k] for k in g], [xs[k] for k in g], acc if i == 0 else None,
                    pin=pin if len(tails) == 1 else None)
             for i, g in enumerate(tails)]
    return _tree(low, parts, pin=pin if len(tails) > 1 else None)


def _split_after(low: Lowering, n: int) -> int:
    """Sub-chains for `n` operands that arrive together (no issue bound: few MACs)."""
    tm = low.timing

    def estimate(s: int) -> int:
        depth = math.ceil(math.log2(s)) if s > 1 else 0
        return tm.macc_distance * math.ceil(n / s) + (tm.add - 1) * depth

    return min(range(1, n + 1), key=lambda s: (estimate(s), s))


def lower_gru(low: Lowering, node: Node, x: Tensor) -> Tensor:
    B, df = low.B, low.df
    if node.stateful and len(x) != 1:
        raise AssertionError(f"{node.where()}: streaming GRUs run one step per run")
    for li, layer in enumerate(node.layers):
        df.detail = f"layer {li}" if len(node.layers) > 1 else ""  # provenance
        check_finite(node, f"layer {li} w_ih", layer.w_ih, bf16=True)
        check_finite(node, f"layer {li} w_hh", layer.w_hh, bf16=True)
        check_finite(node, f"layer {li} b_ih", layer.b_ih, bf16=False)
        check_finite(node, f"layer {li} b_hh", layer.b_hh, bf16=False)
        H = layer.w_hh.shape[1]
        I = layer.w_ih.shape[1]  # noqa: E741
        hb, ib = blocks(H, B), blocks(I, B)
        has_bias = layer.b_ih is not None
        if has_bias:
            with np.errstate(over="ignore"):  # an inf sum is named just below
                rz_bias = (layer.b_ih[: 2 * H] + layer.b_hh[: 2 * H]).astype(np.float32)
            check_finite(node, f"layer {li} r, z bias (b_ih + b_hh)", rz_bias, bf16=False)
        gates, bias = [], []  # per gate r, z, n: ids[n][k] over [x blocks | h blocks]
        for g in range(3):
            rows = slice(g * H, (g + 1) * H)
            w = np.zeros((hb * B, (ib + hb) * B), np.float32)
            w[:H, :I] = layer.w_ih[rows]
            w[:H, ib * B : ib * B + H] = layer.w_hh[rows]
            gates.append(low.weight_matrix(w, node))
            b = None if not has_bias else rz_bias[rows] if g < 2 else layer.b_ih[rows]
            bias.append(low.bias_vals(b, H))
        b_hn = low.bias_vals(layer.b_hh[2 * H :] if has_bias else None, H)

        # A layer whose input is there when the step starts (the model input) has its h parts
        # W_h{r,z,n} h computed one step ahead: at the end of the step that makes h (so after
        # the step's outputs, off its latency), kept as state beside h (zero after a reset,
        # W 0 = +0). The step then only adds its x part to them. Deeper layers wait for their
        # input anyway and compute the h part in the step, from cycle 0.
        ahead = all(v is None or v.producer is None for row in x for v in row)
        if node.stateful:
            h: Row = [Val(ValKind.STATE, pin=("h", node.name, li, j)) for j in range(hb)]
            hw = [[Val(ValKind.STATE, pin=("hw", node.name, li, g, j)) for j in range(hb)]
                  for g in range(3)]
        else:  # zero state, computed with as the streaming program does: the same bits
            h = [df.zero()] * hb
            hw = [[df.zero()] * hb for _ in range(3)]
        out: Tensor = []
        for t, row in enumerate(x):
            xin = row + h
            o_xh = _order(row, hb)
            o_x = ([k for k in o_xh[0] if k < len(row)], o_xh[1])
            o_h = (list(range(hb)), [])
            n_x = sum(v is not None for v in row)
            step_macs = hb * 3 * (n_x + (0 if ahead else hb))
            s_xh, s_x = (_split(low, step_macs, len(o[0])) for o in (o_xh, o_x))
            s_h = _split(low, hb * 3 * (n_x + hb), hb)
            # hidden block by hidden block (as the LSTM): the next layer starts on the first
            # blocks of h'; the h part of n depends on the old h only and can start at once
            pre = []
            for j in range(hb):
                if ahead:
                    init = [hw[g][j] if bias[g][j] is None else df.vec(VOp.ADD, hw[g][j],
                                                                        bias[g][j])
                            for g in range(2)]
                    r, z = (_matvec(low, gates[g][j][:ib], row, o_x, init[g], s_x)
                            for g in range(2))
                    hn = hw[2][j] if b_hn[j] is None else df.vec(VOp.ADD, hw[2][j], b_hn[j])
                else:
                    hn = _matvec(low, gates[2][j][ib:], h, o_h, b_hn[j], s_h)
                    r, z = (_matvec(low, gates[g][j], xin, o_xh, bias[g][j], s_xh)
                            for g in range(2))
                xn = _matvec(low, gates[2][j][:ib], row, o_x, bias[2][j], s_x)
                pre.append((r, z, xn, hn))
            new_h: Row = []
            for j, (r, z, xn, hn) in enumerate(pre):
                pin = ("h", node.name, li, j) if node.stateful else None
                r, z, xn, hn = (low.materialize(v) for v in (r, z, xn, hn))
                r = df.vec(VOp.SIGMOID, r)
                n = df.vec(VOp.TANH, df.vec(VOp.ADD, xn, df.vec(VOp.MUL, hn, r)))
                z = df.vec(VOp.SIGMOID, z)
                # h' = n (1 - z) + z h: only a MUL and an ADD after n (ATen's (h - n) z + n
                # takes three ops there); z h even where h is the zero initial state
                one_z = df.vec(VOp.SUB, df.const(np.ones(B, np.float32)), z)
                hj = df.vec(VOp.ADD, df.vec(VOp.MUL, n, one_z), df.vec(VOp.MUL, z, h[j]),
                            pin=pin)
                new_h.append(hj)
            h = new_h
            out.append(list(new_h))
            if ahead and (node.stateful or t + 1 < len(x)):  # the next step's h parts
                hw = [[_matvec(low, gates[g][j][ib:], h, o_h, None, s_h,
                               pin=("hw", node.name, li, g, j) if node.stateful else None)
                       for j in range(hb)] for g in range(3)]
        x = out
    return x


# shared with the LSTM's one-step-ahead recurrent part (Lowering.lstm)
split = _split
matvec = _matvec
