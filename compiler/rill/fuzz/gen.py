"""Random model descriptions (plain JSON), and the torch model and inputs each one rebuilds to.

A description is a dict: `config` (a preset name), `seed` (weights and inputs), `rows` (the
sequence / batch rows of the input), `in` (input features), `stream` (streaming_transform on
axis 0, one row per inference), `wmode` (weight scaling: normal, big, tiny, cancel, huge),
`specials` (special input values sprinkled in), and `nodes`: node 0 is the input, node i >= 1
is one of

    {"op": "linear", "src": j, "out": n, "bias": b, "form": "module" | "function"}
    {"op": "act", "fn": "relu" | "sigmoid" | "tanh", "src": j, "form": "module" | "function" |
     "method"}
    {"op": "bin", "fn": "add" | "sub" | "mul", "a": j, "b": k, "form": "operator" | "function"
     | "method"}                                                       (a residual branch)
    {"op": "scalar", "fn": "add" | "sub" | "rsub" | "mul", "src": j, "c": float}
    {"op": "const", "fn": "add" | "sub" | "mul", "src": j, "buffer": b} (per-feature constant)
    {"op": "lstm" | "gru", "src": j, "hidden": h, "layers": L, "bias": b}
    {"op": "identity", "src": j, "form": "dropout" | "function" | "identity"}  (eval mode)
    {"op": "conv", "src": j, "out": n, "k": k, "dilation": d, ...}  (rows as time: fuzz/conv.py)
    {"op": "fn" | "div" | "mask" | "where" | "softmax" | "norm", ...}   (exp, log, ..., gelu,
     division, compares and selects, softmax, LayerNorm/RMSNorm: fuzz/funcs.py)

Nodes name the nodes they read under the keys `REFS`.

The last node is the output. Every op the frontend supports belongs in `OPS` and `_node`.
"""

from __future__ import annotations

import random

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import conv as fconv
from . import funcs as ffn
from . import minmax as fmm
from . import ops2

PRESETS = ("c1b8", "c2b16", "c3b16")
OPS = ("linear", "act", "bin", "scalar", "const", "lstm", "gru", "identity", "conv",
       *ops2.OPS2,  # data movement, sum/mean, matmul, BatchNorm1d, neg, abs: fuzz/ops2.py
       *fmm.OPS3,  # max/min, clamp, hardtanh, relu6: fuzz/minmax.py
       *ffn.OPS4)  # exp, log, ..., div, compares, where, softmax, norms: fuzz/funcs.py
REFS = ("src", "a", "b", "x", "y")  # the keys of a node that name other nodes
RNNS = ("lstm", "gru")  # at most one recurrent layer per model
WMODES = ("normal", "normal", "normal", "big", "tiny", "cancel", "huge")
SPECIALS = {
    "zero": 0.0, "negzero": -0.0, "sub": 1e-40, "negsub": -3e-42, "big": 1e30, "negbig": -1e30,
    "max": 3.0e38, "inf": float("inf"), "neginf": float("-inf"), "nan": float("nan"),
}
_SCALE = {"normal": 1.0, "big": 1e18, "tiny": 1e-30, "cancel": 1e3, "huge": 3.4e38}


def block_size(config: str) -> int:
    return int(config.rsplit("b", 1)[1]) if "b" in config else 64


def _size(rng: random.Random, B: int) -> int:
    if rng.random() < 0.01:
        return 0  # degenerate: must be a typed rejection
    if rng.random() < 0.03:
        return rng.randint(4 * B, 12 * B)  # may not fit: an AllocationError, or a big program
    return rng.choice([1, 2, 3, B - 1, B, B + 1, 2 * B, 2 * B + 3, rng.randint(1, 3 * B)])


def features(desc: dict) -> list[int]:
    """Feature size of every node."""
    f = [desc["in"]]
    for n in desc["nodes"][1:]:
        if n["op"] in ops2.OPS2:
            f.append(ops2.features(n, f))
            continue
        if n["op"] in fmm.OPS3:
            f.append(fmm.features(n, f))
            continue
        if n["op"] in ffn.OPS4:
            f.append(ffn.features(n, f))
            continue
        f.append(n["out"] if n["op"] in ("linear", "conv") else n["hidden"] if n["op"] in RNNS
                 else f[n["a"] if n["op"] == "bin" else n["src"]])
    return f


