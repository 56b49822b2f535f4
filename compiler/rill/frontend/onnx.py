"""ONNX model -> NNIR (`rill.NNIR.from_onnx(path, override_input_shapes=None)`).

The ONNX graph is rebuilt as an equivalent torch.fx GraphModule (Gemm/MatMul with a constant
weight -> `nn.Linear`, LSTM/GRU -> `nn.LSTM`/`nn.GRU` with the gates reordered from ONNX's
i,o,f,c / z,r,h to torch's i,f,g,o / r,z,n, Conv -> `nn.Conv1d`/`PaddedConv1d`, the rest ->
the torch functions the fx frontend knows), which then goes through `to_nnir` like a traced
torch model: one NNIR builder, one set of checks, the same bits as the fx path.

While building, every value is evaluated on a random sample input, so shapes are known and the
shape arithmetic exporters emit (Shape -> Gather -> Concat -> Reshape, ConstantOfShape for
initial states) folds to constants: a node whose inputs are all constants is evaluated by
`onnx.reference`. Reshape/Squeeze/Unsqueeze/Flatten are kept lazy (one reshape, or none when
a chain comes back to its source's shape), so an exporter's `Unsqueeze -> LSTM -> Squeeze`
around a batch of 1 leaves no data movement behind. Every error names the ONNX node as
`FILE:K: OpType 'node name'` (K: the node's position in the graph, from 1).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import operator
import os
import re

import numpy as np
import torch
import torch.fx
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import LoadError, UnsupportedError
from ..ir import NNIR
from ..nn import PaddedConv1d
from . import onnx_gelu
from .convert import to_nnir
from .prepare import _shape_of

__all__ = ["from_onnx", "onnx_to_graph_module"]

_FLOAT_TYPES = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16 (onnx.TensorProto)


class _Refuse(Exception):
    """A node rill cannot convert; the message says why."""


class _Bad:
    """A value computed from an unconvertible node (reported once, at that node)."""


_BAD = _Bad()


@dataclasses.dataclass
class _Dyn:
    """A run-time tensor: an fx node, its value on the sample input, and its ONNX shape, which
    differs from the sample's while a reshape is pending (applied when an op needs it)."""

    node: torch.fx.Node
    sample: torch.Tensor
    shape: tuple[int, ...]
    via: tuple | None = None  # (index, ONNX node) that asked for the pending reshape

    def base(self) -> _Dyn:
        """The value without its pending reshape."""
        return _Dyn(self.node, self.sample, tuple(self.sample.shape))


@dataclasses.dataclass
class _Padded:
    """`Pad` of a run-time tensor: only a Conv may consume it (it merges the padding)."""

    src: _Dyn
    pads: tuple[int, ...]  # ONNX order: all begins, then all ends
    name: str  # the Pad node's


_PAD_ONLY = "Pad: only supported as the zero padding of a Conv"


def _clean(name: str) -> str:
    s = re.sub(r"\W", "_", name.strip("/")).strip("_") or "v"
    return "v_" + s if s[0].isdigit() else s


