"""torch.fx -> NNIR for 1-D convolutions, and the channels-first layout they bring.

NNIR tensors are `(*rows, features)`, ops on the last axis. A conv operand is `(*lead, C, L)`
in torch: channels on axis -2. The frontend infers, for every fx value, whether it is
channels-first (CF): conv inputs and outputs are, a transpose of the last two axes flips, the
elementwise ops (activations, `+ - *`, dropout) keep their operands' layout, and a graph input
is CF when a conv needs it so. A CF value of torch shape `(*lead, C, L)` is held in NNIR as
`(*lead, L, C)`: time on rows, channels as features, so a transpose is free (an alias) and
after streaming the time axis a CF tensor is plain `(*lead, C)`. Ops acting on the last axis
(Linear, LSTM, ...) are refused on a CF value, which in torch would mix time steps.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F

from ..ir import Node, OpKind
from ..ir.graph import Conv1dParams
from ..nn import PaddedConv1d

_CONV_FUNCS = {F.conv1d, torch.conv1d}
_TRANSPOSE_FUNCS = {torch.transpose, torch.permute, torch.t}
_TRANSPOSE_METHODS = {"transpose", "permute", "t"}


def _one(v, what: str):
    """An int parameter given as int or a 1-tuple."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what}={v!r}")
    return v


