"""torch.fx -> NNIR for the function ops of vector unit v3 (docs/numerics.md, "Functions"):

- `exp`, `exp2`, `log`, `log2`, `sqrt`, `rsqrt`, `reciprocal` (torch functions and methods),
  `F.silu`/`nn.SiLU`, `F.softplus`/`nn.Softplus` (beta=1, threshold=20: torch's defaults),
  `F.gelu`/`nn.GELU` (approximate 'none' and 'tanh');
- `softmax`/`log_softmax` over the last axis (F., torch., method and nn. forms);
- `nn.LayerNorm`/`F.layer_norm` and `nn.RMSNorm`/`F.rms_norm` over the last axis;
- `/` (`torch.div` without rounding_mode, `true_divide`) with tensors or constants;
- `x ** e`, `pow`, `square` for a constant e of 1, 2 (x * x), 0.5, -0.5, -1;
- `> >= < <=` (operators, torch functions, methods) giving a float mask (1.0 / 0.0) and
  `torch.where(mask, a, b)` with tensors, scalars or per-feature constants as a and b;
  `.float()` of a mask is the mask.

`convert.py` asks `FuncOps.handle` about every node before its own tables.
"""

from __future__ import annotations

import operator

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F

from ..ir import Node, OpKind

_FUNCS = {
    torch.exp: OpKind.EXP, torch.exp2: OpKind.EXP2, torch.log: OpKind.LOG,
    torch.log2: OpKind.LOG2, torch.sqrt: OpKind.SQRT, torch.rsqrt: OpKind.RSQRT,
    torch.reciprocal: OpKind.RECIP, F.silu: OpKind.SILU,
}
_METHODS = {"exp": OpKind.EXP, "exp2": OpKind.EXP2, "log": OpKind.LOG, "log2": OpKind.LOG2,
            "sqrt": OpKind.SQRT, "rsqrt": OpKind.RSQRT, "reciprocal": OpKind.RECIP}
_SOFTMAX = {F.softmax: OpKind.SOFTMAX, torch.softmax: OpKind.SOFTMAX,
            F.log_softmax: OpKind.LOG_SOFTMAX, torch.log_softmax: OpKind.LOG_SOFTMAX,
            "softmax": OpKind.SOFTMAX, "log_softmax": OpKind.LOG_SOFTMAX}
_DIV = {operator.truediv, torch.div, torch.true_divide, "div", "true_divide", "__truediv__"}
_CMP = {operator.gt: OpKind.GT, operator.ge: OpKind.GE, operator.lt: OpKind.LT,
        operator.le: OpKind.LE, torch.gt: OpKind.GT, torch.ge: OpKind.GE, torch.lt: OpKind.LT,
        torch.le: OpKind.LE, "gt": OpKind.GT, "ge": OpKind.GE, "lt": OpKind.LT,
        "le": OpKind.LE}
_FLIP = {OpKind.GT: OpKind.LT, OpKind.GE: OpKind.LE, OpKind.LT: OpKind.GT, OpKind.LE: OpKind.GE}


def _is_tensor(v) -> bool:
    return isinstance(v, torch.fx.Node) and v.op != "get_attr"