class _Builder:
    def __init__(self, model, path: str, input_shapes: dict[str, tuple[int, ...]]):
        from onnx import numpy_helper

        self.model = model
        self.file = os.path.basename(path)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        self.graph = torch.fx.Graph()
        self.root = torch.nn.Module()
        self.env: dict[str, object] = {}
        self.unsupported: dict[str, list[str]] = collections.defaultdict(list)
        self.cur: tuple[int, object] | None = None
        # MatMul results a following Add may give a bias: name -> (Linear, its input's sample)
        self.linear_out: dict[str, tuple[torch.nn.Linear, torch.Tensor]] = {}
        # values a pattern recognised at an earlier node computes (name -> value)
        self.replace: dict[str, _Dyn] = {}
        g = model.graph
        self.uses = collections.Counter(i for n in g.node for i in n.input if i)
        self.uses.update(o.name for o in g.output)
        for t in g.initializer:
            self.env[t.name] = numpy_helper.to_array(t)
        self.inputs = []
        for i in g.input:
            if i.name in self.env:
                continue  # an initializer listed as an input (old exporters)
            shape = input_shapes[i.name]
            node = self.graph.create_node("placeholder", _clean(i.name), name=_clean(i.name))
            sample = torch.randn(shape)
            self.inputs.append(sample)
            self.env[i.name] = _Dyn(node, sample, shape)

    # fx emission ------------------------------------------------------------------------------
    def name(self, suffix: str = "") -> str:
        n = self.cur[1]
        return _clean(n.name or (n.output[0] if n.output else n.op_type)) + suffix

    def materialize(self, v: _Dyn) -> _Dyn:
        if v.shape is None or tuple(v.sample.shape) == tuple(v.shape):
            return v
        cur, self.cur = self.cur, v.via or self.cur  # named after the Reshape/Squeeze/...
        try:
            return self.call(torch.reshape, v.base(), tuple(v.shape),
                             _suffix="" if v.via else "_reshape")
        finally:
            self.cur = cur

    def call(self, target, *args, _suffix: str = "", **kwargs) -> _Dyn:
        """Emit one fx node for `target(*args, **kwargs)` (a torch function or a module) and
        evaluate it on the samples. _Dyn arguments are materialized; arrays become buffers."""

        def prep(a):
            if isinstance(a, _Dyn):
                return self.materialize(a)
            if isinstance(a, (list, tuple)):
                return type(a)(prep(x) for x in a)
            return a

        def fx_arg(a):
            if isinstance(a, _Dyn):
                return a.node
            if isinstance(a, np.ndarray):
                return self.buffer(a)
            if isinstance(a, (list, tuple)):
                return type(a)(fx_arg(x) for x in a)
            return a

        def sample_arg(a):
            if isinstance(a, _Dyn):
                return a.sample
            if isinstance(a, np.ndarray):
                return torch.from_numpy(np.ascontiguousarray(a))
            if isinstance(a, (list, tuple)):
                return type(a)(sample_arg(x) for x in a)
            return a

        args, kwargs = prep(args), {k: prep(v) for k, v in kwargs.items()}
        fargs, fkw = fx_arg(args), {k: fx_arg(v) for k, v in kwargs.items()}
        sargs, skw = sample_arg(args), {k: sample_arg(v) for k, v in kwargs.items()}
        name = self.name(_suffix)
        if isinstance(target, torch.nn.Module):
            mname, k = name, 1
            while hasattr(self.root, mname):
                k += 1
                mname = f"{name}_{k}"
            self.root.add_module(mname, target)
            node = self.graph.create_node("call_module", mname, fargs, fkw, name=name)
        elif isinstance(target, str):  # a method of the first argument
            node = self.graph.create_node("call_method", target, fargs, fkw, name=name)
        else:
            node = self.graph.create_node("call_function", target, fargs, fkw, name=name)
        idx, n = self.cur
        node.meta["stack_trace"] = (f'  File "{self.file}", line {idx}, in graph\n'
                                    f"    {n.op_type} {n.name!r}\n")
        with torch.no_grad():
            if isinstance(target, str):
                sample = getattr(sargs[0], target)(*sargs[1:], **skw)
            else:
                sample = target(*sargs, **skw)
        shape = tuple(sample.shape) if isinstance(sample, torch.Tensor) else None
        return _Dyn(node, sample, shape)

    def buffer(self, a: np.ndarray) -> torch.fx.Node:
        t = torch.from_numpy(np.ascontiguousarray(a))
        if t.is_floating_point():
            t = t.float()
        name = f"onnx_const_{len(self.root._buffers)}"
        self.root.register_buffer(name, t)
        return self.graph.create_node("get_attr", name, name=name)

    # the walk ---------------------------------------------------------------------------------
    def fail(self, n, why: str) -> None:
        self.unsupported[f"{n.op_type}: {why}"].append(n.name or n.output[0])

    def run(self) -> torch.fx.GraphModule:
        for idx, n in enumerate(self.model.graph.node, 1):
            self.cur = (idx, n)
            ins = [self.env.get(i, _BAD) if i else None for i in n.input]
            if any(v is _BAD for v in ins):
                missing = [i for i in n.input if i and i not in self.env]
                if missing:
                    self.fail(n, f"input {missing[0]!r} is not produced by any node")
                outs = [_BAD] * len(n.output)
            elif n.domain not in ("", "ai.onnx"):
                self.fail(n, f"operator domain {n.domain!r} (only the default ONNX domain)")
                outs = [_BAD] * len(n.output)
            else:
                try:
                    outs = self.convert(n, ins)
                except _Refuse as e:
                    self.fail(n, str(e))
                    outs = [_BAD] * len(n.output)
            outs = list(outs) + [_BAD] * (len(n.output) - len(outs))
            # the value a fused pattern computed earlier (onnx_gelu) replaces this node's
            outs = [self.replace.pop(name, v) if name else v
                    for name, v in zip(n.output, outs, strict=False)]
            for name, v in zip(n.output, outs, strict=False):
                if name:
                    self.env[name] = v
        results = []
        for o in self.model.graph.output:
            v = self.env.get(o.name, _BAD)
            if isinstance(v, _Padded):
                self.unsupported[_PAD_ONLY].append(f"{v.name} (a graph output)")
            elif isinstance(v, np.ndarray):
                self.unsupported["graph output: is a constant (does not depend on an input)"
                                 ].append(o.name)
            elif isinstance(v, _Dyn):
                self.cur = (0, _OutputNode(o.name))
                results.append(self.materialize(v).node)
        if self.unsupported:
            lines = [f"  {what}: {len(names)}x at " + "; ".join(names)
                     for what, names in sorted(self.unsupported.items())]
            raise UnsupportedError(f"ONNX model {self.file} uses operations rill cannot "
                                   "compile:\n" + "\n".join(lines))
        self.graph.output(results[0] if len(results) == 1 else tuple(results))
        gm = torch.fx.GraphModule(self.root, self.graph, "OnnxModel")
        gm.graph.eliminate_dead_code()  # values no output needs (all ops here are pure)
        gm.recompile()
        return gm

    def convert(self, n, ins: list) -> list:
        op = n.op_type
        pads = [v for v in ins if isinstance(v, _Padded)]
        if pads and op != "Conv":
            self.unsupported[_PAD_ONLY].append(f"{pads[0].name} (into {op} {n.name!r})")
            return [_BAD] * len(n.output)
        if all(v is None or isinstance(v, np.ndarray) for v in ins):
            return self.fold(n, ins)
        conv = getattr(self, "op_" + op, None)
        if conv is None:
            raise _Refuse("not supported")
        return conv(n, ins, _attrs(n))

    def fold(self, n, ins: list) -> list:
        """Evaluate a node whose inputs are all constants (shape arithmetic, initial states)."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        try:  # a one-node function carries the model's opset (a bare node gets the newest)
            names = [i for i in n.input if i]
            fn = helper.make_function("rill", "fold", names, [o for o in n.output if o], [n],
                                      [helper.make_opsetid("", self.opset)])
            feeds = {name: v for name, v in zip(n.input, ins, strict=False) if name}
            out = ReferenceEvaluator(fn).run(None, feeds, attributes={})
            it = iter(np.asarray(v) for v in out)
            return [next(it) if o else None for o in n.output]
        except Exception as e:  # noqa: BLE001 - the reference evaluator's own errors
            raise _Refuse(f"cannot evaluate on constants ({type(e).__name__}: {e})") from None

    # helpers ----------------------------------------------------------------------------------
    def dyn(self, v, what: str = "input") -> _Dyn:
        if not isinstance(v, _Dyn):
            raise _Refuse(f"{what} must be a run-time tensor")
        return v

    @staticmethod
    def const(v, what: str) -> np.ndarray:
        if not isinstance(v, np.ndarray):
            raise _Refuse(f"{what} must be a constant (an initializer or computable from them)")
        return v

    @staticmethod
    def operand(c: np.ndarray):
        """A constant operand of an elementwise op: a Python float when it is one value, else
        the array with leading 1-axes dropped (a per-feature vector stays 1-D)."""
        if c.size == 1:
            return float(c.reshape(()))
        c = c.astype(np.float32)
        while c.ndim > 1 and c.shape[0] == 1:
            c = c[0]
        return c

    # elementwise ------------------------------------------------------------------------------
    def unary(self, fn, x: _Dyn) -> list:
        y = self.call(fn, x.base())
        return [_Dyn(y.node, y.sample, x.shape, x.via)]  # commutes with a pending reshape

    def op_Relu(self, n, ins, a):
        return self.unary(torch.relu, self.dyn(ins[0]))

    def op_Sigmoid(self, n, ins, a):
        return self.unary(torch.sigmoid, self.dyn(ins[0]))

    def op_Tanh(self, n, ins, a):
        return self.unary(torch.tanh, self.dyn(ins[0]))

    def op_Abs(self, n, ins, a):
        return self.unary(torch.abs, self.dyn(ins[0]))

    def op_Neg(self, n, ins, a):
        return self.unary(torch.neg, self.dyn(ins[0]))

    def op_Identity(self, n, ins, a):
        return [self.dyn(ins[0])]

    def op_Dropout(self, n, ins, a):
        if len(ins) > 2 and ins[2] is not None and bool(self.const(ins[2], "training_mode")):
            raise _Refuse("training_mode=True (export the model in eval mode)")
        if len(n.output) > 1 and n.output[1] and self.uses[n.output[1]]:
            raise _Refuse("its mask output is used")
        return [self.dyn(ins[0])]

    def op_Cast(self, n, ins, a):
        if a.get("to") not in _FLOAT_TYPES:
            raise _Refuse(f"cast of a run-time tensor to type {a.get('to')} (rill computes "
                          "floats)")
        x = self.dyn(ins[0])
        if x.sample.dtype == torch.bool:  # a comparison's mask as 1.0 / 0.0
            y = self.call("float", x.base())
            return [_Dyn(y.node, y.sample, x.shape, x.via)]
        return [x]

    def op_Clip(self, n, ins, a):
        x = self.dyn(ins[0])
        if self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo = None if len(ins) < 2 or ins[1] is None else float(self.const(ins[1], "min"))
            hi = None if len(ins) < 3 or ins[2] is None else float(self.const(ins[2], "max"))
        if lo is None and hi is None:
            return [x]
        return [self.call(torch.clamp, x, lo, hi)]

    def _minmax(self, n, ins, pair, side):
        vals = [v for v in ins if v is not None]
        dyn = [v for v in vals if isinstance(v, _Dyn)]
        if not dyn:
            raise _Refuse("has no run-time operand")
        cur = dyn[0]
        for v in [v for v in vals if v is not cur]:
            if isinstance(v, _Dyn):
                cur = self.call(pair, cur, v)
            else:
                c = self.operand(self.const(v, "operand"))
                cur = self.call(side, cur, c) if isinstance(c, float) else self.call(pair, cur, c)
        return [cur]

    def op_Max(self, n, ins, a):
        return self._minmax(n, ins, torch.maximum, torch.clamp_min)

    def op_Min(self, n, ins, a):
        return self._minmax(n, ins, torch.minimum, torch.clamp_max)

    def binary(self, fn, x, y) -> list:
        if isinstance(x, _Dyn) and isinstance(y, _Dyn):
            return [self.call(fn, x, y)]
        if isinstance(x, _Dyn):
            c, t, swap = self.operand(y), x, False
        else:
            c, t, swap = self.operand(x), y, True
        if isinstance(c, float):  # a scalar commutes with a pending reshape
            r = self.call(fn, c, t.base()) if swap else self.call(fn, t.base(), c)
            return [_Dyn(r.node, r.sample, t.shape, t.via)]
        return [self.call(fn, c, t) if swap else self.call(fn, t, c)]

    def op_Add(self, n, ins, a):
        for k in (0, 1):
            if n.input[k] in self.linear_out and isinstance(ins[1 - k], np.ndarray):
                fused = self.fuse_bias(*self.linear_out[n.input[k]], ins[k], ins[1 - k])
                if fused:
                    return fused
        return self.binary(operator.add, *ins)

    def op_Sub(self, n, ins, a):
        return self.binary(operator.sub, *ins)

    def op_Mul(self, n, ins, a):
        return self.binary(operator.mul, *ins)

    def op_Div(self, n, ins, a):
        x, y = ins
        if not isinstance(y, np.ndarray):  # by a tensor: the fx frontend's division
            return self.binary(operator.truediv, x, y)
        self.dyn(x, "dividend")  # by a constant: x * fp32(1/c), as the fx frontend does x / c
        with np.errstate(divide="ignore"):
            return self.binary(operator.mul, x, (1.0 / y.astype(np.float64)).astype(np.float32))

    def op_Greater(self, n, ins, a):
        return self.binary(operator.gt, *ins)

    def op_GreaterOrEqual(self, n, ins, a):
        return self.binary(operator.ge, *ins)

    def op_Less(self, n, ins, a):
        return self.binary(operator.lt, *ins)

    def op_LessOrEqual(self, n, ins, a):
        return self.binary(operator.le, *ins)

    def op_Where(self, n, ins, a):
        cond = self.dyn(ins[0], "condition")
        vals = [self.operand(v) if isinstance(v, np.ndarray) else v for v in ins[1:3]]
        return [self.call(torch.where, cond, *vals)]

    # functions (the fx frontend's `funcs`: a typed error there when it lacks one) -------------
    def op_Exp(self, n, ins, a):
        return self.unary(torch.exp, self.dyn(ins[0]))

    def op_Log(self, n, ins, a):
        return self.unary(torch.log, self.dyn(ins[0]))

    def op_Sqrt(self, n, ins, a):
        return self.unary(torch.sqrt, self.dyn(ins[0]))

    def op_Reciprocal(self, n, ins, a):
        return self.unary(torch.reciprocal, self.dyn(ins[0]))

    def op_Softplus(self, n, ins, a):
        return self.unary(torch.nn.functional.softplus, self.dyn(ins[0]))

    def op_Gelu(self, n, ins, a):
        approx = a.get("approximate", b"none")
        approx = approx.decode() if isinstance(approx, bytes) else approx
        x = self.dyn(ins[0])
        y = self.call(torch.nn.functional.gelu, x.base(), approximate=approx)
        return [_Dyn(y.node, y.sample, x.shape, x.via)]

    def op_Erf(self, n, ins, a):
        """Erf only inside GELU's `x · 0.5 · (1 + erf(x / √2))` (onnx_gelu): the pattern's
        last Mul gets gelu(x); the nodes between are left without a value (nothing else
        reads them)."""
        consts = {k: v for k, v in self.env.items() if isinstance(v, np.ndarray)}
        m = onnx_gelu.match(self.model.graph, consts, self.cur[0] - 1)
        x = None if m is None else self.env.get(m.x)
        if not isinstance(x, _Dyn):
            raise _Refuse("only inside GELU written as x * 0.5 * (1 + erf(x / sqrt(2))) (how "
                          "torch.onnx.export writes nn.GELU before opset 20)")
        self.replace[m.output] = self.op_Gelu(n, [x], {})[0]
        return [_BAD]

    def softmax(self, n, ins, a, fn):
        x = self.materialize(self.dyn(ins[0]))
        axis = a.get("axis", -1 if self.opset >= 13 else 1) % max(len(x.shape), 1)
        if self.opset < 13 and axis != len(x.shape) - 1:
            raise _Refuse(f"axis={axis} before opset 13 (flattens the axes from it on)")
        return [self.call(fn, x, axis)]

    def op_Softmax(self, n, ins, a):
        return self.softmax(n, ins, a, torch.softmax)

    def op_LogSoftmax(self, n, ins, a):
        return self.softmax(n, ins, a, torch.log_softmax)

    def op_LayerNormalization(self, n, ins, a):
        x = self.materialize(self.dyn(ins[0], "X"))
        if any(o and self.uses[o] for o in n.output[1:]):
            raise _Refuse("its Mean or InvStdDev output is used")
        axis = a.get("axis", -1) % len(x.shape)
        scale = self.const(ins[1], "Scale").astype(np.float32)
        bias = None if len(ins) < 3 or ins[2] is None else self.const(ins[2], "B")
        norm = tuple(x.shape[axis:])
        scale = np.broadcast_to(scale, norm).copy()
        bias = None if bias is None else np.broadcast_to(bias.astype(np.float32), norm).copy()
        return [self.call(torch.nn.functional.layer_norm, x, norm, scale, bias,
                          a.get("epsilon", 1e-5))]

    @staticmethod
    def fuse_bias(mod: torch.nn.Linear, x_sample, y: _Dyn, c: np.ndarray) -> list | None:
        """MatMul(x, W) + b (how exporters spell a Linear on 3-D input) -> one Linear with a
        bias, as the fx path makes of the same nn.Linear."""
        feats = mod.out_features
        if c.size not in (1, feats) or (c.size == feats and c.shape[-1] != feats):
            return None
        b = torch.from_numpy(np.broadcast_to(c.astype(np.float32).reshape(-1), (feats,)).copy())
        mod.bias = torch.nn.Parameter(b if mod.bias is None else mod.bias.detach() + b)
        with torch.no_grad():
            sample = mod(x_sample)
        return [_Dyn(y.node, sample, tuple(sample.shape))]

    # linear algebra ---------------------------------------------------------------------------
    def linear(self, x: _Dyn, w: np.ndarray, b: np.ndarray | None) -> _Dyn:
        mod = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(w.astype(np.float32)))
            if b is not None:
                mod.bias.copy_(torch.from_numpy(b.astype(np.float32)))
        x = self.materialize(x)
        self.last_linear = (mod, x.sample)
        return self.call(mod.eval(), x)

    def op_Gemm(self, n, ins, a):
        x, w = ins[0], self.const(ins[1], "B (the weight)")
        c = ins[2] if len(ins) > 2 else None
        self.dyn(x, "A")
        if a.get("transA", 0):
            raise _Refuse("transA=1")
        w = w if a.get("transB", 0) else w.T
        w = w.astype(np.float64) * a.get("alpha", 1.0)
        b = None
        if c is not None:
            c = self.const(c, "C (the bias)")
            if c.size not in (1, w.shape[0]) or c.size > 1 and c.shape[-1] != w.shape[0]:
                raise _Refuse(f"C of shape {c.shape} (only a bias over the output features)")
            b = np.broadcast_to(c.reshape(-1), (w.shape[0],)) * a.get("beta", 1.0)
        return [self.linear(x, w.astype(np.float32), b)]

    def op_MatMul(self, n, ins, a):
        x, w = ins
        if isinstance(x, _Dyn) and isinstance(w, np.ndarray):
            if w.ndim != 2:
                raise _Refuse(f"x @ W needs a 2-D constant W, got shape {w.shape}")
            y = self.linear(x, np.ascontiguousarray(w.T), None)
            if self.uses[n.output[0]] == 1:  # one consumer, not a graph output
                self.linear_out[n.output[0]] = self.last_linear
            return [y]
        if isinstance(w, _Dyn) and isinstance(x, np.ndarray):
            return [self.call(torch.matmul, x.astype(np.float32), w)]
        raise _Refuse("needs one constant matrix operand (x @ W or W @ x)")

    # recurrent layers -------------------------------------------------------------------------
    def rnn_input(self, n, ins, a, gates: int):
        x = self.dyn(ins[0], "X")
        if a.get("direction", b"forward") not in (b"forward", "forward"):
            raise _Refuse(f"direction={a['direction'].decode()!r} (only forward)")
        for k in ("activations", "clip"):
            if k in a:
                raise _Refuse(f"attribute {k} (only the default activations, no clip)")
        if a.get("layout", 0):
            raise _Refuse("layout=1 (batch-first; only the default layout)")
        if len(ins) > 4 and ins[4] is not None:
            raise _Refuse("sequence_lens given")
        for k, what in ((5, "initial_h"), (6, "initial_c")):
            if len(ins) > k and ins[k] is not None:
                s = self.const(ins[k], what)
                if s.any():
                    raise _Refuse(f"a non-zero {what} (rill starts from a zero state)")
        if len(ins) > 7 and ins[7] is not None:
            raise _Refuse("peepholes (P) given")
        for k in range(1, len(n.output)):
            if n.output[k] and self.uses[n.output[k]]:
                raise _Refuse("its final-state output is used; only the output sequence is")
        if len(x.shape) != 3 or x.shape[1] != 1:
            raise _Refuse(f"X must be (seq, 1, features), got shape {x.shape}")
        # the fx path's forms: when X is a reshaped (seq, features) or batch-first (1, seq,
        # features) tensor, the layer takes that one, as nn.LSTM/GRU would in torch
        seq, feats = x.shape[0], x.shape[2]
        if tuple(x.sample.shape) in ((seq, feats), (1, seq, feats)):
            xin = x.base()
        else:
            xin = self.materialize(x)
        w, r = self.const(ins[1], "W"), self.const(ins[2], "R")
        b = None if len(ins) < 4 or ins[3] is None else self.const(ins[3], "B")
        hidden = w.shape[1] // gates
        return xin, w[0], r[0], None if b is None else b[0], hidden

    def rnn_output(self, out: _Dyn, x_shape) -> list:
        seq, hidden = x_shape[0], out.sample.shape[-1]
        # Y: (seq, dirs, batch, H); batch 1, so any layout of `out` is a reshape of it
        return [_Dyn(out.node, out.sample, (seq, 1, 1, hidden), self.cur)]

    def op_LSTM(self, n, ins, a):
        if a.get("input_forget", 0):
            raise _Refuse("input_forget=1")
        x, w, r, b, h = self.rnn_input(n, ins, a, 4)
        order = np.concatenate([np.arange(h) + k * h for k in (0, 2, 3, 1)])  # iofc -> ifco
        mod = torch.nn.LSTM(w.shape[1], h, bias=b is not None, batch_first=x.shape[0] == 1
                            and len(x.shape) == 3)
        with torch.no_grad():
            mod.weight_ih_l0.copy_(torch.from_numpy(w[order].astype(np.float32)))
            mod.weight_hh_l0.copy_(torch.from_numpy(r[order].astype(np.float32)))
            if b is not None:
                mod.bias_ih_l0.copy_(torch.from_numpy(b[:4 * h][order].astype(np.float32)))
                mod.bias_hh_l0.copy_(torch.from_numpy(b[4 * h:][order].astype(np.float32)))
        return self.rnn_output(self.rnn_call(mod.eval(), x), ins[0].shape)

    def op_GRU(self, n, ins, a):
        if not a.get("linear_before_reset", 0):
            raise _Refuse("linear_before_reset=0 (torch's GRU, which rill runs, is "
                          "linear_before_reset=1)")
        x, w, r, b, h = self.rnn_input(n, ins, a, 3)
        order = np.concatenate([np.arange(h) + k * h for k in (1, 0, 2)])  # zrh -> rzh
        mod = torch.nn.GRU(w.shape[1], h, bias=b is not None, batch_first=x.shape[0] == 1
                           and len(x.shape) == 3)
        with torch.no_grad():
            mod.weight_ih_l0.copy_(torch.from_numpy(w[order].astype(np.float32)))
            mod.weight_hh_l0.copy_(torch.from_numpy(r[order].astype(np.float32)))
            if b is not None:
                mod.bias_ih_l0.copy_(torch.from_numpy(b[:3 * h][order].astype(np.float32)))
                mod.bias_hh_l0.copy_(torch.from_numpy(b[3 * h:][order].astype(np.float32)))
        return self.rnn_output(self.rnn_call(mod.eval(), x), ins[0].shape)

    def rnn_call(self, mod, x: _Dyn) -> _Dyn:
        y = self.call(mod, x)  # (output, h_n[, c_n]): the fx path takes [0]
        return self.call(operator.getitem, y, 0, _suffix="_output")

    # convolutions and normalisation -----------------------------------------------------------
    def op_Pad(self, n, ins, a):
        x = self.dyn(ins[0])
        mode = a.get("mode", b"constant")
        if mode not in (b"constant", "constant"):
            raise _Refuse(f"mode={mode.decode()!r} (only constant zero padding)")
        pads = a.get("pads") if self.opset < 11 else self.const(ins[1], "pads")
        value = a.get("value", 0.0) if self.opset < 11 else (
            0.0 if len(ins) < 3 or ins[2] is None else float(self.const(ins[2], "value")))
        if len(ins) > 3 and ins[3] is not None:
            raise _Refuse("axes given")
        if value != 0.0:
            raise _Refuse(f"padding value {value} (only zeros)")
        return [_Padded(self.materialize(x), tuple(int(p) for p in pads), n.name)]

    def op_Conv(self, n, ins, a):
        x, w = ins[0], self.const(ins[1], "W (the weight)")
        b = None if len(ins) < 3 or ins[2] is None else self.const(ins[2], "B (the bias)")
        extra = (0, 0)
        if isinstance(x, _Padded):
            p, x = x.pads, x.src
            r = len(p) // 2
            if any(p[:r - 1]) or any(p[r:2 * r - 1]):
                raise _Refuse("its input is padded on an axis other than the length")
            extra = (p[r - 1], p[2 * r - 1])
        x = self.dyn(x, "X")
        if w.ndim != 3:
            raise _Refuse(f"{w.ndim - 2}-D convolution (only 1-D)")
        k, d = w.shape[2], (a.get("dilations") or [1])[0]
        if (a.get("strides") or [1])[0] != 1:
            raise _Refuse(f"strides={a['strides']} (only stride 1)")
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        total = (k - 1) * d
        if auto == "NOTSET":
            pads = tuple(a.get("pads") or (0, 0))
        elif auto == "VALID":
            pads = (0, 0)
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            small, big = total // 2, total - total // 2
            pads = (small, big) if auto == "SAME_UPPER" else (big, small)
        else:
            raise _Refuse(f"auto_pad={auto!r}")
        left, right = pads[0] + extra[0], pads[1] + extra[1]
        groups = a.get("group", 1)
        cin = w.shape[1] * groups
        if left == right:
            mod = torch.nn.Conv1d(cin, w.shape[0], k, padding=left, dilation=d, groups=groups,
                                  bias=b is not None)
        elif left == total and right == 0:
            mod = PaddedConv1d(cin, w.shape[0], k, dilation=d, groups=groups, bias=b is not None)
        else:
            raise _Refuse(f"padding ({left}, {right}) of the length axis (only equal on both "
                          f"sides, or the causal ({total}, 0))")
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(w.astype(np.float32)))
            if b is not None:
                mod.bias.copy_(torch.from_numpy(b.astype(np.float32)))
        return [self.call(mod.eval(), x)]

    def op_BatchNormalization(self, n, ins, a):
        x = self.materialize(self.dyn(ins[0], "X"))
        if a.get("training_mode", 0):
            raise _Refuse("training_mode=1 (export the model in eval mode)")
        if len(x.shape) not in (2, 3):
            raise _Refuse(f"input of rank {len(x.shape)} (only (N, C) or (N, C, L))")
        scale, bias, mean, var = (self.const(v, what) for v, what in zip(
            ins[1:5], ("scale", "B", "input_mean", "input_var"), strict=True))
        mod = torch.nn.BatchNorm1d(x.shape[1], eps=a.get("epsilon", 1e-5))
        with torch.no_grad():
            for p, v in ((mod.weight, scale), (mod.bias, bias), (mod.running_mean, mean),
                         (mod.running_var, var)):
                p.copy_(torch.from_numpy(v.astype(np.float32)))
        return [self.call(mod.eval(), x)]

    # data movement ----------------------------------------------------------------------------
    def reshaped(self, x: _Dyn, shape) -> list:
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != math.prod(x.shape):
            raise _Refuse(f"cannot reshape {x.shape} to {shape}")
        return [_Dyn(x.node, x.sample, shape, self.cur)]

    def axes(self, n, ins, a, rank: int) -> list[int] | None:
        """Axes from the second input (newer opsets) or the `axes` attribute, normalised."""
        if len(ins) > 1 and ins[1] is not None:
            ax = self.const(ins[1], "axes").reshape(-1).tolist()
        else:
            ax = a.get("axes")
        return None if ax is None else sorted(int(k) % rank for k in ax)

    def op_Reshape(self, n, ins, a):
        x, s = self.dyn(ins[0]), self.const(ins[1], "shape").reshape(-1).tolist()
        out = [x.shape[k] if d == 0 and not a.get("allowzero", 0) else d for k, d in enumerate(s)]
        if out.count(-1) == 1:
            known = math.prod(d for d in out if d != -1)
            out[out.index(-1)] = math.prod(x.shape) // known if known else 0
        return self.reshaped(x, out)

    def op_Flatten(self, n, ins, a):
        x = self.dyn(ins[0])
        ax = a.get("axis", 1)
        ax = ax + len(x.shape) if ax < 0 else ax
        return self.reshaped(x, (math.prod(x.shape[:ax]), math.prod(x.shape[ax:])))

    def op_Squeeze(self, n, ins, a):
        x = self.dyn(ins[0])
        ax = self.axes(n, ins, a, len(x.shape))
        if ax is None:
            ax = [k for k, d in enumerate(x.shape) if d == 1]
        if any(x.shape[k] != 1 for k in ax):
            raise _Refuse(f"squeezes an axis of size > 1 (shape {x.shape}, axes {ax})")
        return self.reshaped(x, [d for k, d in enumerate(x.shape) if k not in ax])

    def op_Unsqueeze(self, n, ins, a):
        x = self.dyn(ins[0])
        new = (self.const(ins[1], "axes").reshape(-1).tolist() if len(ins) > 1
               and ins[1] is not None else a.get("axes") or [])
        rank = len(x.shape) + len(new)
        ax = self.axes(n, ins, a, rank) or []
        it = iter(x.shape)
        return self.reshaped(x, [1 if k in ax else next(it) for k in range(rank)])

    def op_Transpose(self, n, ins, a):
        x = self.dyn(ins[0])
        perm = a.get("perm") or list(range(len(x.shape)))[::-1]
        if list(perm) == list(range(len(x.shape))):
            return [x]
        moved = [k for k in perm if x.shape[k] != 1]
        if moved == sorted(moved):  # only axes of size 1 move: a reshape
            return self.reshaped(x, [x.shape[k] for k in perm])
        return [self.call(torch.permute, x, tuple(perm))]

    def op_Expand(self, n, ins, a):
        x = self.dyn(ins[0])
        shape = self.const(ins[1], "shape").reshape(-1).tolist()
        try:
            out = np.broadcast_shapes(tuple(x.shape), tuple(int(d) for d in shape))
        except ValueError as e:
            raise _Refuse(str(e)) from None
        x = self.materialize(x)
        if len(out) > len(x.shape):
            x = self.materialize(self.reshaped(x, (1,) * (len(out) - len(x.shape)) + x.shape)[0])
        return [x if out == x.shape else self.call("expand", x, *out)]

    def op_Concat(self, n, ins, a):
        vals = [v for v in ins if v is not None]
        if not all(isinstance(v, _Dyn) for v in vals):
            raise _Refuse("concatenates a constant with a run-time tensor")
        return [self.call(torch.cat, vals, dim=a.get("axis", 0))]

    def op_Slice(self, n, ins, a):
        x = self.dyn(ins[0], "data")
        if self.opset < 10:
            starts, ends, axes, steps = a.get("starts"), a.get("ends"), a.get("axes"), None
        else:
            starts, ends = (self.const(v, w).reshape(-1).tolist()
                            for v, w in zip(ins[1:3], ("starts", "ends"), strict=True))
            axes, steps = (None if len(ins) <= k or ins[k] is None
                           else self.const(ins[k], w).reshape(-1).tolist()
                           for k, w in ((3, "axes"), (4, "steps")))
        rank = len(x.shape)
        axes = list(range(len(starts))) if axes is None else [k % rank for k in axes]
        steps = [1] * len(starts) if steps is None else steps
        idx = [slice(None)] * rank
        for ax, s, e, st in zip(axes, starts, ends, steps, strict=True):
            if st <= 0:
                raise _Refuse(f"step {st} (only positive steps)")
            dim = x.shape[ax]
            idx[ax] = slice(int(max(-dim, min(s, dim))), int(max(-dim, min(e, dim))), int(st))
        return [self.call(operator.getitem, x, tuple(idx))]

    def op_Gather(self, n, ins, a):
        x = self.dyn(ins[0], "data")
        i = self.const(ins[1], "indices")
        ax = a.get("axis", 0) % len(x.shape)
        i = np.where(i < 0, i + x.shape[ax], i).astype(np.int64)
        if i.ndim == 0:
            return [self.call(torch.select, x, ax, int(i))]
        if i.ndim == 1:
            return [self.call(torch.index_select, x, ax, i)]
        raise _Refuse(f"indices of rank {i.ndim} (only a scalar or a vector)")

    def op_Split(self, n, ins, a):
        x = self.dyn(ins[0])
        ax = a.get("axis", 0) % len(x.shape)
        if len(ins) > 1 and ins[1] is not None:
            sizes = self.const(ins[1], "split").reshape(-1).tolist()
        elif a.get("split"):
            sizes = list(a["split"])
        else:
            k = a.get("num_outputs", len(n.output))
            step = -(-x.shape[ax] // k)
            sizes = [min(step, x.shape[ax] - j * step) for j in range(k)]
        parts = self.call(torch.split, x, [int(s) for s in sizes], dim=ax)
        return [self.call(operator.getitem, parts, k, _suffix=f"_{k}") for k in range(len(sizes))]

    def op_Shape(self, n, ins, a):
        s = self.dyn(ins[0]).shape
        return [np.asarray(s[a.get("start", 0):a.get("end", len(s))], np.int64)]

    def op_Size(self, n, ins, a):
        return [np.asarray(math.prod(self.dyn(ins[0]).shape), np.int64)]

    def reduce(self, n, ins, a, fn) -> list:
        x = self.dyn(ins[0])
        ax = self.axes(n, ins, a, len(x.shape))
        if ax is None or not ax:
            if a.get("noop_with_empty_axes", 0):
                return [x]
            ax = list(range(len(x.shape)))
        return [self.call(fn, x, dim=tuple(ax), keepdim=bool(a.get("keepdims", 1)))]

    def op_ReduceSum(self, n, ins, a):
        return self.reduce(n, ins, a, torch.sum)

    def op_ReduceMean(self, n, ins, a):
        return self.reduce(n, ins, a, torch.mean)


class _OutputNode:
    """Stands for a graph output while its pending reshape is emitted."""

    op_type = "output"

    def __init__(self, name: str):
        self.name = name
        self.output = [name]


def _attrs(n) -> dict:
    from onnx import helper

    return {at.name: helper.get_attribute_value(at) for at in n.attribute}


def _input_shapes(model, file: str, override) -> dict[str, tuple[int, ...]]:
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    override = dict(override or {})
    names = [i.name for i in inputs]
    for k in override:
        if k not in names:
            raise UnsupportedError(f"override_input_shapes names {k!r}, which is not an input "
                                   f"of {file} (its inputs: {', '.join(map(repr, names))})")
    out = {}
    for i in inputs:
        tt = i.type.tensor_type
        if not i.type.HasField("tensor_type"):
            raise UnsupportedError(f"input {i.name!r} of {file} is not a tensor")
        if tt.elem_type not in _FLOAT_TYPES:
            raise UnsupportedError(f"input {i.name!r} of {file} has element type {tt.elem_type} "
                                   "(rill streams floats)")
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else
                (d.dim_param or "?") for d in tt.shape.dim]
        if i.name in override:
            shape = tuple(int(d) for d in override[i.name])
            if len(shape) != len(dims) and tt.HasField("shape"):
                raise UnsupportedError(f"override_input_shapes[{i.name!r}] = {shape} has rank "
                                       f"{len(shape)}; the input has rank {len(dims)} {dims}")
            for ax, (d, s) in enumerate(zip(dims, shape, strict=False)):
                if s <= 0 or isinstance(d, int) and d != s:
                    why = "must be positive" if s <= 0 else f"is {d} in {file}"
                    raise UnsupportedError(f"override_input_shapes[{i.name!r}] = {shape}: axis "
                                           f"{ax} {why}")
            out[i.name] = shape
            continue
        if not tt.HasField("shape"):
            raise UnsupportedError(f"input {i.name!r} of {file} has no shape: give it with "
                                   f"override_input_shapes={{{i.name!r}: (...)}}")
        for ax, d in enumerate(dims):
            if not isinstance(d, int):
                raise UnsupportedError(
                    f"input {i.name!r} of {file} has a dynamic axis {ax} ({d!r}, shape {dims}): "
                    f"give its size with override_input_shapes={{{i.name!r}: (...)}}")
        out[i.name] = tuple(dims)
    return out


def _load(path):
    try:
        import onnx
    except ImportError as e:
        raise ImportError("NNIR.from_onnx needs the onnx package (pip install onnx==1.23.2, "
                          "the version rill is tested with; it is in rill's [dev] extra)") from e

    p = os.fspath(path)
    if os.path.isdir(p):
        raise LoadError(f"{p}: is a directory, not an ONNX file")
    if not os.path.isfile(p):
        raise LoadError(f"{p}: no such ONNX file")
    try:
        model = onnx.load(p)
    except Exception as e:  # noqa: BLE001 - protobuf's and onnx's own errors
        raise LoadError(f"{p}: not an ONNX model ({type(e).__name__}: {e})") from None
    if not model.HasField("graph") or not model.graph.node and not model.graph.output:
        raise LoadError(f"{p}: not an ONNX model (no graph)")
    return model


def onnx_to_graph_module(path, override_input_shapes=None):
    """(GraphModule equivalent to the ONNX model, with shapes recorded; its sample inputs)."""
    model = _load(path)
    file = os.path.basename(os.fspath(path))
    shapes = _input_shapes(model, file, override_input_shapes)
    b = _Builder(model, os.fspath(path), shapes)
    gm = b.run()
    with torch.no_grad():
        ShapeProp(gm).propagate(*b.inputs)
    for n in gm.graph.nodes:
        n.meta["shape"] = _shape_of(n.meta.get("tensor_meta"))
    return gm, b.inputs


def from_onnx(path, override_input_shapes=None) -> NNIR:
    """Load an ONNX model as NNIR; `override_input_shapes` maps input name -> shape for inputs
    with dynamic (named or unknown) axes, e.g. {"x": (20, 128)}."""
    gm, _ = onnx_to_graph_module(path, override_input_shapes)
    return to_nnir(gm)
