"""Conv1d in fuzz models: the description, the module, its forward and its reference bound.

A fuzz tensor is `(rows, features)`; a conv node treats rows as time: `conv(a.t()).t()`, so
the transposes (free in rill) are fuzzed too. Its description is

    {"op": "conv", "src": j, "out": n, "k": k, "dilation": d, "groups": "one" | "depthwise",
     "bias": b, "form": "padded" | "same" | "function"}

`padded` is rill.nn.PaddedConv1d (causal: streamable, and the streamed bits equal the sequence
program's); `same` is nn.Conv1d(padding='same') and `function` F.conv1d(padding='same'), both
refused for streaming (a typed rejection). Every form keeps the row count.
"""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nn import PaddedConv1d


def generate(rng: random.Random, src: int, fin: int, out: int, stream: bool) -> dict:
    depthwise = rng.random() < 0.3
    return {"op": "conv", "src": src, "out": fin * rng.choice([1, 2]) if depthwise else out,
            "k": rng.choice([1, 2, 3, 3, 4, 5, 7]), "dilation": rng.choice([1, 1, 2, 3]),
            "groups": "depthwise" if depthwise else "one", "bias": rng.random() < 0.7,
            "form": "padded" if stream or rng.random() < 0.5 else rng.choice(["same", "function"])}


def build(n: dict, fin: int, weights) -> nn.Conv1d:
    """The module (its parameters also serve the functional form); `weights(shape, fan_in)`."""
    groups = fin if n["groups"] == "depthwise" else 1
    kw = dict(dilation=n["dilation"], groups=groups, bias=n["bias"])
    conv = PaddedConv1d(fin, n["out"], n["k"], **kw) if n["form"] == "padded" else \
        nn.Conv1d(fin, n["out"], n["k"], padding="same", **kw)
    with torch.no_grad():
        conv.weight.copy_(weights(tuple(conv.weight.shape), (fin // groups) * n["k"]))
        if conv.bias is not None:
            conv.bias.copy_(weights(tuple(conv.bias.shape), (fin // groups) * n["k"]))
    return conv


def forward(conv: nn.Conv1d, n: dict, a: torch.Tensor) -> torch.Tensor:
    if n["form"] == "function":
        return F.conv1d(a.t(), conv.weight, conv.bias, padding="same", dilation=n["dilation"],
                        groups=conv.groups).t()
    return conv(a.t()).t()


def reference(conv: nn.Conv1d, n: dict, a: np.ndarray, ea: np.ndarray, lin):
    """Value and bound through `lin` (check._lin) on the unfolded input: rows (time) x
    (taps x channels), the taps' zero padding contributing nothing."""
    w = conv.weight.detach().double().numpy()  # [C_out, C_in / G, k]
    b = None if conv.bias is None else conv.bias.detach().double().numpy()
    c_out, cpg, k = w.shape
    d, G = n["dilation"], conv.groups
    c_in = cpg * G
    total = (k - 1) * d
    left = total if n["form"] == "padded" else total // 2
    L = a.shape[0]
    full = np.zeros((c_out, k, c_in))
    o = np.arange(c_out)
    for i in range(cpg):
        full[o, :, (o // (c_out // G)) * cpg + i] = w[:, i, :]
    ap = np.zeros((L + total, c_in))
    ep = np.zeros((L + total, c_in))
    ap[left:left + L], ep[left:left + L] = a, ea
    X = np.concatenate([ap[j * d:j * d + L] for j in range(k)], axis=1)
    E = np.concatenate([ep[j * d:j * d + L] for j in range(k)], axis=1)
    return lin(X, E, full.reshape(c_out, k * c_in), b)
