"""torch.fx -> NNIR for data movement, reductions, `matmul`, BatchNorm1d, `neg`/`abs` and
several outputs (`convert.py` asks `ShapeOps.handle` about every node it does not know).

Data movement (slicing, `narrow`, `index_select`, `cat`, `stack`, `split`, `reshape`, `view`,
`flatten`, `squeeze`, `unsqueeze`, `permute`/`transpose` of leading axes, `expand`, ...) is
found by running the very op on tensors of element ids: what comes out says, for every output
element, which input element it is. That map becomes a `lanes` node (rill.ir.lanes), which the
compiler lowers to nothing where whole blocks stay in place and to lane moves on the matrix unit
(bf16 rounding, docs/numerics.md) where they do not.
"""

from __future__ import annotations

import dataclasses
import operator

import numpy as np
import torch
import torch.fx

from ..ir import Node, OpKind
from ..ir.lanes import LaneMap

_MOVE_FUNCS = {
    operator.getitem, torch.narrow, torch.index_select, torch.cat, torch.concat,
    torch.concatenate, torch.stack, torch.reshape, torch.flatten, torch.squeeze, torch.unsqueeze,
    torch.transpose, torch.permute, torch.movedim, torch.select, torch.swapaxes, torch.split,
    torch.chunk, torch.unbind, torch.tensor_split, torch.hstack, torch.t,
}
_MOVE_METHODS = {
    "narrow", "index_select", "reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose",
    "permute", "movedim", "select", "contiguous", "expand", "repeat", "split", "chunk", "unbind",
    "t", "swapaxes", "tensor_split",
}
_MOVE_MODULES = (torch.nn.Flatten, torch.nn.Unflatten)
_REDUCE_FUNCS = {torch.sum: "sum", torch.mean: "mean"}
_MATMUL_FUNCS = {operator.matmul, torch.matmul, torch.mm}
_NEG_FUNCS = {operator.neg, torch.neg, torch.negative}
_ABS_FUNCS = {operator.abs, torch.abs, torch.absolute}


def emit_abs(lo, n: torch.fx.Node, x: torch.fx.Node, op: OpKind = OpKind.ABS) -> None:
    """|x| (or -x with op=NEG): one vector-unit ABS (NEG) op, exact (docs/numerics.md)."""
    from .convert import source_line

    if not isinstance(x, torch.fx.Node) or x.op == "get_attr":
        lo.fail(n, "input must be a tensor")
        return
    lo.nodes.append(Node(n.name, op, (lo.alias.get(x.name, x.name),), lo.shape(n),
                         source_line(n)))


