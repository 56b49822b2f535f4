"""torch.fx -> NNIR for the vector unit's compare/select ops: `torch.maximum`/`minimum` (and the
two-tensor `torch.max`/`min`, functions or methods), `clamp`/`clip`/`clamp_min`/`clamp_max`,
`F.hardtanh`/`nn.Hardtanh` and `F.relu6`/`nn.ReLU6` (= clamp). `convert.py` asks
`MinMaxOps.handle` about every node before its own tables; `neg`/`abs` are in `shape_ops.py`
(one NEG / ABS op each).

Either operand may be a tensor, a scalar or a per-feature constant (a parameter or buffer of
one value or one per feature), as for `+ - *`. `clamp(x, lo, hi)` is `MIN(MAX(x, lo), hi)`,
torch's order: a NaN anywhere gives NaN and `lo > hi` gives `hi`. MAX/MIN are IEEE 754-2019
maximum/minimum (-0 < +0, docs/numerics.md); torch's sign of a zero result when both operands
are zeros depends on its code path, so only that sign may differ from torch.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F

from ..ir import Node, OpKind

_PAIR_FUNCS = {torch.maximum: OpKind.MAX, torch.minimum: OpKind.MIN, torch.max: OpKind.MAX,
               torch.min: OpKind.MIN}
_PAIR_METHODS = {"maximum": OpKind.MAX, "minimum": OpKind.MIN, "max": OpKind.MAX,
                 "min": OpKind.MIN}
_CLAMP_FUNCS = {torch.clamp, torch.clip}
_CLAMP_METHODS = {"clamp", "clip"}
_CLAMP_SIDE = {torch.clamp_min: "min", torch.clamp_max: "max", "clamp_min": "min",
               "clamp_max": "max"}


class MinMaxOps:
    def __init__(self, lo):
        self.lo = lo

    def handle(self, n: torch.fx.Node) -> bool:
        """Convert `n` if it is one of these ops (True), else leave it to the caller (False)."""
        t, fn, meth = n.target, n.op == "call_function", n.op == "call_method"
        if (fn and t in _PAIR_FUNCS or meth and t in _PAIR_METHODS) and self._is_pair(n):
            op = _PAIR_FUNCS[t] if fn else _PAIR_METHODS[t]
            args = list(n.args) + [n.kwargs[k] for k in ("other",) if k in n.kwargs]
            self.emit(n, [(op, args[1] if len(args) > 1 else None)], args[0])
        elif fn and t in _CLAMP_FUNCS or meth and t in _CLAMP_METHODS:
            self.clamp(n, *self._args(n, ("input", "min", "max"), (None, None)))
        elif (fn or meth) and t in _CLAMP_SIDE:
            x, v = self._args(n, ("input", _CLAMP_SIDE[t]), ())
            self.emit(n, [(OpKind.MAX if _CLAMP_SIDE[t] == "min" else OpKind.MIN, v)], x)
        elif fn and t is F.hardtanh:
            x, a, b = self._args(n, ("input", "min_val", "max_val"), (-1.0, 1.0))
            self.clamp(n, x, a, b)
        elif fn and t is F.relu6:
            self.clamp(n, n.args[0] if n.args else n.kwargs.get("input"), 0.0, 6.0)
        elif n.op == "call_module" and isinstance(self.lo.gm.get_submodule(t), torch.nn.Hardtanh):
            m = self.lo.gm.get_submodule(t)  # nn.ReLU6 is a Hardtanh(0, 6)
            self.clamp(n, n.args[0], float(m.min_val), float(m.max_val))
        else:
            return False
        return True

    @staticmethod
    def _is_pair(n: torch.fx.Node) -> bool:
        """max/min of two tensors (not a reduction: `torch.max(x)`, `torch.max(x, dim)`)."""
        if n.target in (torch.maximum, torch.minimum, "maximum", "minimum"):
            return True
        other = n.args[1] if len(n.args) > 1 else n.kwargs.get("other")
        return isinstance(other, torch.fx.Node) and len(n.args) <= 2 and "dim" not in n.kwargs

    @staticmethod
    def _args(n: torch.fx.Node, names: tuple[str, ...], defaults: tuple) -> list:
        vals = list(n.args) + [None] * len(names)
        out = []
        for k, name in enumerate(names):
            v = n.kwargs.get(name, vals[k] if k < len(n.args) else None)
            if v is None and k >= len(names) - len(defaults):
                v = defaults[k - (len(names) - len(defaults))]
            out.append(v)
        return out

    def clamp(self, n: torch.fx.Node, x, lo_v, hi_v) -> None:
        steps = [(OpKind.MAX, lo_v)] if lo_v is not None else []
        steps += [(OpKind.MIN, hi_v)] if hi_v is not None else []
        if not steps:
            self.lo.fail(n, "clamp needs a min or a max")
            return
        self.emit(n, steps, x)

    def emit(self, n: torch.fx.Node, steps: list, x) -> None:
        """One MAX/MIN node per step, chained from x; the last one is named n."""
        lo = self.lo
        if not isinstance(x, torch.fx.Node) or x.op == "get_attr":
            # a constant first operand: max/min commute, so the tensor may be the other one
            if len(steps) == 1 and isinstance(steps[0][1], torch.fx.Node) \
                    and steps[0][1].op != "get_attr":
                x, steps = steps[0][1], [(steps[0][0], x)]
            else:
                lo.fail(n, "needs a tensor operand")
                return
        from .convert import source_line

        shape, src, cur = lo.shape(n), source_line(n), x.name
        if lo.shape(x) != shape:
            lo.fail(n, f"operand shape {lo.shape(x)} differs from the result's {shape} "
                    "(broadcasting a tensor is not supported)")
            return
        for k, (op, other) in enumerate(steps):
            name = n.name if k == len(steps) - 1 else f"{n.name}_{op.value}"
            if other is None:
                lo.fail(n, "needs two operands")
                return
            if isinstance(other, torch.fx.Node) and other.op != "get_attr":
                if lo.shape(other) != shape:
                    lo.fail(n, f"operand shapes {lo.shape(other)} and {shape} differ")
                    return
                lo.nodes.append(Node(name, op, (cur, other.name), shape, src))
            else:
                if not shape:
                    lo.fail(n, "0-d (scalar) results are not supported: rill tensors are "
                            "(*rows, features)")
                    return
                c = lo.constant(other, n, shape[-1])
                if c is None:
                    return
                lo.nodes.append(Node(name, op, (cur,), shape, src, const=c))
            cur = name


__all__ = ["MinMaxOps"]
