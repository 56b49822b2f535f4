"""torch.fx GraphModule -> NNIR. Every error names the fx node and the model source line."""

from __future__ import annotations

import collections
import dataclasses
import functools
import operator
import re
import types

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F

from ..errors import UnsupportedError
from ..ir import NNIR, Graph, LstmLayer, Node, OpKind, verify
from .conv import ConvFrontend
from .funcs import FuncOps
from .gru import convert_gru
from .minmax import MinMaxOps
from .shape_ops import ShapeOps

_UNARY_FUNCS = {
    F.relu: OpKind.RELU,
    torch.relu: OpKind.RELU,
    torch.sigmoid: OpKind.SIGMOID,
    F.sigmoid: OpKind.SIGMOID,
    torch.tanh: OpKind.TANH,
    F.tanh: OpKind.TANH,
}
_UNARY_METHODS = {"relu": OpKind.RELU, "sigmoid": OpKind.SIGMOID, "tanh": OpKind.TANH}
_UNARY_MODULES = {
    torch.nn.ReLU: OpKind.RELU, torch.nn.Sigmoid: OpKind.SIGMOID, torch.nn.Tanh: OpKind.TANH
}
_BINARY_FUNCS = {
    operator.add: OpKind.ADD,
    torch.add: OpKind.ADD,
    operator.sub: OpKind.SUB,
    torch.sub: OpKind.SUB,
    operator.mul: OpKind.MUL,
    torch.mul: OpKind.MUL,
}
_BINARY_METHODS = {"add": OpKind.ADD, "sub": OpKind.SUB, "mul": OpKind.MUL}


def source_line(node: torch.fx.Node) -> str:
    """'file.py:LINE: code' of the model line that made this node, from the recorded trace."""
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s*(.*)', trace)
    user = [f for f in frames if "/torch/" not in f[0]]
    if user:
        file, line, code = user[-1]
        return f"{file.rsplit('/', 1)[-1]}:{line}: {code.strip()}"
    # made inside torch's own forward (nn.Sequential, ...): name the user's module by its path
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, cls = list(stack.values())[-1]
        return f"module '{path}' ({getattr(cls, '__name__', str(cls).rsplit('.', 1)[-1])})"
    if node.op == "call_module":
        return f"module '{node.target}'"
    return ""


def _describe(gm: torch.fx.GraphModule, n: torch.fx.Node) -> str:
    if n.op == "call_module":
        return f"module {type(gm.get_submodule(n.target)).__name__}"
    if n.op == "call_method":
        return f"method .{n.target}()"
    if n.op == "call_function":
        return f"function {getattr(n.target, '__name__', str(n.target))}"
    return n.op


