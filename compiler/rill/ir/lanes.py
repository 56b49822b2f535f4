"""Data movement in NNIR: `lanes` and `rows` nodes (slices, cat, reshapes, sums, `W @ x`).

NNIR tensors are `(*rows, features)`; the compiler holds them as rows of feature blocks.

- A `lanes` node (`Node.moves`, a `LaneMap`) computes every output element as a weighted sum of
  input elements: `out[r, j] = sum c * in_s[row, f]` over its entries. The lowering runs it on
  the matrix unit (a MAC with a constant 0/1 or ones block per source block), so a moved value
  is rounded to bf16 and a sum is a block dot product; where an output block is an input block
  lane for lane it re-uses that block and costs nothing (block-aligned slices and concats, row
  bookkeeping, reshapes that keep the (rows, feature blocks) layout).
- A `rows` node (`Node.weight` [R_out, sum R_in]) mixes whole rows: `out[r] = sum_k W[r, k] *
  in[k]`, on the vector unit in fp32 (MUL by the constant unless it is 1, then ADDs in order of
  k); a zero coefficient skips the row. Sums and means over leading axes, `W @ x`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import NNIRError, UnsupportedError
from .graph import Node


@dataclasses.dataclass(frozen=True)
class LaneMap:
    """Entries of `out[out_row, out_feat] += coeff * inputs[src][in_row, in_feat]` (rows are
    flat indices over the leading axes). Arrays of one length, int64 but coeff (float32)."""

    out_row: np.ndarray
    out_feat: np.ndarray
    src: np.ndarray
    in_row: np.ndarray
    in_feat: np.ndarray
    coeff: np.ndarray

    def select(self, keep: np.ndarray) -> LaneMap:
        return LaneMap(*(getattr(self, f.name)[keep] for f in dataclasses.fields(self)))

    def replace(self, **kw) -> LaneMap:
        return dataclasses.replace(self, **kw)


def rows_of(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[:-1], dtype=np.int64))


def check_lanes(n: Node, ins: list[Node]) -> None:
    m = n.moves
    if m is None or not ins:
        raise NNIRError(f"{n.where()}: a lanes node needs its LaneMap and an operand")
    sizes = {len(getattr(m, f.name)) for f in dataclasses.fields(m)}
    if len(sizes) != 1:
        raise NNIRError(f"{n.where()}: LaneMap arrays differ in length")
    if not len(m.out_row):
        return
    ok = (0 <= m.out_row.min() and m.out_row.max() < rows_of(n.shape)
          and 0 <= m.out_feat.min() and m.out_feat.max() < n.shape[-1]
          and 0 <= m.src.min() and m.src.max() < len(ins))
    for s, x in enumerate(ins):
        sel = m.src == s
        if sel.any():
            ok = ok and 0 <= m.in_row[sel].min() and m.in_row[sel].max() < rows_of(x.shape)
            ok = ok and 0 <= m.in_feat[sel].min() and m.in_feat[sel].max() < x.shape[-1]
    if not ok or not np.isfinite(m.coeff).all():
        raise NNIRError(f"{n.where()}: LaneMap entries outside shapes {n.shape} <- "
                        f"{[x.shape for x in ins]} (or a non-finite coefficient)")


def check_rows(n: Node, ins: list[Node]) -> None:
    w = n.weight
    want = (rows_of(n.shape), sum(rows_of(x.shape) for x in ins))
    if (w is None or not ins or tuple(w.shape) != want
            or any(x.shape[-1] != n.shape[-1] for x in ins) or not np.isfinite(w).all()):
        raise NNIRError(f"{n.where()}: rows weight {None if w is None else tuple(w.shape)} must "
                        f"be finite {want} over operands {[x.shape for x in ins]} of "
                        f"{n.shape[-1]} features")


def _stream_rows(n: Node, ax: int, out_rows: np.ndarray, ins_shapes: list[tuple[int, ...]],
                 src: np.ndarray, in_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a node on streamed axis `ax` -> (keep mask, new out rows, new in rows): every
    entry must keep its coordinate on `ax` and step 0 must be what every step does."""
    lead = n.shape[:-1]
    oc = np.unravel_index(out_rows, lead)
    new_in = np.empty_like(in_rows)
    same = np.ones(len(out_rows), bool)
    for s, shape in enumerate(ins_shapes):
        sel = src == s
        if shape[ax] != lead[ax]:
            if sel.any():
                raise UnsupportedError(f"{n.where()}: changes the length of the streamed axis "
                                       f"{ax}: cannot be streamed")
            continue
        ic = np.unravel_index(in_rows[sel], shape[:-1])
        same[sel] = ic[ax] == oc[ax][sel]
        rest = tuple(c for k, c in enumerate(ic) if k != ax)
        new_in[sel] = np.ravel_multi_index(rest, shape[:ax] + shape[ax + 1:-1]) if rest else 0
    if not same.all():
        raise UnsupportedError(f"{n.where()}: moves data along the streamed axis {ax}: cannot be "
                               f"streamed (one inference sees one step)")
    rest = tuple(c for k, c in enumerate(oc) if k != ax)
    new_out = np.ravel_multi_index(rest, lead[:ax] + lead[ax + 1:]) if rest else 0 * out_rows
    return oc[ax], np.asarray(new_out), new_in


def stream_lanes(n: Node, ax: int, ins: list[Node]) -> Node:
    """The node for one step of streamed axis `ax`: keep step 0's entries, after checking
    that every step moves the same way within itself."""
    m = n.moves
    step, out_r, in_r = _stream_rows(n, ax, m.out_row, [x.shape for x in ins], m.src, m.in_row)
    m = m.replace(out_row=out_r, in_row=in_r)
    keys = [np.stack([m.out_row, m.out_feat, m.src, m.in_row, m.in_feat])[:, step == t]
            for t in range(n.shape[ax])]
    coeffs = [m.coeff[step == t] for t in range(n.shape[ax])]
    for k, c in zip(keys[1:], coeffs[1:], strict=True):
        if k.shape != keys[0].shape or (k != keys[0]).any() or (c != coeffs[0]).any():
            raise UnsupportedError(f"{n.where()}: differs between steps of the streamed axis "
                                   f"{ax}: cannot be streamed")
    return dataclasses.replace(n, moves=m.select(step == 0))


def stream_rows(n: Node, ax: int, ins: list[Node]) -> Node:
    w = n.weight
    offs = np.cumsum([0] + [rows_of(x.shape) for x in ins])
    r, k = np.nonzero(w)
    src = np.searchsorted(offs, k, side="right") - 1
    step, out_r, in_r = _stream_rows(n, ax, r, [x.shape for x in ins], src, k - offs[src])
    new_offs = np.cumsum([0] + [rows_of(x.shape[:ax] + x.shape[ax + 1:]) for x in ins])
    R = rows_of(n.shape[:ax] + n.shape[ax + 1:])
    per_step = []
    for t in range(n.shape[ax]):
        nw = np.zeros((R, new_offs[-1]), np.float32)
        sel = step == t
        nw[out_r[sel], new_offs[src[sel]] + in_r[sel]] = w[r[sel], k[sel]]
        per_step.append(nw)
    if any((p != per_step[0]).any() for p in per_step[1:]):
        raise UnsupportedError(f"{n.where()}: differs between steps of the streamed axis {ax}: "
                               f"cannot be streamed")
    return dataclasses.replace(n, weight=per_step[0])
