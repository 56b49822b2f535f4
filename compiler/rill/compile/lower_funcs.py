"""Lowering of the function ops (vector unit v3, docs/numerics.md "Functions"): each NNIR op
becomes a short fixed sequence of vector-unit ops, and the row functions (softmax, log_softmax,
LayerNorm, RMSNorm) add sums over the features on the matrix unit.

A sum over the features lands in every lane at once: a MAC chain over the row's blocks with a
weight block whose every row holds the coefficient on the tensor's lanes and zero on padded
ones (so padding contributes nothing, whatever it holds). The matrix unit reads x as bf16: a
mean of fp32 values is the mean of their bf16 roundings, rounded once per block (rule 5) and
accumulated in fp32. The mean's 1/F is in the weights when F is a power of two (exact in bf16),
else an fp32 MUL after the sum.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..hw.isa import VOp
from ..hw.numerics import canonical, round_to_bf16
from ..ir import Node, OpKind
from .dataflow import Val
from .lower import Row, Tensor, blocks
from .lower_move import _weight_block

if TYPE_CHECKING:
    from .lower import Lowering

LOG2E = float(np.float32(1.0 / math.log(2.0)))
LN2 = float(np.float32(math.log(2.0)))
# gelu(x, 'tanh') = x * sigmoid(x * (GELU_A + GELU_B * x^2)), 2u of tanh(u) = 2 sigmoid(2u) - 1
GELU_A = 2.0 * math.sqrt(2.0 / math.pi)
GELU_B = GELU_A * 0.044715


class _Funcs:
    def __init__(self, lo: Lowering, node: Node):
        self.lo, self.df, self.B, self.node = lo, lo.df, lo.B, node
        self.F = node.shape[-1]

    def c(self, v: float) -> Val:
        return self.df.const(np.full(self.B, v, np.float32))

    def feat(self, values: np.ndarray | None, k: int) -> Val | None:
        """Block k of a per-feature constant (padded with zeros), or None."""
        if values is None:
            return None
        lanes = np.zeros(self.B, np.float32)
        part = np.asarray(values, np.float32)[k * self.B : (k + 1) * self.B]
        lanes[: part.size] = part
        return self.df.const(lanes)

    def v(self, op: VOp, *xs: Val) -> Val:
        return self.df.vec(op, *xs)

    # ------------------------------------------------------------------ lane-wise functions
    def unary(self, x: Val) -> Val:
        v, op = self.v, self.node.op
        if op is OpKind.EXP:
            return v(VOp.EXP2, v(VOp.MUL, x, self.c(LOG2E)))
        if op is OpKind.EXP2:
            return v(VOp.EXP2, x)
        if op is OpKind.LOG:
            return v(VOp.MUL, v(VOp.LOG2, x), self.c(LN2))
        if op is OpKind.LOG2:
            return v(VOp.LOG2, x)
        if op is OpKind.SQRT:  # sqrt(+-0) = +-0, sqrt(inf) = inf, negative -> NaN
            return v(VOp.RECIP, v(VOp.RSQRT, x))
        if op is OpKind.RSQRT:
            return v(VOp.RSQRT, x)
        if op is OpKind.RECIP:
            return v(VOp.RECIP, x)
        if op is OpKind.SILU:
            return v(VOp.MUL, x, v(VOp.SIGMOID, x))
        if op is OpKind.SOFTPLUS:  # relu(x) + log(1 + e^-|x|) = relu(x) - ln2 log2(sigmoid|x|)
            t = v(VOp.MUL, v(VOp.LOG2, v(VOp.SIGMOID, v(VOp.ABS, x))), self.c(-LN2))
            return v(VOp.ADD, v(VOp.RELU, x), t)
        if op is OpKind.GELU:
            return v(VOp.MUL, x, v(VOp.PHI, x))
        if op is OpKind.GELU_TANH:
            t = v(VOp.ADD, v(VOp.MUL, v(VOp.MUL, x, x), self.c(GELU_B)), self.c(GELU_A))
            return v(VOp.MUL, x, v(VOp.SIGMOID, v(VOp.MUL, t, x)))
        raise AssertionError(op)

    # ------------------------------------------------------------------ row functions
    def feature_sum(self, row: list[Val], mean: bool) -> Val:
        """Sum (or mean) over the F features of a row, in every lane."""
        B, F = self.B, self.F
        pow2 = F & (F - 1) == 0
        coef = 1.0 / F if mean and pow2 else 1.0
        cache = getattr(self.lo, "_move_blocks", None)
        if cache is None:
            cache = self.lo._move_blocks = {}
        ids = []
        for k in range(len(row)):
            w = np.zeros((B, B), np.float32)
            w[:, : min(B, F - k * B)] = coef
            ids.append(_weight_block(self.lo, w, cache))
        split = self.lo.split_factor(1, len(row))
        (s,) = self.lo.matvec([ids], list(row), [None], split)
        if mean and not pow2:
            s = self.v(VOp.MUL, s, self.c(float(np.float32(1.0 / F))))
        return s

    def tree(self, op: VOp, vals: list[Val]) -> Val:
        while len(vals) > 1:
            vals = [self.v(op, vals[i], vals[i + 1]) if i + 1 < len(vals) else vals[i]
                    for i in range(0, len(vals), 2)]
        return vals[0]

    def softmax(self, xs: list[Val]) -> list[Val]:
        B, F = self.B, self.F
        masked = list(xs)
        if F % B:  # padded lanes of the last block must not win the maximum: -inf there
            lanes = np.zeros(B, np.float32)
            lanes[: F % B] = 1.0
            m = self.df.const(lanes)
            masked[-1] = self.v(VOp.OR, self.v(VOp.KEEP, m, xs[-1]),
                                self.v(VOp.DROP, m, self.c(-np.inf)))
        mx = self.v(VOp.RMAX, self.tree(VOp.MAX, masked))
        z = [self.v(VOp.SUB, x, mx) for x in xs]
        e = [self.v(VOp.EXP2, self.v(VOp.MUL, zk, self.c(LOG2E))) for zk in z]
        s = self.feature_sum(e, mean=False)
        if self.node.op is OpKind.SOFTMAX:
            r = self.v(VOp.RECIP, s)
            return [self.v(VOp.MUL, ek, r) for ek in e]
        ls = self.v(VOp.MUL, self.v(VOp.LOG2, s), self.c(LN2))
        return [self.v(VOp.SUB, zk, ls) for zk in z]

    def norm(self, xs: list[Val], linear: Node | None = None) -> list[Val]:
        """LayerNorm / RMSNorm of one row. With `linear` (the norm's only user), the pair is
        one computation: Linear(d r g + beta) = r (W g) d + (W beta + b), so the matrix unit
        multiplies d while the variance and its RSQRT are computed, and only a MUL by r and
        the bias ADD follow them (docs/numerics.md, "Normalisation")."""
        n = self.node
        eps = float(n.attrs.get("eps", 1e-5))
        if n.op is OpKind.LAYER_NORM:
            mu = self.feature_sum(xs, mean=True)
            d = [self.v(VOp.SUB, x, mu) for x in xs]
        else:
            d = list(xs)
        var = self.feature_sum([self.v(VOp.MUL, dk, dk) for dk in d], mean=True)
        if linear is not None:
            return self.norm_linear(d, var, eps, linear)
        # the scale multiplies d while the variance is summed: off the critical path
        dg = [dk if (g := self.feat(n.weight, k)) is None else self.v(VOp.MUL, dk, g)
              for k, dk in enumerate(d)]
        r = self.v(VOp.RSQRT, self.v(VOp.ADD, var, self.c(eps)))
        out = []
        for k, dk in enumerate(dg):
            y = self.v(VOp.MUL, dk, r)
            b = self.feat(n.bias, k)
            out.append(y if b is None else self.v(VOp.ADD, y, b))
        return out


    def norm_linear(self, d: list[Val], var: Val, eps: float, linear: Node) -> list[Val]:
        from .lower import check_finite

        n, lo = self.node, self.lo
        w = linear.weight.astype(np.float64)
        if n.weight is not None:
            w = w * n.weight.astype(np.float64)[None, :]
        b = None if linear.bias is None else linear.bias.astype(np.float64)
        if n.bias is not None:
            b = (0.0 if b is None else b) + linear.weight.astype(np.float64) @ n.bias
        w32 = w.astype(np.float32)
        b32 = None if b is None else b.astype(np.float32)
        check_finite(linear, "weight (scaled by the norm's weight)", w32, bf16=True)
        check_finite(linear, "bias (plus weight @ the norm's bias)", b32, bf16=False)
        ids = lo.weight_matrix(w32, linear)
        split = lo.split_factor(len(ids), len(ids[0]))
        self.df.node = linear.name  # provenance: the matrix work is the Linear's
        z = lo.matvec(ids, list(d), [None] * len(ids), split)
        self.df.node = n.name
        r = self.v(VOp.RSQRT, self.v(VOp.ADD, var, self.c(eps)))
        self.df.node = linear.name
        out = []
        for k, zk in enumerate(z):
            y = self.v(VOp.MUL, lo.materialize(zk), r)
            bk = self.feat(b32, k)
            out.append(y if bk is None else self.v(VOp.ADD, y, bk))
        self.df.node = n.name
        return out


FOLD_WEIGHT_RANGE = 2.0**32
"""A norm is fused with its Linear only when every nonzero folded weight |W diag g| lies in
[2^-32, 2^32]: the matrix unit then multiplies x - mean (not yet normalised) by it, and the
products stay inside fp32's range for |x - mean| in [2^-94, 2^95] (docs/numerics.md)."""


def folded_weight_ok(w: np.ndarray, folded: np.ndarray) -> bool:
    """A folded weight matrix (float64) keeps every weight bf16 holds: finite, nonzero where
    the original bf16 weight is nonzero (no flush to zero), and within FOLD_WEIGHT_RANGE."""
    orig = round_to_bf16(np.asarray(w, np.float32))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        new = canonical(round_to_bf16(folded.astype(np.float32)))
    mag = np.abs(folded)
    live = orig != 0
    return bool(np.isfinite(new).all() and (new[live] != 0).all()
                and (mag[live] <= FOLD_WEIGHT_RANGE).all()
                and (mag[live] >= 1.0 / FOLD_WEIGHT_RANGE).all())


def can_fold_norm(norm: Node, linear: Node) -> bool:
    if norm.op not in (OpKind.LAYER_NORM, OpKind.RMS_NORM):
        return False
    w = linear.weight.astype(np.float64)
    folded = w if norm.weight is None else w * norm.weight.astype(np.float64)[None, :]
    return folded_weight_ok(linear.weight, folded)


def lower_func(lo: Lowering, node: Node, x: Tensor, linear: Node | None = None) -> Tensor:
    """Lower a function op; a norm with `linear` (its only user) gives the Linear's output."""
    f = _Funcs(lo, node)
    out: Tensor = []
    for row in x:
        xs = [lo.materialize(v) for v in row]
        if node.op in (OpKind.SOFTMAX, OpKind.LOG_SOFTMAX):
            out.append(f.softmax(xs))
        elif node.op in (OpKind.LAYER_NORM, OpKind.RMS_NORM):
            out.append(f.norm(xs, linear))
        else:
            out.append([f.unary(v) for v in xs])
    return out


def lower_binary_func(lo: Lowering, node: Node, a: Tensor, b: Tensor) -> Tensor:
    """DIV, GT, GE, LT, LE of two tensors (a constant operand already made a tensor of
    constant blocks)."""
    df = lo.df

    def one(u: Val, w: Val) -> Val:
        op = node.op
        if op is OpKind.DIV:
            return df.vec(VOp.MUL, u, df.vec(VOp.RECIP, w))
        if op in (OpKind.GT, OpKind.GE):
            return df.vec(VOp.GT if op is OpKind.GT else VOp.GE, u, w)
        return df.vec(VOp.GT if op is OpKind.LT else VOp.GE, w, u)  # a < b is b > a

    return [[one(lo.materialize(u), lo.materialize(w)) for u, w in zip(ra, rb, strict=True)]
            for ra, rb in zip(a, b, strict=True)]


def lower_where(lo: Lowering, node: Node, ins: list[Tensor]) -> Tensor:
    """where(mask, a, b) = KEEP(mask, a) | DROP(mask, b): exact, one side is always +0."""
    df, B = lo.df, lo.B
    mask, rest = ins[0], list(ins[1:])
    nb = blocks(node.shape[-1], B)

    def operand(key: str) -> Tensor:
        c = node.attrs.get(key)
        if c is None:
            return rest.pop(0)
        lanes = np.zeros(nb * B, np.float32)
        lanes[: c.size] = c
        cv = [df.const(lanes[i * B : (i + 1) * B]) for i in range(nb)]
        return [cv for _ in mask]

    a, b = operand("a"), operand("b")
    out: Tensor = []
    for rm, ra, rb in zip(mask, a, b, strict=True):
        row: Row = []
        for m, u, w in zip(rm, ra, rb, strict=True):
            m, u, w = lo.materialize(m), lo.materialize(u), lo.materialize(w)
            row.append(df.vec(VOp.OR, df.vec(VOp.KEEP, m, u), df.vec(VOp.DROP, m, w)))
        out.append(row)
    return out