class ShapeOps:
    def __init__(self, lo):
        self.lo = lo
        self.gm = lo.gm
        self.ints: dict[str, object] = {}  # x.size(0), x.shape: plain values, no NNIR node
        self.tuples: dict[str, tuple] = {}  # split/chunk/unbind: per part (ids, sources)

    # dispatch ---------------------------------------------------------------------------------
    def handle(self, n: torch.fx.Node) -> bool:
        """Convert `n` if it is one of these ops (True), else leave it to the caller (False)."""
        t = n.target
        if n.op == "call_method" and t in ("size", "dim") or (
                n.op == "call_function" and t is getattr and n.args[1:] == ("shape",)):
            self.constant_int(n)
        elif n.op == "call_function" and t is operator.getitem and isinstance(
                n.args[0], torch.fx.Node) and n.args[0].name in self.ints:
            self.ints[n.name] = self.ints[n.args[0].name][n.args[1]]
        elif n.op == "call_function" and t is operator.getitem and isinstance(
                n.args[0], torch.fx.Node) and n.args[0].name in self.tuples:
            self.part(n)
        elif (n.op == "call_function" and t in _MOVE_FUNCS
              or n.op == "call_method" and t in _MOVE_METHODS
              or n.op == "call_module" and isinstance(self.mod(n), _MOVE_MODULES)):
            self.move(n)
        elif n.op == "call_function" and t in _REDUCE_FUNCS or n.op == "call_method" and t in (
                "sum", "mean"):
            self.reduce(n, _REDUCE_FUNCS.get(t, t))
        elif n.op == "call_function" and t in _MATMUL_FUNCS or n.op == "call_method" and t in (
                "matmul", "mm"):
            self.matmul(n)
        elif n.op == "call_function" and t in _NEG_FUNCS or n.op == "call_method" and t == "neg":
            emit_abs(self.lo, n, n.args[0], OpKind.NEG)
        elif n.op == "call_function" and t in _ABS_FUNCS or n.op == "call_method" and t == "abs":
            emit_abs(self.lo, n, n.args[0])
        elif n.op == "call_module" and isinstance(self.mod(n), torch.nn.BatchNorm1d):
            self.batchnorm(n, self.mod(n))
        elif n.op == "output" and isinstance(n.args[0], (tuple, list)):
            self.outputs(n, n.args[0])
        else:
            return False
        return True

    def mod(self, n: torch.fx.Node):
        return self.gm.get_submodule(n.target) if n.op == "call_module" else None

    def constant_int(self, n: torch.fx.Node) -> None:
        x = n.args[0]
        s = torch.Size(x.meta.get("shape") or ())
        if n.target == "dim":
            self.ints[n.name] = len(s)
        elif n.target == "size":
            self.ints[n.name] = s[n.args[1]] if len(n.args) > 1 else s
        else:
            self.ints[n.name] = s

    # data movement ---------------------------------------------------------------------------
    def _ids(self, n: torch.fx.Node):
        """Run `n`'s op on id tensors: (result ids, the tensor operands in id order)."""
        srcs: list[torch.fx.Node] = []
        offsets = [0]

        def sub(a):
            if a.name in self.ints:
                return self.ints[a.name]
            if a.op == "get_attr":
                return self.lo.attr(a)
            if a not in srcs:
                shape = self.lo.shape(a)
                srcs.append(a)
                offsets.append(offsets[-1] + int(np.prod(shape, dtype=np.int64)))
            k = srcs.index(a)
            return torch.arange(offsets[k], offsets[k + 1], dtype=torch.int64).reshape(
                tuple(a.meta["shape"]))

        args = torch.fx.node.map_arg(n.args, sub)
        kwargs = torch.fx.node.map_arg(n.kwargs, sub)
        if n.op == "call_method":
            out = getattr(args[0], n.target)(*args[1:], **kwargs)
        elif n.op == "call_module":
            out = self.mod(n)(*args, **kwargs)
        else:
            out = n.target(*args, **kwargs)
        return out, srcs, offsets

    def move(self, n: torch.fx.Node) -> None:
        try:
            ids, srcs, offsets = self._ids(n)
        except Exception as e:  # noqa: BLE001 - a non-constant argument, an odd form
            self.lo.fail(n, f"cannot follow this data movement ({type(e).__name__}: {e})")
            return
        if isinstance(ids, (tuple, list)):
            self.tuples[n.name] = (tuple(ids), srcs, offsets)
        else:
            self.emit_move(n, ids, srcs, offsets)

    def part(self, n: torch.fx.Node) -> None:
        ids, srcs, offsets = self.tuples[n.args[0].name]
        self.emit_move(n, ids[n.args[1]], srcs, offsets)

    def emit_move(self, n: torch.fx.Node, ids: torch.Tensor, srcs, offsets) -> None:
        lo = self.lo
        if not srcs or not isinstance(ids, torch.Tensor):
            lo.fail(n, "has no tensor operand")
            return
        shape = tuple(ids.shape)
        if not shape:
            lo.fail(n, "0-d (scalar) results are not supported: rill tensors are (*rows, "
                    "features)")
            return
        flat = ids.reshape(-1).numpy()
        if len(srcs) == 1 and shape == tuple(lo.shape(srcs[0])) and (
                flat == np.arange(flat.size)).all():
            lo.alias[n.name] = lo.alias.get(srcs[0].name, srcs[0].name)  # moves nothing
            return
        offs = np.asarray(offsets)
        src = np.searchsorted(offs, flat, side="right") - 1
        local = flat - offs[src]
        feats = np.asarray([lo.shape(s)[-1] for s in srcs])
        pos = np.arange(flat.size)
        m = LaneMap(pos // shape[-1], pos % shape[-1], src, local // feats[src],
                    local % feats[src], np.ones(flat.size, np.float32))
        lo.emit(n, OpKind.LANES, srcs, moves=m)

    # reductions ------------------------------------------------------------------------------
    def reduce(self, n: torch.fx.Node, kind: str) -> None:
        from .convert import source_line

        lo = self.lo
        names = ("input", "dim", "keepdim")
        a = dict(zip(names, n.args, strict=False))
        a.update(n.kwargs)
        x, dim = a.get("input"), a.get("dim")  # keepdim: the recorded output shape says
        if set(a) - set(names) or not isinstance(x, torch.fx.Node):
            lo.fail(n, f"{kind}: only (input, dim, keepdim) are supported")
            return
        s = tuple(lo.shape(x))
        dims = range(len(s)) if dim is None else dim if isinstance(dim, (tuple, list)) else [dim]
        try:
            dims = sorted({int(d) % len(s) for d in dims})
        except (TypeError, ZeroDivisionError):
            lo.fail(n, f"{kind}: dim={dim!r} must be constant")
            return
        out = tuple(lo.shape(n))
        if not out:
            lo.fail(n, "0-d (scalar) results are not supported: rill tensors are (*rows, "
                    "features); keep a dimension (keepdim=True)")
            return
        kept = tuple(1 if k in dims else d for k, d in enumerate(s))
        count = int(np.prod([s[k] for k in dims], dtype=np.int64))
        if count == 0:
            lo.fail(n, f"{kind} over an empty axis (shape {s})")
            return
        src, name = source_line(n), lo.alias.get(x.name, x.name)
        lead = [d for d in dims if d < len(s) - 1]
        last = len(s) - 1 in dims
        fold = kind == "mean" and last and count & (count - 1) == 0 and count <= 2**100
        cur, cur_shape = name, s
        if lead:
            mid = kept[:-1] + (s[-1],)
            in_rows = np.arange(int(np.prod(s[:-1], dtype=np.int64)))
            coords = np.unravel_index(in_rows, s[:-1])
            to = np.ravel_multi_index(tuple(0 if k in dims else c for k, c in enumerate(coords)),
                                      mid[:-1]) if len(s) > 1 else 0 * in_rows
            w = np.zeros((int(np.prod(mid[:-1], dtype=np.int64)), in_rows.size), np.float32)
            w[to, in_rows] = 1.0
            cur_shape = mid if last else out
            nm = n.name + "_rows" if last or kind == "mean" else n.name
            lo.nodes.append(Node(nm, OpKind.ROWS, (cur,), cur_shape, src, weight=w))
            cur = nm
        if last:
            rows = int(np.prod(cur_shape[:-1], dtype=np.int64))
            f = cur_shape[-1]
            e = np.arange(rows * f)
            c = np.full(e.size, 1.0 / count if fold else 1.0, np.float32)
            # output element r (of the kept rows, one feature) as (row, feature) of `out`
            r = e // f  # row r of `cur` sums to output element r (flat order of `out`)
            m = LaneMap(r // out[-1], r % out[-1], 0 * e, r, e % f, c)
            nm = n.name if kind == "sum" or fold else n.name + "_sum"
            lo.nodes.append(Node(nm, OpKind.LANES, (cur,), out, src, moves=m))
            cur = nm
        if kind == "mean" and not fold:
            inv = np.full(out[-1], np.float32(1.0 / count), np.float32)
            lo.nodes.append(Node(n.name, OpKind.MUL, (cur,), out, src, const=inv))
        elif cur != n.name:
            lo.alias[n.name] = cur

    # matmul with a constant ------------------------------------------------------------------
    def matmul(self, n: torch.fx.Node) -> None:
        from .convert import source_line

        lo = self.lo
        a, b = n.args[:2]
        const = [isinstance(v, torch.Tensor) for v in (lo.attr(a), lo.attr(b))]
        if const[0] == const[1] or n.kwargs:
            lo.fail(n, "needs one constant matrix operand (x @ W or W @ x)")
            return
        if const[1]:  # x @ W: a Linear without bias
            w = lo.attr(b).detach().float().numpy()
            if w.ndim != 2:
                lo.fail(n, f"x @ W needs a 2-D W, got shape {w.shape}")
                return
            lo.emit(n, OpKind.LINEAR, [a], weight=np.ascontiguousarray(w.T))
            return
        w = lo.attr(a).detach().float().numpy()
        xs = tuple(lo.shape(b))
        if w.ndim != 2:
            lo.fail(n, f"W @ x needs a 2-D W, got shape {w.shape}")
        elif len(xs) == 1:  # W @ x on a vector: a Linear
            lo.emit(n, OpKind.LINEAR, [b], weight=w)
        else:  # rows of x mixed: out[.., m, :] = sum_k W[m, k] x[.., k, :]
            lead = int(np.prod(xs[:-2], dtype=np.int64))
            big = np.kron(np.eye(lead, dtype=np.float32), w).astype(np.float32)
            name = lo.alias.get(b.name, b.name)
            lo.nodes.append(Node(n.name, OpKind.ROWS, (name,), tuple(lo.shape(n)),
                                 source_line(n), weight=big))

    # BatchNorm1d -----------------------------------------------------------------------------
    def batchnorm(self, n: torch.fx.Node, mod: torch.nn.BatchNorm1d) -> None:
        with np.errstate(all="ignore"):  # huge statistics may overflow float32: inf
            self._batchnorm(n, mod)

    def _batchnorm(self, n: torch.fx.Node, mod: torch.nn.BatchNorm1d) -> None:
        lo = self.lo
        if mod.training or mod.running_mean is None:
            lo.fail(n, "BatchNorm1d in training mode (or without running stats): call "
                    "model.eval() first")
            return
        x = n.args[0]
        if len(lo.shape(n)) == 3 and x.name not in lo.convs.cf:
            lo.fail(n, "BatchNorm1d on (N, C, L) normalises axis 1: supported on a "
                    "convolution's (channels-first) output or on (N, C)")
            return
        var = mod.running_var.double().numpy()
        gamma = mod.weight.detach().double().numpy() if mod.affine else 1.0
        beta = mod.bias.detach().double().numpy() if mod.affine else 0.0
        scale = gamma / np.sqrt(var + mod.eps)
        shift = beta - mod.running_mean.double().numpy() * scale
        prev_name = lo.alias.get(x.name, x.name)
        prev = [k for k, nd in enumerate(lo.nodes) if nd.name == prev_name]
        p = lo.nodes[prev[0]] if prev else None
        sc = None if p is None or p.weight is None else \
            np.asarray(scale).reshape((-1,) + (1,) * (p.weight.ndim - 1))
        # fold unless a folded weight would leave bf16's range (flush to zero, inf) where the
        # original weight did not: then MUL + ADD after the layer keep the scale exact
        if p is not None and len(x.users) == 1 and p.op in (OpKind.LINEAR, OpKind.CONV1D) \
                and _fold_keeps_weights(p.weight, p.weight.astype(np.float64) * sc):
            k = prev[0]  # fold: W' = scale W, b' = scale b + shift (float64, then float32)
            bias = shift if p.bias is None else p.bias.astype(np.float64) * scale + shift
            w = (p.weight.astype(np.float64) * sc).astype(np.float32)
            lo.nodes[k] = dataclasses.replace(p, weight=w, bias=bias.astype(np.float32))
            lo.alias[n.name] = prev_name
            return
        from .convert import source_line

        shape = tuple(lo.shape(n))
        lo.nodes += [
            Node(n.name + "_scale", OpKind.MUL, (prev_name,), shape, source_line(n),
                 const=scale.astype(np.float32)),
            Node(n.name, OpKind.ADD, (n.name + "_scale",), shape, source_line(n),
                 const=shift.astype(np.float32)),
        ]

    # several outputs -------------------------------------------------------------------------
    def outputs(self, n: torch.fx.Node, args) -> None:
        lo = self.lo
        if not args or not all(isinstance(a, torch.fx.Node) for a in args):
            lo.fail(n, "model must return a tensor or a tuple of tensors")
            return
        for k, a in enumerate(args):
            lo.nodes.append(Node(n.name if k == 0 else f"{n.name}_{k}", OpKind.OUTPUT,
                                 (a.name,), lo.shape(a)))


def _fold_keeps_weights(w: np.ndarray, folded: np.ndarray) -> bool:
    from ..hw.numerics import canonical, round_to_bf16

    orig = round_to_bf16(np.asarray(w, np.float32))
    new = canonical(round_to_bf16(folded.astype(np.float32)))
    return bool(np.isfinite(new).all() and (new[orig != 0] != 0).all())


__all__ = ["ShapeOps", "emit_abs"]