class FuncOps:
    def __init__(self, lo):
        self.lo = lo
        self.masks: set[str] = set()  # comparison results (float masks)

    def _arg(self, n: torch.fx.Node, k: int, name: str, default=None):
        return n.args[k] if len(n.args) > k else n.kwargs.get(name, default)

    def handle(self, n: torch.fx.Node) -> bool:
        t, fn, meth = n.target, n.op == "call_function", n.op == "call_method"
        mod = self.lo.gm.get_submodule(t) if n.op == "call_module" else None
        key = t if (fn or meth) else None
        if key in _FUNCS and fn or key in _METHODS and meth:
            self.unary(n, (_FUNCS if fn else _METHODS)[key], self._arg(n, 0, "input"))
        elif fn and t is F.softplus:
            self.softplus(n, self._arg(n, 0, "input"), self._arg(n, 1, "beta", 1.0),
                          self._arg(n, 2, "threshold", 20.0))
        elif fn and t is F.gelu:
            self.gelu(n, self._arg(n, 0, "input"), n.kwargs.get("approximate", "none"))
        elif key in _SOFTMAX:
            self.softmax(n, _SOFTMAX[key], self._arg(n, 0, "input"), self._arg(n, 1, "dim"))
        elif fn and t is F.layer_norm:
            self.norm(n, OpKind.LAYER_NORM, self._arg(n, 0, "input"),
                      self._arg(n, 1, "normalized_shape"), self._arg(n, 2, "weight"),
                      self._arg(n, 3, "bias"), self._arg(n, 4, "eps", 1e-5))
        elif fn and t is getattr(F, "rms_norm", None):
            self.norm(n, OpKind.RMS_NORM, self._arg(n, 0, "input"),
                      self._arg(n, 1, "normalized_shape"), self._arg(n, 2, "weight"), None,
                      self._arg(n, 3, "eps"))
        elif key in _DIV and (fn or meth):
            if n.kwargs.get("rounding_mode") is not None:
                self.lo.fail(n, f"rounding_mode={n.kwargs['rounding_mode']!r}: only true "
                             "division is supported")
            else:
                self.div(n, self._arg(n, 0, "input"), self._arg(n, 1, "other"))
        elif key in _CMP and (fn or meth):
            self.compare(n, _CMP[key], self._arg(n, 0, "input"), self._arg(n, 1, "other"))
        elif (fn and t in (torch.pow, operator.pow) or meth and t == "pow") \
                or (fn and t is torch.square or meth and t == "square"):
            self.power(n, self._arg(n, 0, "input"),
                       2 if t in (torch.square, "square") else self._arg(n, 1, "exponent"))
        elif fn and t is torch.where:
            self.where(n, *[self._arg(n, k, nm) for k, nm in
                            enumerate(("condition", "input", "other"))])
        elif meth and t == "float" and _is_tensor(n.args[0]) and n.args[0].name in self.masks:
            self.lo.alias[n.name] = self.lo.alias.get(n.args[0].name, n.args[0].name)
            self.masks.add(n.name)
        elif mod is not None and isinstance(mod, torch.nn.SiLU):
            self.unary(n, OpKind.SILU, n.args[0])
        elif mod is not None and isinstance(mod, torch.nn.Softplus):
            self.softplus(n, n.args[0], mod.beta, mod.threshold)
        elif mod is not None and isinstance(mod, torch.nn.GELU):
            self.gelu(n, n.args[0], mod.approximate)
        elif mod is not None and isinstance(mod, (torch.nn.Softmax, torch.nn.LogSoftmax)):
            op = OpKind.SOFTMAX if isinstance(mod, torch.nn.Softmax) else OpKind.LOG_SOFTMAX
            self.softmax(n, op, n.args[0], mod.dim)
        elif mod is not None and isinstance(mod, torch.nn.LayerNorm):
            self.norm(n, OpKind.LAYER_NORM, n.args[0], mod.normalized_shape, mod.weight,
                      mod.bias, mod.eps)
        elif mod is not None and isinstance(mod, getattr(torch.nn, "RMSNorm", ())):
            self.norm(n, OpKind.RMS_NORM, n.args[0], mod.normalized_shape, mod.weight, None,
                      mod.eps)
        else:
            return False
        return True

    # ------------------------------------------------------------------------------------------
    def _tensor(self, n: torch.fx.Node, x) -> bool:
        if not _is_tensor(x):
            self.lo.fail(n, "needs a tensor operand")
            return False
        if not self.lo.shape(n):
            self.lo.fail(n, "0-d (scalar) results are not supported: rill tensors are (*rows, "
                         "features)")
            return False
        return True

    def unary(self, n: torch.fx.Node, op: OpKind, x, **kw) -> None:
        if self._tensor(n, x):
            self.lo.emit(n, op, [x], **kw)

    def softplus(self, n, x, beta, threshold) -> None:
        if beta != 1 or threshold != 20:
            self.lo.fail(n, f"softplus(beta={beta}, threshold={threshold}): only beta=1, "
                         "threshold=20 (torch's defaults)")
            return
        self.unary(n, OpKind.SOFTPLUS, x)

    def gelu(self, n, x, approximate) -> None:
        if approximate not in ("none", "tanh"):
            self.lo.fail(n, f"gelu(approximate={approximate!r}): 'none' or 'tanh'")
            return
        self.unary(n, OpKind.GELU if approximate == "none" else OpKind.GELU_TANH, x)

    def _last_axis(self, n, dim) -> bool:
        rank = len(n.meta.get("shape") or ())
        if dim is None or not isinstance(dim, int) or dim not in (-1, rank - 1):
            self.lo.fail(n, f"dim={dim!r}: only over the last axis (the features), dim=-1")
            return False
        return True

    def softmax(self, n, op, x, dim) -> None:
        if self._last_axis(n, dim):
            self.unary(n, op, x)

    def _param(self, v) -> np.ndarray | None:
        v = self.lo.attr(v)
        return None if v is None else v.detach().float().numpy().astype(np.float32)

    def norm(self, n, op, x, shape, weight, bias, eps) -> None:
        if not self._tensor(n, x):
            return
        feats = self.lo.shape(n)[-1]
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if shape != (feats,):
            self.lo.fail(n, f"normalized_shape={shape}: only over the last axis, "
                         f"({feats},)")
            return
        if eps is None:  # torch's RMSNorm default: the dtype's machine epsilon
            eps = float(torch.finfo(torch.float32).eps)
        self.lo.emit(n, op, [x], weight=self._param(weight), bias=self._param(bias),
                     attrs={"eps": float(eps)})

    def div(self, n, a, b) -> None:
        lo = self.lo
        if _is_tensor(a) and _is_tensor(b):
            lo.binary(n, OpKind.DIV, [a, b])
        elif _is_tensor(a):  # x / c = x * fp32(1/c)
            c = lo.constant(b, n, lo.shape(n)[-1] if lo.shape(n) else 1)
            if c is not None and self._tensor(n, a):
                with np.errstate(divide="ignore", over="ignore"):
                    inv = (1.0 / c.astype(np.float64)).astype(np.float32)
                lo.emit(n, OpKind.MUL, [a], const=inv)
        elif _is_tensor(b):  # c / x = reciprocal(x) * c
            c = lo.constant(a, n, lo.shape(n)[-1] if lo.shape(n) else 1)
            if c is not None and self._tensor(n, b):
                from .convert import source_line

                rec = n.name + "_recip"
                lo.nodes.append(Node(rec, OpKind.RECIP, (b.name,), lo.shape(n), source_line(n)))
                lo.nodes.append(Node(n.name, OpKind.MUL, (rec,), lo.shape(n), source_line(n),
                                     const=c))
        else:
            lo.fail(n, "has no tensor operand")

    def power(self, n, x, e) -> None:
        """x ** e for a constant e: 1 (x), 2 (x * x), 0.5 (sqrt), -0.5 (rsqrt), -1 (1/x)."""
        from .convert import source_line

        lo = self.lo
        ops = {0.5: OpKind.SQRT, -0.5: OpKind.RSQRT, -1: OpKind.RECIP}
        if not self._tensor(n, x) or not isinstance(e, (int, float)) or isinstance(e, bool):
            if _is_tensor(x) and lo.shape(n):
                lo.fail(n, f"exponent {e!r}: only a constant 1, 2, 0.5, -0.5 or -1")
            return
        if e == 1:
            lo.alias[n.name] = lo.alias.get(x.name, x.name)
        elif e == 2:
            lo.nodes.append(Node(n.name, OpKind.MUL, (x.name, x.name), lo.shape(n),
                                 source_line(n)))
        elif e in ops:
            lo.emit(n, ops[e], [x])
        else:
            lo.fail(n, f"exponent {e!r}: only a constant 1, 2, 0.5, -0.5 or -1")

    def compare(self, n, op, a, b) -> None:
        if not _is_tensor(a):  # c > x is x < c
            a, b, op = b, a, _FLIP[op]
        self.lo.binary(n, op, [a, b])
        self.masks.add(n.name)

    def where(self, n, cond, a, b) -> None:
        lo = self.lo
        if not (_is_tensor(cond) and cond.name in self.masks):
            lo.fail(n, "the condition must be a comparison (> >= < <=) of tensors or constants")
            return
        if not self._tensor(n, cond):
            return
        shape = lo.shape(n)
        if lo.shape(cond) != shape:
            lo.fail(n, f"condition shape {lo.shape(cond)} differs from the result's {shape} "
                    "(broadcasting is not supported)")
            return
        ins, attrs = [cond], {}
        for key, v in (("a", a), ("b", b)):
            if _is_tensor(v):
                if lo.shape(v) != shape:
                    lo.fail(n, f"operand shape {lo.shape(v)} differs from the result's {shape}")
                    return
                ins.append(v)
            else:
                c = lo.constant(v, n, shape[-1])
                if c is None:
                    return
                attrs[key] = c
        lo.emit(n, OpKind.WHERE, ins, attrs=attrs)


__all__ = ["FuncOps"]