class _Lowering:
    def __init__(self, gm: torch.fx.GraphModule):
        self.gm = gm
        self.nodes: list[Node] = []
        self.unsupported: dict[str, list[str]] = collections.defaultdict(list)
        self.lstm_results: set[str] = set()
        self.alias: dict[str, str] = {}
        self.convs = ConvFrontend(self)  # conv1d, transposes and the channels-first layout
        self.shapes = ShapeOps(self)  # data movement, sum/mean, matmul, BatchNorm1d, neg, abs
        self.minmax = MinMaxOps(self)  # maximum/minimum, clamp, hardtanh, relu6
        self.funcs = FuncOps(self)  # exp, log, ..., gelu, softmax, norms, div, compares, where

    def fail(self, n: torch.fx.Node, why: str) -> None:
        self.unsupported[f"{_describe(self.gm, n)}: {why}"].append(source_line(n) or n.name)

    def shape(self, n: torch.fx.Node) -> tuple[int, ...]:
        s = n.meta.get("shape")
        if s is None:
            raise UnsupportedError(
                f"node '{n.name}' has no recorded shape: run rill.fx.prepare_shape(model, input) "
                f"first and pass its GraphModule"
            )
        return self.convs.nnir_shape(n, s)  # channels-first values: (*lead, L, C)

    def emit(self, n: torch.fx.Node, op: OpKind, inputs, **kw) -> None:
        self.nodes.append(
            Node(n.name, op, tuple(i.name for i in inputs), self.shape(n), source_line(n), **kw)
        )

    def attr(self, p):
        """The value a get_attr node stands for; its target is dotted ('fc.weight') when the
        parameter or buffer belongs to a submodule."""
        if isinstance(p, torch.fx.Node) and p.op == "get_attr":
            return functools.reduce(getattr, p.target.split("."), self.gm)
        return p

    def constant(self, v, n: torch.fx.Node, features: int) -> np.ndarray | None:
        v = self.attr(v)
        if isinstance(v, (int, float)):
            return np.full(features, v, dtype=np.float32)
        if isinstance(v, torch.Tensor):
            t = v.detach().float()
            if t.numel() == 1:
                return np.full(features, float(t), dtype=np.float32)
            if t.dim() == 1 and t.shape[0] == features:
                return t.numpy().astype(np.float32)
        self.fail(n, "constant operand must be a scalar or a vector over the last axis")
        return None

    def binary(self, n: torch.fx.Node, op: OpKind, args) -> None:
        if len(args) != 2 or n.kwargs.get("alpha", 1) != 1:
            self.fail(n, "needs exactly two operands and no alpha")
            return
        a, b = args
        a_t = isinstance(a, torch.fx.Node) and a.op != "get_attr"
        b_t = isinstance(b, torch.fx.Node) and b.op != "get_attr"
        if a_t and b_t:
            sa, sb = self.shape(a), self.shape(b)
            if sa != sb:
                a, b = self.broadcast_features(n, a, b)
                if a is None:
                    self.fail(n, f"operand shapes {sa} and {sb} differ (broadcasting only a "
                              "size-1 feature axis over the features is supported)")
                    return
            self.emit(n, op, [a, b])
            return
        if not (a_t or b_t):
            self.fail(n, "has no tensor operand")
            return
        if not self.shape(n):
            self.fail(n, "0-d (scalar) results are not supported: rill tensors are (*rows, "
                      "features)")
            return
        tensor, other = (a, b) if a_t else (b, a)
        c = self.constant(other, n, self.shape(n)[-1])
        if c is None:
            return
        if op is OpKind.SUB and not a_t:  # c - x = (-x) + c: x * (-1) then + c
            neg = Node(n.name + "_neg", OpKind.MUL, (tensor.name,), self.shape(n), source_line(n),
                       const=np.full_like(c, -1.0))
            self.nodes.append(neg)
            self.nodes.append(Node(n.name, OpKind.ADD, (neg.name,), self.shape(n), source_line(n),
                                   const=c))
            return
        self.emit(n, op, [tensor], const=c)

    def broadcast_features(self, n: torch.fx.Node, a, b):
        """(*lead, 1) against (*lead, F): the one feature moved to every lane (a lane move on
        the matrix unit, so rounded to bf16: docs/numerics.md, "Data movement"), as a node
        named after n. Returns the operands, or (None, None) when that is not the case."""
        from ..ir.lanes import LaneMap

        sa, sb = self.shape(a), self.shape(b)
        if len(sa) != len(sb) or sa[:-1] != sb[:-1] or 1 not in (sa[-1], sb[-1]):
            return None, None
        one, full = (a, b) if sa[-1] == 1 else (b, a)
        shape = self.shape(full)
        rows, feats = int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]
        r = np.repeat(np.arange(rows), feats)
        m = LaneMap(r, np.tile(np.arange(feats), rows), np.zeros_like(r), r,
                    np.zeros_like(r), np.ones(r.size, np.float32))
        name = f"{n.name}_bcast"
        self.nodes.append(Node(name, OpKind.LANES, (self.alias.get(one.name, one.name),),
                               shape, source_line(n), moves=m))
        moved = types.SimpleNamespace(name=name)  # emit() needs only the operand's name
        return (moved, full) if one is a else (full, moved)

    def identity(self, n: torch.fx.Node, args: list, training: bool) -> None:
        """Dropout in eval mode (or with p=0) and nn.Identity pass their input through."""
        if training:
            self.fail(n, "dropout in training mode: call model.eval() first (in eval mode "
                      "dropout is the identity)")
            return
        (src,) = args
        if not isinstance(src, torch.fx.Node):
            self.fail(n, "input must be a tensor")
            return
        self.alias[n.name] = self.alias.get(src.name, src.name)

    def functional_linear(self, n: torch.fx.Node) -> None:
        args = list(n.args) + [n.kwargs.get("bias")] * (3 - len(n.args))
        x, w, b = args[:3]
        params = []
        for p in map(self.attr, (w, b)):
            params.append(p.detach().float().numpy() if isinstance(p, torch.Tensor) else p)
        if not isinstance(params[0], np.ndarray) or params[0].ndim != 2:
            self.fail(n, "weight must be a constant 2-D parameter")
            return
        self.emit(n, OpKind.LINEAR, [x], weight=params[0], bias=params[1])

    def rnn_seq_axis(self, n: torch.fx.Node, mod: torch.nn.RNNBase, kind: str,
                     state: str) -> int | None:
        """The sequence axis of a recurrent module's input (LSTM, GRU), or None after a typed
        failure: options rill does not run, an initial `state` given, a batch other than 1."""
        problems = []
        if mod.bidirectional:
            problems.append("bidirectional")
        if getattr(mod, "proj_size", 0):
            problems.append("proj_size")
        if len(n.args) != 1 or n.kwargs:
            problems.append(f"initial {state} given")
        if mod.dropout and mod.training and mod.num_layers > 1:
            problems.append(f"dropout={mod.dropout:g} in training mode (call model.eval() "
                            "first: in eval mode it is inactive)")
        if problems:
            self.fail(n, f"unsupported {kind} options: " + ", ".join(problems))
            return None
        shape = self.shape(n.args[0])
        if len(shape) == 2:
            return 0
        if len(shape) == 3:
            seq_axis = 1 if mod.batch_first else 0
            if shape[1 - seq_axis] != 1:
                self.fail(n, f"batch size must be 1, input shape is {shape}")
                return None
            return seq_axis
        self.fail(n, f"input must be (seq, features) or batch-1 3-D, got {shape}")
        return None

    def lstm(self, n: torch.fx.Node, mod: torch.nn.LSTM) -> None:
        seq_axis = self.rnn_seq_axis(n, mod, "LSTM", "(h0, c0)")
        if seq_axis is None:
            return
        (x,) = n.args
        layers = []
        for k in range(mod.num_layers):
            w_ih = getattr(mod, f"weight_ih_l{k}").detach().float().numpy()
            w_hh = getattr(mod, f"weight_hh_l{k}").detach().float().numpy()
            bias = None
            if mod.bias:
                bias = (getattr(mod, f"bias_ih_l{k}") + getattr(mod, f"bias_hh_l{k}"))
                bias = bias.detach().float().numpy()
            layers.append(LstmLayer(w_ih, w_hh, bias))
        out_shape = self.shape(n)[0]
        self.nodes.append(
            Node(n.name, OpKind.LSTM, (x.name,), out_shape, source_line(n), layers=tuple(layers),
                 seq_axis=seq_axis)
        )
        self.lstm_results.add(n.name)

    def node(self, n: torch.fx.Node) -> None:
        if self.convs.handle(n) or self.minmax.handle(n) or self.funcs.handle(n):
            return
        if n.op == "placeholder":
            self.emit(n, OpKind.INPUT, [])
        elif n.op == "output":
            arg = n.args[0]
            if not isinstance(arg, torch.fx.Node):
                if not self.shapes.handle(n):  # a tuple of tensors: several outputs
                    self.fail(n, "model must return a tensor or a tuple of tensors")
                return
            self.nodes.append(Node(n.name, OpKind.OUTPUT, (arg.name,), self.shape(arg)))
        elif n.op == "get_attr":
            pass  # consumed by the op that uses it as a constant
        elif n.op == "call_module":
            mod = self.gm.get_submodule(n.target)
            if isinstance(mod, (torch.nn.Dropout, torch.nn.Identity)):
                self.identity(n, list(n.args[:1]), mod.training and getattr(mod, "p", 0) > 0)
            elif isinstance(mod, torch.nn.Linear):
                w = mod.weight.detach().float().numpy()
                b = None if mod.bias is None else mod.bias.detach().float().numpy()
                self.emit(n, OpKind.LINEAR, list(n.args[:1]), weight=w, bias=b)
            elif type(mod) in _UNARY_MODULES:
                self.emit(n, _UNARY_MODULES[type(mod)], list(n.args[:1]))
            elif isinstance(mod, torch.nn.LSTM):
                self.lstm(n, mod)
            elif isinstance(mod, torch.nn.GRU):
                convert_gru(self, n, mod)
            elif not self.shapes.handle(n):
                self.fail(n, "not supported")
        elif n.op == "call_function" and n.target is operator.getitem:
            src, idx = n.args
            if src.name in self.lstm_results and idx == 0:
                self.alias[n.name] = src.name  # the LSTM node stands for its output
            elif src.name in self.lstm_results:
                if n.users:
                    rnn = self.gm.get_submodule(src.target)
                    state = "(h, c)" if isinstance(rnn, torch.nn.LSTM) else "h_n"
                    self.fail(n, f"the {type(rnn).__name__}'s {state} output is used; only its "
                              "output sequence is")
            elif not self.shapes.handle(n):
                self.fail(n, "indexing is not supported")
        elif n.op == "call_function" and n.target is F.dropout:
            args = dict(zip(("input", "p", "training", "inplace"), n.args, strict=False))
            args.update(n.kwargs)
            self.identity(n, [args.get("input")], args.get("training", True)
                          and args.get("p", 0.5) > 0)
        elif n.op == "call_function" and n.target is F.linear:
            self.functional_linear(n)
        elif n.op == "call_function" and n.target in _UNARY_FUNCS:
            self.emit(n, _UNARY_FUNCS[n.target], list(n.args[:1]))
        elif n.op == "call_method" and n.target in _UNARY_METHODS:
            self.emit(n, _UNARY_METHODS[n.target], list(n.args[:1]))
        elif n.op == "call_function" and n.target in _BINARY_FUNCS:
            self.binary(n, _BINARY_FUNCS[n.target], n.args)
        elif n.op == "call_method" and n.target in _BINARY_METHODS:
            self.binary(n, _BINARY_METHODS[n.target], n.args)
        elif not self.shapes.handle(n):
            self.fail(n, "not supported")

    def run(self) -> Graph:
        for n in self.gm.graph.nodes:
            self.node(n)
        if self.unsupported:
            lines = [
                f"  {what}: {len(where)}x at " + "; ".join(sorted(set(where)))
                for what, where in sorted(self.unsupported.items())
            ]
            msg = "model uses operations rill cannot compile:\n" + "\n".join(lines)
            raise UnsupportedError(msg)
        return Graph(tuple(
            dataclasses.replace(nd, inputs=tuple(self.alias.get(i, i) for i in nd.inputs))
            for nd in self.nodes
        ))


def to_nnir(gm: torch.fx.GraphModule, inputs_precisions=None, outputs_precisions=None) -> NNIR:
    """Lower a GraphModule from prepare_shape to NNIR (bf16 in and out is the only precision)."""
    for name, p in (("inputs_precisions", inputs_precisions),
                    ("outputs_precisions", outputs_precisions)):
        if p is not None and any(str(x).lower() not in ("bf16", "bfloat16") for x in p):
            raise UnsupportedError(f"{name}={p!r}: rill streams bf16 only")
    return NNIR(verify(_Lowering(gm).run()))
