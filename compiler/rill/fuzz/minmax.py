"""max/min and clamp in fuzz models: descriptions, parameters, forward and the reference bound
(check.py calls `reference`). neg/abs are in ops2.py.

    {"op": "minmax", "fn": "maximum" | "minimum" | "max" | "min", "a": j, "b": k,
     "form": "function" | "method"}                        (two tensors of one feature size)
    {"op": "minmax", "fn": ..., "a": j, "const": "left" | "right"}     (a per-feature buffer)
    {"op": "clamp", "src": j, "lo": float | None, "hi": float | None, "form": "clamp" | "clip"
     | "method" | "clamp_min" | "clamp_max" | "hardtanh" | "Hardtanh" | "relu6" | "ReLU6",
     "tensor": bool}           (tensor: the bounds are per-feature buffers, for clamp/clip only)

MAX/MIN pick one operand, so the error of the result is at most the larger of the operands',
plus the output's bf16 rounding of a constant picked.
"""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OPS3 = ("minmax", "clamp")
_BOUNDS = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 6.0, 1e-3, -3.0, 1e30, float("inf"),
           float("-inf"), float("nan")]


def features(n: dict, f: list[int]) -> int:
    return f[n["a"] if n["op"] == "minmax" else n["src"]]


def generate(rng: random.Random, op: str, j: int, f: list[int]) -> dict:
    if op == "minmax":
        fn = rng.choice(["maximum", "minimum", "max", "min"])
        same = [k for k in range(len(f)) if f[k] == f[j]]
        if rng.random() < 0.3:
            return {"op": op, "fn": fn, "a": j, "const": rng.choice(["left", "right"])}
        return {"op": op, "fn": fn, "a": j, "b": rng.choice(same),
                "form": rng.choice(["function", "method"])}
    form = rng.choice(["clamp", "clip", "method", "clamp_min", "clamp_max", "hardtanh",
                       "Hardtanh", "relu6", "ReLU6"])
    lo, hi = rng.choice(_BOUNDS), rng.choice(_BOUNDS)
    if rng.random() < 0.7 and not (np.isnan(lo) or np.isnan(hi)):
        lo, hi = min(lo, hi), max(lo, hi)
    if form in ("clamp", "clip", "method") and rng.random() < 0.3:
        lo, hi = rng.choice([(lo, None), (None, hi)])
    if form in ("relu6", "ReLU6"):
        lo, hi = 0.0, 6.0
    if form in ("hardtanh", "Hardtanh") and not lo < hi:  # nn.Hardtanh asserts it
        lo, hi = -1.0, 1.0
    return {"op": "clamp", "src": j, "lo": lo, "hi": hi, "form": form,
            "tensor": form in ("clamp", "clip") and rng.random() < 0.3}


def build(model: nn.Module, i: int, n: dict, fin: int, gen: torch.Generator) -> None:
    if n["op"] == "minmax" and "const" in n:
        model.register_buffer(f"k{i}", torch.randn(fin, generator=gen) * 2)
    elif n["op"] == "clamp" and n["tensor"]:
        lo = torch.randn(fin, generator=gen) - 1
        model.register_buffer(f"lo{i}", lo)
        model.register_buffer(f"hi{i}", lo + torch.rand(fin, generator=gen) * 3)
    elif n["op"] == "clamp" and n["form"] == "Hardtanh":
        setattr(model, f"h{i}", nn.Hardtanh(n["lo"], n["hi"]))
    elif n["op"] == "clamp" and n["form"] == "ReLU6":
        setattr(model, f"h{i}", nn.ReLU6())


def forward(model: nn.Module, i: int, n: dict, v: list) -> torch.Tensor:
    if n["op"] == "minmax":
        a, fn = v[n["a"]], n["fn"]
        if "const" in n:
            k = getattr(model, f"k{i}")
            return getattr(torch, fn)(k, a) if n["const"] == "left" else getattr(torch, fn)(a, k)
        b = v[n["b"]]
        return getattr(torch, fn)(a, b) if n["form"] == "function" else getattr(a, fn)(b)
    a, form, lo, hi = v[n["src"]], n["form"], n["lo"], n["hi"]
    if n["tensor"]:
        lo, hi = getattr(model, f"lo{i}"), getattr(model, f"hi{i}")
    if form in ("clamp", "clip"):
        return getattr(torch, form)(a, lo, hi)
    if form == "method":
        return a.clamp(min=lo, max=hi)
    if form == "clamp_min":
        return torch.clamp_min(a, lo)
    if form == "clamp_max":
        return a.clamp_max(hi)
    if form == "hardtanh":
        return F.hardtanh(a, lo, hi)
    if form == "relu6":
        return F.relu6(a)
    if form in ("Hardtanh", "ReLU6"):
        return getattr(model, f"h{i}")(a)
    return torch.clamp(a, lo, hi)  # another form (the shrinker's "module")


def _bound(k):
    """A constant as the hardware holds it: fp32, a subnormal read as zero."""
    k = np.asarray(k, np.float32).astype(np.float64)
    return np.where(np.abs(k) < 2.0**-126, 0.0 * k, k)


def reference(model: nn.Module, i: int, n: dict, vals: list) -> tuple:
    """(value, bound) in float64 with check.py's TINY."""
    from . import check as ck  # check imports this module: bound late

    with np.errstate(all="ignore"):
        if n["op"] == "minmax":
            a, ea = vals[n["a"]]
            if "const" in n:
                b = _bound(getattr(model, f"k{i}").numpy())
                eb = np.zeros_like(b)
            else:
                b, eb = vals[n["b"]]
            f = np.maximum if n["fn"] in ("maximum", "max") else np.minimum
            v = f(a, b)  # a constant picked is an fp32 value: the output rounds it to bf16
            return v, np.maximum(ea, eb) + ck.EPS * np.abs(v) + ck.TINY
        a, ea = vals[n["src"]]
        lo, hi = n["lo"], n["hi"]
        if n["tensor"]:
            lo, hi = getattr(model, f"lo{i}").numpy(), getattr(model, f"hi{i}").numpy()
        if n["form"] == "clamp_min":
            hi = None
        if n["form"] == "clamp_max":
            lo = None
        v = a
        if lo is not None:
            v = np.maximum(v, _bound(lo))
        if hi is not None:
            v = np.minimum(v, _bound(hi))
        return v, ea + ck.EPS * np.abs(v) + ck.TINY  # a bound picked: rounded to bf16 out
