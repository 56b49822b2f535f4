"""NNIR -> Dataflow: every tensor becomes rows of block-sized values.

A `None` in a row is a block known to be zero (a missing bias), which lets the lowering skip
an add. The LSTM's initial state is not one: its first step computes `W_hh h0` and `f * c0` on
zero constants, so that a NaN or inf gate gives the bits torch and the streaming program give.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError
from ..hw.config import Config
from ..hw.isa import MOp, Timing, VOp
from ..hw.numerics import canonical, round_to_bf16
from ..ir import Graph, Node, OpKind
from ..ir.graph import BINARY, UNARY
from .dataflow import Dataflow, Val, ValKind

Row = list[Val | None]
Tensor = list[Row]

_UNARY = {OpKind.RELU: VOp.RELU, OpKind.SIGMOID: VOp.SIGMOID, OpKind.TANH: VOp.TANH,
          OpKind.ABS: VOp.ABS, OpKind.NEG: VOp.NEG}
_BINARY = {OpKind.ADD: VOp.ADD, OpKind.SUB: VOp.SUB, OpKind.MUL: VOp.MUL, OpKind.MAX: VOp.MAX,
           OpKind.MIN: VOp.MIN}
_MATRIX = (OpKind.LINEAR, OpKind.LSTM, OpKind.GRU, OpKind.CONV1D)
BF16_MAX = (2 - 2**-7) * 2.0**127  # largest finite bf16


def blocks(n: int, b: int) -> int:
    return max(1, math.ceil(n / b))


def pad2(w: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), np.float32)
    out[: w.shape[0], : w.shape[1]] = w
    return out


def check_finite(node: Node, what: str, values: np.ndarray | None, bf16: bool) -> None:
    """Reject NaN/inf parameters, naming the first one. Weights are checked after rounding
    to bf16 (what the weight memory holds): a finite fp32 above bf16's range becomes inf."""
    if values is None:
        return
    v = np.asarray(values, np.float32)
    held = round_to_bf16(v) if bf16 else v
    bad = np.argwhere(~np.isfinite(held))
    if not bad.size:
        return
    idx = tuple(int(i) for i in bad[0])
    x = float(v[idx])
    why = ("is NaN" if math.isnan(x) else "is infinite" if math.isinf(x)
           else f"rounds to bf16 inf (largest finite bf16 is {BF16_MAX:.4g})")
    raise ModelError(
        f"{node.where()}: {what}[{', '.join(map(str, idx))}] = {x!r} {why} "
        f"({len(bad)} non-finite value{'s' if len(bad) > 1 else ''} in {what})"
    )


