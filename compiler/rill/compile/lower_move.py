"""Lowering of `lanes` and `rows` nodes (rill.ir.lanes): data movement on the existing ISA.

`lanes`: each output block is a MAC/MACC chain over the input blocks it draws from, with a
constant weight block holding the entry coefficients (a 0/1 selection for moves, a row of ones
for sums). Unselected lanes have zero weights, so they contribute nothing whatever they hold,
inf and NaN included (docs/numerics.md, rule 1). The price: the matrix unit rounds x to bf16.
An output block that is one input block lane for lane (coefficient 1, lane j from lane j) is
that block: no op at all. Identical weight blocks are stored once.

`rows`: `out[r] = sum_k W[r, k] * in[k]` per feature block on the vector unit (fp32): MUL by a
constant block unless the coefficient is 1, ADDs in order of k; a single term of coefficient 1
is a re-use of the block (row bookkeeping costs nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..hw.isa import MOp, VOp
from ..hw.numerics import canonical, round_to_bf16
from ..ir import Node
from .dataflow import Val
from .lower import Row, Tensor, blocks

if TYPE_CHECKING:
    from .lower import Lowering


def _weight_block(lo: Lowering, w: np.ndarray, cache: dict) -> int:
    key = w.tobytes()
    if key not in cache:
        cache[key] = len(lo.df.weight_blocks)
        lo.df.weight_blocks.append(w)
        lo.df.weight_core.append(lo.next_core)
        lo.next_core = (lo.next_core + 1) % lo.df.num_cores
    return cache[key]


def lower_lanes(lo: Lowering, node: Node, ins: list[Tensor]) -> Tensor:
    B = lo.B
    m = node.moves
    n_rows = int(np.prod(node.shape[:-1], dtype=np.int64))
    nb = blocks(node.shape[-1], B)
    out: Tensor = [[None] * nb for _ in range(n_rows)]
    coeff = canonical(round_to_bf16(np.asarray(m.coeff, np.float32)))
    ob, ol = m.out_feat // B, m.out_feat % B
    ib, il = m.in_feat // B, m.in_feat % B
    # group entries by output block, then by source block
    order = np.lexsort((il, ol, ib, m.in_row, m.src, ob, m.out_row))
    keys = np.stack([m.out_row, ob, m.src, m.in_row, ib])[:, order]
    if not len(order):
        return out
    cut = np.flatnonzero((keys[:, 1:] != keys[:, :-1]).any(axis=0)) + 1
    groups = np.split(order, cut)
    per_out: dict[tuple[int, int], list[np.ndarray]] = {}
    for g in groups:
        per_out.setdefault((int(m.out_row[g[0]]), int(ob[g[0]])), []).append(g)
    cache = getattr(lo, "_move_blocks", None)
    if cache is None:
        cache = lo._move_blocks = {}
    for (r, n), terms in per_out.items():
        valid = min(B, node.shape[-1] - n * B)
        if len(terms) == 1:
            g = terms[0]
            src_v = ins[int(m.src[g[0]])][int(m.in_row[g[0]])][int(ib[g[0]])]
            if (len(g) == valid and (ol[g] == il[g]).all() and (coeff[g] == 1).all()
                    and np.array_equal(np.sort(ol[g]), np.arange(valid))):
                out[r][n] = src_v  # the input block itself, lane for lane
                continue
        acc: Val | None = None
        for g in terms:
            x = ins[int(m.src[g[0]])][int(m.in_row[g[0]])][int(ib[g[0]])]
            if x is None:  # a block known to be zero contributes nothing
                continue
            w = np.zeros((B, B), np.float32)
            np.add.at(w, (ol[g], il[g]), coeff[g])
            wid = _weight_block(lo, canonical(round_to_bf16(w)), cache)
            core = lo.df.weight_core[wid]
            acc = (lo.df.op(MOp.MAC, x, core=core, wblock=wid) if acc is None else
                   lo.df.op(MOp.MACC, x, acc, core=core, wblock=wid)).out
        out[r][n] = acc
    return out


def lower_rows(lo: Lowering, node: Node, ins: list[Tensor]) -> Tensor:
    rows: list[Row] = [row for t in ins for row in t]
    w = np.asarray(node.weight, np.float32)
    nb = blocks(node.shape[-1], lo.B)
    out: Tensor = []
    for r in range(w.shape[0]):
        ks = np.flatnonzero(w[r]).tolist()
        row: Row = []
        for j in range(nb):
            acc: Val | None = None
            for k in ks:
                c = float(w[r, k])
                v = rows[k][j]
                if v is None:
                    continue  # a zero block
                if c != 1.0:
                    v = lo.df.vec(VOp.MUL, v, lo.df.const(np.full(lo.B, c, np.float32)))
                acc = v if acc is None else lo.df.vec(VOp.ADD, acc, v)
            row.append(acc)
        out.append(row)
    return out