def generate(rng: random.Random, configs: tuple[str, ...] = PRESETS) -> dict:
    config = rng.choice(configs)
    B = block_size(config)
    desc = {"config": config, "seed": rng.randrange(2**31),
            "rows": rng.choice([1, 1, 2, 3, 5] * 20 + [0]), "in": _size(rng, B),
            "stream": rng.random() < 0.3,
            "wmode": rng.choice(WMODES),
            "specials": rng.sample(sorted(SPECIALS), rng.choice([0, 0, 1, 2, 4])),
            "nodes": [{"op": "input"}]}
    nodes = desc["nodes"]
    has_lstm = rng.random() < 0.35
    for _ in range(rng.randint(1, rng.choice([4, 7, 12]))):
        f = features(desc)
        j = rng.randrange(len(nodes))
        op = rng.choice(ffn.OPS4 if rng.random() < 0.2 else OPS)  # the function ops: often
        if op in RNNS and not has_lstm:
            op = "linear"
        if op in RNNS:
            has_lstm = False  # at most one per model keeps the programs small
            nodes.append({"op": op, "src": j, "hidden": _size(rng, B),
                          "layers": rng.choice([1, 1, 2, 3]), "bias": rng.random() < 0.8})
        elif op in ops2.OPS2:
            nodes.append(ops2.generate(rng, op, j, f, lambda: _size(rng, B)))
        elif op in fmm.OPS3:
            nodes.append(fmm.generate(rng, op, j, f))
        elif op in ffn.OPS4:
            for n in ffn.generate(rng, op, j, f, lambda: _size(rng, B)):
                nodes.append(n)
                f = features(desc)
        elif op == "linear":
            nodes.append({"op": "linear", "src": j, "out": _size(rng, B),
                          "bias": rng.random() < 0.7, "form": rng.choice(["module", "function"])})
        elif op == "act":
            nodes.append({"op": "act", "src": j, "fn": rng.choice(["relu", "sigmoid", "tanh"]),
                          "form": rng.choice(["module", "function", "method"])})
        elif op == "bin":
            same = [k for k in range(len(nodes)) if f[k] == f[j]]
            k = rng.choice(same)
            if k == j and rng.random() < 0.7:  # make a branch of the other's size
                nodes.append({"op": "linear", "src": rng.randrange(len(nodes)), "out": f[j],
                              "bias": rng.random() < 0.5, "form": "module"})
                k = len(nodes) - 1
            nodes.append({"op": "bin", "fn": rng.choice(["add", "sub", "mul"]), "a": j, "b": k,
                          "form": rng.choice(["operator", "operator", "function", "method"])})
        elif op == "conv":
            nodes.append(fconv.generate(rng, j, f[j], _size(rng, B), desc["stream"]))
        elif op == "identity":
            nodes.append({"op": "identity", "src": j,
                          "form": rng.choice(["dropout", "function", "identity"])})
        elif op == "scalar":
            c = rng.choice([0.5, -1.5, 2.0, 0.0, -0.0, 1e-3, 3.0, 1e20, 1e-40, 3.0e38] * 4
                           + [float("inf"), float("nan")])
            nodes.append({"op": "scalar", "src": j, "c": c,
                          "fn": rng.choice(["add", "sub", "rsub", "mul"])})
        else:
            nodes.append({"op": "const", "src": j, "fn": rng.choice(["add", "sub", "mul"]),
                          "buffer": rng.random() < 0.3,
                          "special": rng.choice([None] * 12 + sorted(SPECIALS))})
    if has_lstm is False and rng.random() < 0.5:  # an LSTM model usually ends in a head
        nodes.append({"op": "linear", "src": len(nodes) - 1, "out": _size(rng, B),
                      "bias": True, "form": "module"})
    return desc