class Lowering:
    def __init__(self, graph: Graph, num_cores: int, block_size: int):
        self.g = graph
        self.B = block_size
        self.df = Dataflow(num_cores, block_size)
        self.timing = Timing.of(Config(num_cores, block_size))
        self.next_core = 0

    # weights ---------------------------------------------------------------------------------
    def weight_matrix(self, w: np.ndarray, node: Node) -> list[list[int]]:
        """Pad, round to bf16, cut into blocks; deal the blocks to cores round-robin.
        Returns ids[n][k]."""
        B = self.B
        nb, kb = blocks(w.shape[0], B), blocks(w.shape[1], B)
        wp = canonical(round_to_bf16(pad2(w, nb * B, kb * B)))
        ids = []
        for n in range(nb):
            row = []
            for k in range(kb):
                row.append(len(self.df.weight_blocks))
                self.df.weight_blocks.append(wp[n * B : (n + 1) * B, k * B : (k + 1) * B].copy())
                self.df.weight_core.append(self.next_core)
                self.next_core = (self.next_core + 1) % self.df.num_cores
            ids.append(row)
        return ids

    def bias_vals(self, bias: np.ndarray | None, n_out: int) -> list[Val | None]:
        if bias is None:
            return [None] * blocks(n_out, self.B)
        bp = np.zeros(blocks(n_out, self.B) * self.B, np.float32)
        bp[:n_out] = bias
        return [self.df.const(canonical(bp[i : i + self.B])) for i in range(0, bp.size, self.B)]

    # matmul ----------------------------------------------------------------------------------
    def split_factor(self, n_chains: int, chain_len: int) -> int:
        """Sub-chains per output block: long chains over few outputs are latency-bound by the
        MACC distance, so split them and join with an ADD tree when the estimate is shorter."""
        issue = math.ceil(n_chains * chain_len / self.df.num_cores)

        def estimate(s: int) -> int:
            depth = math.ceil(math.log2(s)) if s > 1 else 0
            tm = self.timing  # an ADD result is readable from add - 1 after its issue
            return max(issue, tm.macc_distance * math.ceil(chain_len / s)) + (tm.add - 1) * depth

        return min(range(1, chain_len + 1), key=lambda s: (estimate(s), s))

    def chain(self, ids: list[int], xs: Row, init: Val | None) -> Val | None:
        acc = init
        for wid, x in zip(ids, xs, strict=True):
            core = self.df.weight_core[wid]
            if acc is None:
                acc = self.df.op(MOp.MAC, x, core=core, wblock=wid).out
            else:
                acc = self.df.op(MOp.MACC, x, acc, core=core, wblock=wid).out
        return acc

    def matvec(self, ids: list[list[int]], x: Row, bias: list[Val | None], split: int,
               state: int = 0) -> Row:
        live = [k for k, v in enumerate(x) if v is not None]
        # values already there (inputs, state) first, then in the order they are produced; the
        # last `state` operands (an LSTM's h) rank as there in the sequence program too, where
        # they are produced: it accumulates in the streaming program's order, to its bits
        live.sort(key=lambda k: (False, k) if k >= len(x) - state or x[k].producer is None
                  else (True, x[k].producer.id))
        out: Row = []
        for n, wrow in enumerate(ids):
            groups = [live[i::split] for i in range(split)] if split > 1 else [live]
            groups = [sorted(gr, key=live.index) for gr in groups if gr]
            parts = [
                self.chain([wrow[k] for k in gr], [x[k] for k in gr], bias[n] if i == 0 else None)
                for i, gr in enumerate(groups)
            ]
            parts = [p for p in parts if p is not None] or [bias[n]]
            while len(parts) > 1:
                parts = [
                    self.df.vec(VOp.ADD, parts[i], parts[i + 1]) if i + 1 < len(parts)
                    else parts[i]
                    for i in range(0, len(parts), 2)
                ]
            out.append(parts[0])
        return out

    # ops -------------------------------------------------------------------------------------
    def materialize(self, v: Val | None) -> Val:
        return self.df.zero() if v is None else v

    def linear(self, node: Node, x: Tensor, early: Tensor | None = None) -> Tensor:
        """`early`: the Linear of `early + x` as `W x + (W early + bias)` (linear_of_sum)."""
        check_finite(node, "weight", node.weight, bf16=True)
        check_finite(node, "bias", node.bias, bf16=False)
        ids = self.weight_matrix(node.weight, node)
        bias = self.bias_vals(node.bias, node.weight.shape[0])
        # one row's count, not the tensor's: the streaming program (one row) and the sequence
        # program must accumulate alike, to the same bits
        split = self.split_factor(len(ids), len(ids[0]))
        if early is None:
            return [self.matvec(ids, row, bias, split) for row in x]
        return [self.matvec(ids, row, self.matvec(ids, e, bias, split), split)
                for e, row in zip(early, x, strict=True)]

    def matrix_depth(self, early: str, late: str) -> int:
        """The most matrix nodes (Linear, LSTM, GRU, Conv1d) on one path from NNIR node `early`
        to `late`; -1 if `late` does not depend on `early`. Each is a MAC (`Timing.mac`) that
        `late`'s value waits for after `early`'s."""
        nodes = {n.name: n for n in self.g.nodes}
        memo: dict[str, int] = {}
        stack = [late]
        while stack:  # iterative post-order: deep graphs (long sequences) stay off the C stack
            name = stack[-1]
            if name in memo:
                stack.pop()
                continue
            if name == early:
                memo[name] = 0
                stack.pop()
                continue
            todo = [i for i in nodes[name].inputs if i not in memo]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            best = max((memo[i] for i in nodes[name].inputs), default=-1)
            memo[name] = -1 if best < 0 else best + (nodes[name].op in _MATRIX)
        return memo[late]

    def linear_of_sum(self, add: Node, linear: Node, a: Tensor, b: Tensor) -> Tensor | None:
        """`linear(a + b)` as `W b + (W a + bias)` when b waits for a through matrix ops (a
        residual block: `h = f(h) + h`, then a Linear), so that `W a` is summed while b is
        still being made and no ADD lands between b and the Linear's chains. None when that is
        not shorter (`docs/numerics.md`, "Linear of a sum")."""
        for early, late, e, lt in ((add.inputs[0], add.inputs[1], a, b),
                                   (add.inputs[1], add.inputs[0], b, a)):
            depth = self.matrix_depth(early, late)
            if depth <= 0:
                continue
            # the early part's chain (its bias first) must be readable by the late chain's
            # first accumulator read; the ADD it saves costs `add - 1` to a MAC's x read
            tm, k = self.timing, len(a[0])
            cost = (k - 1) * tm.macc_distance + tm.mac - tm.mac_acc_read - (tm.add - 1)
            if cost >= depth * tm.mac:
                return None
            self.df.node = linear.name
            return self.linear(linear, lt, early=e)
        return None

    def lstm(self, node: Node, x: Tensor) -> Tensor:
        from . import lower_rnn as rnn  # (it builds on this module)

        B = self.B
        for li, layer in enumerate(node.layers):
            self.df.detail = f"layer {li}" if len(node.layers) > 1 else ""
            check_finite(node, f"layer {li} w_ih", layer.w_ih, bf16=True)
            check_finite(node, f"layer {li} w_hh", layer.w_hh, bf16=True)
            check_finite(node, f"layer {li} bias (b_ih + b_hh)", layer.bias, bf16=False)
            H = layer.w_hh.shape[1]
            I = layer.w_ih.shape[1]  # noqa: E741
            hb, ib = blocks(H, B), blocks(I, B)
            gates = []  # per gate: ids[n][k] over [x blocks | h blocks]
            biases = []
            for g in range(4):
                rows = slice(g * H, (g + 1) * H)
                w = np.zeros((hb * B, (ib + hb) * B), np.float32)
                w[:H, :I] = layer.w_ih[rows]
                w[:H, ib * B : ib * B + H] = layer.w_hh[rows]
                gates.append(self.weight_matrix(w, node))
                biases.append(self.bias_vals(None if layer.bias is None else layer.bias[rows], H))
            if node.stateful and len(x) != 1:
                raise AssertionError(f"{node.where()}: streaming LSTMs run one step per run")
            # A layer on the model input computes its recurrent part W_h h one step ahead, at
            # the end of the step that makes h (after that step's outputs), kept as state
            # beside h and c (zero after a reset: W 0 = +0): a step then waits only for its x
            # part (docs/architecture.md, "Recurrent layers"). Deeper layers wait for their
            # input anyway; their h part is computed from cycle 0.
            ahead = all(v is None or v.producer is None for row in x for v in row)
            if node.stateful:
                h: Row = [Val(ValKind.STATE, pin=("h", node.name, li, j)) for j in range(hb)]
                c: Row = [Val(ValKind.STATE, pin=("c", node.name, li, j)) for j in range(hb)]
                hw = [[Val(ValKind.STATE, pin=("hw", node.name, li, g, j)) for j in range(hb)]
                      for g in range(4)]
            else:  # zero state, computed with as the streaming program does: the same bits
                h, c = [self.df.zero()] * hb, [self.df.zero()] * hb
                hw = [[self.df.zero()] * hb for _ in range(4)]
            out: Tensor = []
            for t, row in enumerate(x):
                xin = row + h
                split = self.split_factor(4 * hb, sum(v is not None for v in xin))
                if ahead:
                    o_x = ([k for k in range(len(row)) if row[k] is not None], [])
                    s_x = rnn.split(self, 4 * hb * len(o_x[0]), len(o_x[0]))
                # hidden block by hidden block, so the first blocks of h are ready first and the
                # next layer's chains can start on them while later blocks are still computed
                pre = [[None] * hb for _ in range(4)]
                for j in range(hb):
                    for g in range(4):
                        if ahead:  # (bias + x part) + W_h h: the sequence program sums the
                            # x parts of every step at once, then waits for one ADD per step
                            xp = rnn.matvec(self, gates[g][j][:ib], row, o_x, biases[g][j],
                                            s_x)
                            pre[g][j] = hw[g][j] if xp is None else \
                                self.df.vec(VOp.ADD, xp, hw[g][j])
                        else:
                            pre[g][j] = self.matvec([gates[g][j]], xin, [biases[g][j]], split,
                                                    state=hb)[0]
                new_h: Row = []
                new_c: Row = []
                for j in range(hb):
                    pin_h = ("h", node.name, li, j) if node.stateful else None
                    pin_c = ("c", node.name, li, j) if node.stateful else None
                    i_, f_, g_, o_ = (self.materialize(pre[g][j]) for g in range(4))
                    sig_i, tanh_g = self.df.vec(VOp.SIGMOID, i_), self.df.vec(VOp.TANH, g_)
                    ig = self.df.vec(VOp.MUL, sig_i, tanh_g)
                    fgate = self.df.vec(VOp.SIGMOID, f_)
                    og = self.df.vec(VOp.SIGMOID, o_)
                    # f * c even where c is the zero initial state: a NaN f makes c NaN
                    cj = self.df.vec(VOp.ADD, self.df.vec(VOp.MUL, fgate, c[j]), ig, pin=pin_c)
                    hj = self.df.vec(VOp.MUL, og, self.df.vec(VOp.TANH, cj), pin=pin_h)
                    new_h.append(hj)
                    new_c.append(cj)
                h, c = new_h, new_c
                out.append(list(new_h))
                if ahead and (node.stateful or t + 1 < len(x)):  # the next step's W_h h
                    o_h = (list(range(hb)), [])
                    s_h = rnn.split(self, 4 * hb * hb, hb)
                    hw = [[rnn.matvec(self, gates[g][j][ib:], h, o_h, None, s_h,
                                      pin=("hw", node.name, li, g, j) if node.stateful else None)
                           for j in range(hb)] for g in range(4)]
            x = out
        return x

    def run(self) -> tuple[Dataflow, dict]:
        env: dict[str, Tensor] = {}
        layout: dict = {}
        users: dict[str, list[Node]] = {}
        for node in self.g.nodes:
            for i in node.inputs:
                users.setdefault(i, []).append(node)
        for node in self.g.nodes:
            self.df.node, self.df.detail = node.name, ""  # provenance of the ops made below
            if node.name in env:  # made together with an earlier node (a norm and its Linear)
                continue
            if node.op is OpKind.INPUT:
                rows, feats = int(np.prod(node.shape[:-1], dtype=np.int64)), node.shape[-1]
                fb = blocks(feats, self.B)
                first = self.df.n_inputs  # several inputs: their beats one after another
                env[node.name] = [
                    [Val(ValKind.INPUT, index=first + r * fb + k) for k in range(fb)]
                    for r in range(rows)
                ]
                self.df.n_inputs += rows * fb
                layout.setdefault("input", (tuple(node.shape), rows, feats))
            elif node.op is OpKind.LINEAR:
                env[node.name] = self.linear(node, env[node.inputs[0]])
            elif node.op in _UNARY:
                env[node.name] = [
                    [self.df.vec(_UNARY[node.op], self.materialize(v)) for v in row]
                    for row in env[node.inputs[0]]
                ]
            elif node.op in UNARY:  # the function ops: exp, log, ..., softmax, norms
                from .lower_funcs import (
                    can_fold_norm,
                    lower_func,  # imports this module: bound late
                )

                fold = users.get(node.name, [])
                fold = fold[0] if len(fold) == 1 and fold[0].op is OpKind.LINEAR else None
                if fold is not None and can_fold_norm(node, fold):
                    env[fold.name] = lower_func(self, node, env[node.inputs[0]], fold)
                else:
                    env[node.name] = lower_func(self, node, env[node.inputs[0]])
            elif node.op is OpKind.WHERE:
                from .lower_funcs import lower_where

                env[node.name] = lower_where(self, node, [env[i] for i in node.inputs])
            elif node.op in BINARY:
                a = env[node.inputs[0]]
                if node.const is not None:
                    cp = np.zeros(len(a[0]) * self.B, np.float32)
                    cp[: node.const.size] = node.const
                    cv = [self.df.const(canonical(cp[i : i + self.B]))
                          for i in range(0, cp.size, self.B)]
                    b = [cv for _ in a]
                else:
                    b = env[node.inputs[1]]
                fold = users.get(node.name, [])
                if (node.op is OpKind.ADD and node.const is None and len(fold) == 1
                        and fold[0].op is OpKind.LINEAR and fold[0].inputs[0] == node.name):
                    y = self.linear_of_sum(node, fold[0], a, b)
                    if y is not None:
                        env[fold[0].name] = y
                        continue
                if node.op not in _BINARY:  # div and the compares
                    from .lower_funcs import lower_binary_func

                    env[node.name] = lower_binary_func(self, node, a, b)
                    continue
                env[node.name] = [
                    [self.df.vec(_BINARY[node.op], self.materialize(u), self.materialize(v))
                     for u, v in zip(ra, rb, strict=True)]
                    for ra, rb in zip(a, b, strict=True)
                ]
            elif node.op is OpKind.LSTM:
                env[node.name] = self.lstm(node, env[node.inputs[0]])
            elif node.op is OpKind.GRU:
                from .lower_rnn import lower_gru  # imports this module: bound late

                env[node.name] = lower_gru(self, node, env[node.inputs[0]])
            elif node.op is OpKind.CONV1D:
                from .lower_conv import lower_conv  # imports this module: bound late

                env[node.name] = lower_conv(self, node, env[node.inputs[0]])
            elif node.op in (OpKind.LANES, OpKind.ROWS):
                from .lower_move import lower_lanes, lower_rows  # imports this module

                f = lower_lanes if node.op is OpKind.LANES else lower_rows
                env[node.name] = f(self, node, [env[i] for i in node.inputs])
            elif node.op is OpKind.OUTPUT:
                t = env[node.inputs[0]]
                for row in t:
                    for v in row:
                        self.df.out(self.materialize(v))
                rows = int(np.prod(node.shape[:-1], dtype=np.int64))
                layout.setdefault("output", (tuple(node.shape), rows, node.shape[-1]))
        return self.df, layout


def lower(graph: Graph, num_cores: int, block_size: int) -> tuple[Dataflow, dict]:
    return Lowering(graph, num_cores, block_size).run()