class ConvFrontend:
    """Layouts of the fx values and the conversion of convs and transposes; `handle(n)` runs
    first for every fx node and returns True when it dealt with it."""

    def __init__(self, lo):
        from . import convert  # the converter of everything else (same layer, bound late)

        self.lo = lo
        self.gm = lo.gm
        self.unary = (set(convert._UNARY_FUNCS), set(convert._UNARY_METHODS),
                      tuple(convert._UNARY_MODULES))
        self.binary = (convert._BINARY_FUNCS, convert._BINARY_METHODS)
        self.cf: set[str] = self._infer()

    # classification --------------------------------------------------------------------------
    @staticmethod
    def rank(n) -> int | None:
        s = n.meta.get("shape") if isinstance(n, torch.fx.Node) else None
        return len(s) if isinstance(s, tuple) and all(isinstance(d, int) for d in s) else None

    def kind(self, n: torch.fx.Node) -> str:
        if n.op in ("placeholder", "output", "get_attr"):
            return n.op
        if n.op == "call_module":
            mod = self.gm.get_submodule(n.target)
            if isinstance(mod, torch.nn.Conv1d):
                return "conv"
            if isinstance(mod, (torch.nn.Dropout, torch.nn.Identity, torch.nn.BatchNorm1d,
                                *self.unary[2])):
                return "elementwise"
            return "other"
        if n.op == "call_function":
            if n.target in _CONV_FUNCS:
                return "conv"
            if n.target in _TRANSPOSE_FUNCS and self.swaps_last_two(n):
                return "transpose"
            if n.target in self.unary[0] or n.target is F.dropout:
                return "elementwise"
            if n.target in self.binary[0]:
                return "elementwise"
            return "other"
        if n.op == "call_method":
            if n.target in _TRANSPOSE_METHODS and self.swaps_last_two(n):
                return "transpose"
            if n.target in self.unary[1] or n.target in self.binary[1]:
                return "elementwise"
        return "other"

    def swaps_last_two(self, n: torch.fx.Node) -> bool:
        """transpose(x, a, b) / permute(x, dims) / t(x) exchanging exactly the last two axes."""
        args = list(n.args)
        if not args or not isinstance(args[0], torch.fx.Node):
            return False
        r = self.rank(args[0])
        if r is None or r < 2:
            return False
        name = n.target if isinstance(n.target, str) else n.target.__name__
        if name == "t":
            return r == 2 and len(args) == 1 and not n.kwargs
        if name == "transpose":
            dims = args[1:] + [n.kwargs[k] for k in ("dim0", "dim1") if k in n.kwargs]
            if len(dims) != 2 or not all(isinstance(d, int) for d in dims):
                return False
            return {d % r for d in dims} == {r - 2, r - 1}
        dims = args[1:] if len(args) > 2 else (args[1] if len(args) == 2 else n.kwargs.get("dims"))
        if not isinstance(dims, (tuple, list)) or len(dims) != r:
            return False
        if not all(isinstance(d, int) for d in dims):
            return False
        return [d % r for d in dims] == [*range(r - 2), r - 1, r - 2]

    def tensor_inputs(self, n: torch.fx.Node) -> list[torch.fx.Node]:
        if self.kind(n) in ("conv", "transpose"):
            first = n.args[0] if n.args else n.kwargs.get("input")
            return [first] if isinstance(first, torch.fx.Node) else []
        return [a for a in n.all_input_nodes if a.op != "get_attr"]

    # layout inference ------------------------------------------------------------------------
    def _infer(self) -> set[str]:
        nodes = list(self.gm.graph.nodes)
        demand: dict[str, bool] = {}  # what the users want of a value: CF wins
        for n in reversed(nodes):
            k, d = self.kind(n), demand.get(n.name)
            want = (True if k == "conv" else (None if d is None else not d) if k == "transpose"
                    else d if k == "elementwise" else None)
            if want is None:
                continue
            for a in self.tensor_inputs(n):
                if want or demand.get(a.name) is None:
                    demand[a.name] = want
        cf: set[str] = set()
        for n in nodes:
            k, ins = self.kind(n), self.tensor_inputs(n)
            if k == "placeholder":
                is_cf = demand.get(n.name) is True and (self.rank(n) or 0) >= 2
            elif k == "conv":
                is_cf = True
            elif k == "transpose":
                is_cf = bool(ins) and ins[0].name not in cf
            elif k == "elementwise":
                is_cf = any(a.name in cf for a in ins)
            else:
                is_cf = False
            if is_cf:
                cf.add(n.name)
        return cf

    def nnir_shape(self, n: torch.fx.Node, s: tuple[int, ...]) -> tuple[int, ...]:
        """The NNIR shape of an fx value of torch shape `s`: CF values swap the last two axes."""
        if n.name in self.cf and isinstance(s, tuple) and len(s) >= 2:
            return s[:-2] + (s[-1], s[-2])
        return s

    # conversion ------------------------------------------------------------------------------
    def handle(self, n: torch.fx.Node) -> bool:
        lo = self.lo
        k = self.kind(n)
        if k == "placeholder":
            if n.name in self.cf:
                lo.emit(n, OpKind.INPUT, [], channels_first=True)
                return True
            return False
        if k == "output":
            arg = n.args[0]
            if isinstance(arg, torch.fx.Node) and arg.name in self.cf:
                lo.nodes.append(Node(n.name, OpKind.OUTPUT, (arg.name,), lo.shape(arg),
                                     channels_first=True))
                return True
            return False
        if k == "conv":
            self.conv(n)
            return True
        if k == "transpose":  # NNIR keeps (rows, features): only the torch view flips
            src = self.tensor_inputs(n)[0]
            lo.alias[n.name] = lo.alias.get(src.name, src.name)
            return True
        ins = self.tensor_inputs(n)
        cf_ins = [a for a in ins if a.name in self.cf]
        if not cf_ins:
            return False
        if k == "elementwise":
            if len(cf_ins) != len(ins):
                lo.fail(n, "mixes a channels-first (..., C, L) operand (a convolution's layout) "
                        "with a channels-last one; transpose one of them")
                return True
            return self.cf_binary_constant(n)
        lo.fail(n, "acts on the last axis, here the time axis L of a channels-first (..., C, L) "
                "tensor (a convolution's layout); rill runs it over channels only: transpose "
                "first, e.g. x.transpose(-1, -2)")
        return True

    def cf_binary_constant(self, n: torch.fx.Node) -> bool:
        """`x + k` on a CF value: a scalar is fine as is; a per-channel (C, 1) / (1, C, 1)
        tensor becomes the per-feature constant; one varying over time is refused."""
        lo = self.lo
        ops = self.binary[0] if n.op == "call_function" else self.binary[1]
        if n.target not in ops or len(n.args) != 2:
            return False
        others = [(i, a) for i, a in enumerate(n.args)
                  if not (isinstance(a, torch.fx.Node) and a.op != "get_attr")]
        if len(others) != 1:
            return False
        i, other = others[0]
        v = lo.attr(other)
        if not isinstance(v, torch.Tensor) or v.numel() == 1:
            return False  # scalars: the ordinary path
        c = lo.shape(n)[-1]
        if v.dim() >= 2 and v.shape[-1] == 1 and v.shape[-2] == c and v.numel() == c:
            args = list(n.args)
            args[i] = v.detach().float().reshape(c)
            lo.binary(n, ops[n.target], args)
            return True
        lo.fail(n, f"constant of shape {tuple(v.shape)} on a channels-first (..., C, L) tensor: "
                f"only scalars and per-channel (C, 1) constants are supported")
        return True

    def conv(self, n: torch.fx.Node) -> None:
        lo = self.lo
        problems = []
        if n.op == "call_module":
            mod = self.gm.get_submodule(n.target)
            x = n.args[0] if n.args else n.kwargs.get("input")
            w, b = mod.weight, mod.bias
            stride, padding, dilation, groups = mod.stride, mod.padding, mod.dilation, mod.groups
            if isinstance(mod, PaddedConv1d):
                padding = None
            if mod.padding_mode != "zeros":
                problems.append(f"padding_mode={mod.padding_mode!r} (only 'zeros')")
            what = type(mod).__name__
        else:
            names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
            a = dict(zip(names, n.args, strict=False))
            a.update(n.kwargs)
            x, w, b = a.get("input"), lo.attr(a.get("weight")), lo.attr(a.get("bias"))
            stride, padding = a.get("stride", 1), a.get("padding", 0)
            dilation, groups = a.get("dilation", 1), a.get("groups", 1)
            what = "conv1d"
        if not isinstance(w, torch.Tensor) or w.dim() != 3:
            lo.fail(n, "weight must be a constant 3-D parameter")
            return
        if b is not None and not isinstance(b, torch.Tensor):
            lo.fail(n, "bias must be a constant parameter or None")
            return
        k = int(w.shape[2])
        try:
            stride, dilation, groups = (_one(stride, "stride"), _one(dilation, "dilation"),
                                        _one(groups, "groups"))
        except TypeError as e:
            lo.fail(n, f"{what}: unsupported {e}")
            return
        if stride != 1:
            problems.append(f"stride={stride} (only stride 1)")
        if padding is None:  # PaddedConv1d: causal
            pads = ((k - 1) * dilation, 0)
        elif padding == "valid":
            pads = (0, 0)
        elif padding == "same":
            total = (k - 1) * dilation
            pads = (total // 2, total - total // 2)  # torch puts the odd zero on the right
        else:
            try:
                p = _one(padding, "padding")
            except TypeError:
                problems.append(f"padding={padding!r}")
                p = 0
            pads = (p, p)
        if problems:
            lo.fail(n, f"unsupported {what} options: " + ", ".join(problems))
            return
        if not isinstance(x, torch.fx.Node) or x.name not in self.cf:
            lo.fail(n, "input must be a (N, C, L) or (C, L) tensor in channels-first layout")
            return
        weight = w.detach().float().numpy().astype(np.float32)
        bias = None if b is None else b.detach().float().numpy().astype(np.float32)
        lo.emit(n, OpKind.CONV1D, [x], weight=weight, bias=bias,
                conv=Conv1dParams(k, dilation, pads[0], pads[1], groups))