def _weights(gen: torch.Generator, shape: tuple[int, ...], fan_in: int, wmode: str):
    w = (torch.rand(shape, generator=gen) * 2 - 1) / max(fan_in, 1) ** 0.5
    if wmode == "cancel" and len(shape) == 2 and shape[1] >= 2:
        w[:, 1::2] = -w[:, 0:(shape[1] // 2) * 2:2]
    return w * _SCALE[wmode]


class FuzzNet(nn.Module):
    """The model a description stands for; forward unrolls `nodes` at trace time."""

    def __init__(self, desc: dict):
        super().__init__()
        self.nodes = [dict(n) for n in desc["nodes"]]
        self.block = block_size(desc["config"])
        gen = torch.Generator().manual_seed(desc["seed"])
        f = features(desc)
        wmode = desc["wmode"]
        for i, n in enumerate(self.nodes[1:], 1):
            fin = f[n.get("src", 0)]
            if n["op"] == "linear":
                w = _weights(gen, (n["out"], fin), fin, wmode)
                b = _weights(gen, (n["out"],), fin, wmode) if n["bias"] else None
                if n["form"] == "module":
                    lin = nn.Linear(fin, n["out"], bias=n["bias"])
                    with torch.no_grad():
                        lin.weight.copy_(w)
                        if b is not None:
                            lin.bias.copy_(b)
                    setattr(self, f"l{i}", lin)
                else:
                    setattr(self, f"w{i}", nn.Parameter(w))
                    setattr(self, f"b{i}", nn.Parameter(b) if b is not None else None)
            elif n["op"] in RNNS:
                rnn = nn.LSTM if n["op"] == "lstm" else nn.GRU
                lstm = rnn(fin, n["hidden"], n["layers"], bias=n["bias"])
                with torch.no_grad():
                    for p in lstm.parameters():
                        p.copy_(_weights(gen, tuple(p.shape), n["hidden"], wmode))
                setattr(self, f"l{i}", lstm)
            elif n["op"] == "const":
                k = torch.randn(f[i], generator=gen) * 2
                if n.get("special") and f[i]:
                    k[int(torch.randint(0, f[i], (1,), generator=gen))] = SPECIALS[n["special"]]
                if n["buffer"]:
                    self.register_buffer(f"k{i}", k)
                else:
                    setattr(self, f"k{i}", nn.Parameter(k))
            elif n["op"] == "conv":
                setattr(self, f"c{i}", fconv.build(
                    n, fin, lambda shape, fan_in: _weights(gen, shape, fan_in, wmode)))
            elif n["op"] in fmm.OPS3:
                fmm.build(self, i, n, f[i], gen)
            elif n["op"] in ffn.OPS4:
                ffn.build(self, i, n, f[i], gen)
            elif n["op"] in ops2.OPS2:
                ops2.build(self, i, n, fin, lambda s, fan: _weights(gen, s, fan, wmode))
            elif n["op"] == "identity" and n["form"] != "function":
                setattr(self, f"d{i}", nn.Dropout(0.3) if n["form"] == "dropout" else nn.Identity())
            elif n["op"] == "act" and n["form"] == "module":
                act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[n["fn"]]()
                setattr(self, f"a{i}", act)
        self.eval()

    def forward(self, x):
        v = [x]
        for i, n in enumerate(self.nodes[1:], 1):
            op = n["op"]
            if op == "linear":
                a = v[n["src"]]
                y = getattr(self, f"l{i}")(a) if n["form"] == "module" else \
                    F.linear(a, getattr(self, f"w{i}"), getattr(self, f"b{i}"))
            elif op in RNNS:
                y, _ = getattr(self, f"l{i}")(v[n["src"]])
            elif op == "act":
                a = v[n["src"]]
                y = getattr(self, f"a{i}")(a) if n["form"] == "module" else \
                    getattr(torch, n["fn"])(a) if n["form"] == "function" else \
                    getattr(a, n["fn"])()
            elif op == "bin":
                a, b, fn = v[n["a"]], v[n["b"]], n["fn"]
                form = n.get("form", "operator")
                if form == "function":
                    y = getattr(torch, fn)(a, b)
                elif form == "method":
                    y = getattr(a, fn)(b)
                else:
                    y = a + b if fn == "add" else a - b if fn == "sub" else a * b
            elif op == "conv":
                y = fconv.forward(getattr(self, f"c{i}"), n, v[n["src"]])
            elif op == "identity":
                a = v[n["src"]]
                y = F.dropout(a, 0.5, training=False) if n["form"] == "function" else \
                    getattr(self, f"d{i}")(a)
            elif op in ops2.OPS2:
                y = ops2.forward(self, i, n, v)
            elif op in fmm.OPS3:
                y = fmm.forward(self, i, n, v)
            elif op in ffn.OPS4:
                y = ffn.forward(self, i, n, v)
            elif op == "scalar":
                a, c = v[n["src"]], n["c"]
                fn = n["fn"]
                y = a + c if fn == "add" else a - c if fn == "sub" else c - a if fn == "rsub" \
                    else c * a
            else:
                a, k = v[n["src"]], getattr(self, f"k{i}")
                y = a + k if n["fn"] == "add" else a - k if n["fn"] == "sub" else a * k
            v.append(y)
        return v[-1]


def make_input(desc: dict) -> torch.Tensor:
    """(rows, in) float32: normal values scaled by a random power of ten, specials sprinkled."""
    gen = torch.Generator().manual_seed(desc["seed"] + 1)
    x = torch.randn(desc["rows"], desc["in"], generator=gen)
    x = x * 10.0 ** float(torch.randint(-3, 4, (1,), generator=gen))
    flat = x.view(-1)
    for s in desc["specials"] if flat.numel() else ():
        flat[int(torch.randint(0, flat.numel(), (1,), generator=gen))] = SPECIALS[s]
    return x
