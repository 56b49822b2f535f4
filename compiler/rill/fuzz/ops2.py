"""Data movement, reductions, matmul, BatchNorm1d, neg and abs in fuzz models: descriptions,
parameters, forward and the reference bound (check.py calls `reference`).

    {"op": "slice", "src": j, "form": "index" | "narrow" | "index_select", "start": s,
     "stop": e, "step": k, "idx": [..]}                 (on the feature axis; idx: index_select)
    {"op": "cat", "a": j, "b": k, "form": "cat" | "concat"}          (on the feature axis)
    {"op": "reduce", "src": j, "fn": "sum" | "mean", "form": "method" | "function"} (keepdim)
    {"op": "neg" | "abs", "src": j, "form": "operator" | "function" | "method"}
    {"op": "bn", "src": j}                        (BatchNorm1d in eval mode, random stats)
    {"op": "matmul", "src": j, "out": n}          (x @ W, W a constant [features, n])

A lane move (slice, cat) rounds its operand to bf16 on the matrix unit; a feature sum is the
exact sum of bf16-rounded values within a block, then fp32 across blocks (docs/numerics.md).
"""

from __future__ import annotations

import operator
import random

import numpy as np
import torch
import torch.nn as nn

OPS2 = ("slice", "cat", "reduce", "neg", "abs", "bn", "matmul")


def features(n: dict, f: list[int]) -> int:
    op = n["op"]
    if op == "slice":
        return len(n["idx"]) if n["form"] == "index_select" else \
            len(range(n["start"], n["stop"], n["step"]))
    if op == "cat":
        return f[n["a"]] + f[n["b"]]
    if op == "reduce":
        return 1
    if op == "matmul":
        return n["out"]
    return f[n["src"]]


def generate(rng: random.Random, op: str, j: int, f: list[int], size) -> dict:
    fj = f[j]
    if op == "slice" and fj >= 1:
        form = rng.choice(["index", "index", "narrow", "index_select"])
        if form == "index_select":
            return {"op": op, "src": j, "form": form,
                    "idx": [rng.randrange(fj) for _ in range(rng.randint(1, fj + 2))]}
        start = rng.randrange(fj)
        stop = rng.randint(start + 1, fj)
        step = 1 if form == "narrow" else rng.choice([1, 1, 2, 3])
        return {"op": op, "src": j, "form": form, "start": start, "stop": stop, "step": step}
    if op == "cat":
        return {"op": op, "a": j, "b": rng.randrange(len(f)),
                "form": rng.choice(["cat", "concat"])}
    if op == "reduce":
        return {"op": op, "src": j, "fn": rng.choice(["sum", "mean"]),
                "form": rng.choice(["method", "function"])}
    if op in ("neg", "abs"):
        return {"op": op, "src": j, "form": rng.choice(["operator", "function", "method"])}
    if op == "matmul":
        return {"op": op, "src": j, "out": size()}
    return {"op": "bn" if op == "bn" else "neg", "src": j, "form": "operator"}


def build(model: nn.Module, i: int, n: dict, fin: int, weights) -> None:
    if n["op"] == "bn":
        bn = nn.BatchNorm1d(max(fin, 1))
        with torch.no_grad():
            bn.running_mean.copy_(weights((max(fin, 1),), 1) * 2)
            bn.running_var.copy_(weights((max(fin, 1),), 1).abs() + 0.25)
            bn.weight.copy_(weights((max(fin, 1),), 1) * 2)
            bn.bias.copy_(weights((max(fin, 1),), 1))
        setattr(model, f"n{i}", bn)
    elif n["op"] == "matmul":
        model.register_buffer(f"m{i}", weights((fin, n["out"]), fin))
    elif n["op"] == "slice" and n["form"] == "index_select":
        model.register_buffer(f"i{i}", torch.tensor(n["idx"], dtype=torch.int64))


def forward(model: nn.Module, i: int, n: dict, v: list) -> torch.Tensor:
    op = n["op"]
    if op == "slice":
        a = v[n["src"]]
        if n["form"] == "narrow":
            return a.narrow(-1, n["start"], n["stop"] - n["start"])
        if n["form"] == "index_select":
            return torch.index_select(a, -1, getattr(model, f"i{i}"))
        return a[..., n["start"]:n["stop"]:n["step"]]
    if op == "cat":
        return (torch.cat if n["form"] == "cat" else torch.concat)([v[n["a"]], v[n["b"]]], -1)
    if op == "reduce":
        a = v[n["src"]]
        return getattr(a, n["fn"])(-1, keepdim=True) if n["form"] == "method" else \
            getattr(torch, n["fn"])(a, dim=-1, keepdim=True)
    if op in ("neg", "abs"):
        a, form = v[n["src"]], n["form"]
        if form == "operator":
            return -a if op == "neg" else abs(a)
        return getattr(torch, op)(a) if form == "function" else getattr(a, op)()
    if op == "bn":
        return getattr(model, f"n{i}")(v[n["src"]])
    return operator.matmul(v[n["src"]], getattr(model, f"m{i}"))


def _moved(a, ea, eps, tiny):
    """A value through the matrix unit: rounded to bf16 once more."""
    with np.errstate(all="ignore"):
        return a, ea + eps * (np.abs(a) + ea) + tiny


def reference(model: nn.Module, i: int, n: dict, vals: list) -> tuple:
    """(value, bound) in float64, with check.py's EPS, TINY, _lin, _mul, _add."""
    from . import check as ck  # check imports this module: bound late

    op, eps, tiny = n["op"], ck.EPS, ck.TINY
    if op == "slice":
        a, ea = vals[n["src"]]
        idx = n["idx"] if n["form"] == "index_select" else \
            list(range(n["start"], n["stop"], n["step"]))
        return _moved(a[..., idx], ea[..., idx], eps, tiny)
    if op == "cat":
        (a, ea), (b, eb) = vals[n["a"]], vals[n["b"]]
        return _moved(np.concatenate([a, b], -1), np.concatenate([ea, eb], -1), eps, tiny)
    if op == "reduce":
        a, ea = _moved(*vals[n["src"]], eps, tiny)
        with np.errstate(all="ignore"):
            k = a.shape[-1]
            v = a.sum(-1, keepdims=True)
            mag = np.abs(a).sum(-1, keepdims=True)
            e = ea.sum(-1, keepdims=True) + 2 * eps * mag + tiny * (k + 2)
            # inf - inf, or an overflowing partial sum: the hardware may give NaN there
            risky = ck._maybe_inf(a, ea).any(-1, keepdims=True) | (mag + e > ck.LIMIT)
            e = np.where(risky | np.isnan(ea).any(-1, keepdims=True), np.nan, e)
            if n["fn"] == "mean":
                v, e = v / k, e / k + eps * np.abs(v / k) + tiny
        return v, e
    if op == "neg":
        a, ea = vals[n["src"]]
        return -a, ea
    if op == "abs":
        a, ea = vals[n["src"]]
        return np.abs(a), ea + tiny
    if op == "bn":
        bn = getattr(model, f"n{i}")
        a, ea = vals[n["src"]]
        d = {k: getattr(bn, k).detach().double().numpy()
             for k in ("running_mean", "running_var", "weight", "bias")}
        scale = d["weight"] / np.sqrt(d["running_var"] + bn.eps)
        shift = d["bias"] - d["running_mean"] * scale
        return ck._add(*ck._mul(a, ea, scale, ck._daz(scale)), shift, ck._daz(shift))
    w = getattr(model, f"m{i}").double().numpy()
    return ck._lin(*vals[n["src"]], w.T, None)
