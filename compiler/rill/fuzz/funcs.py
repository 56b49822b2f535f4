"""The function ops in fuzz models (vector unit v3, docs/numerics.md "Function unit", "Compares,
selects and the lane maximum", "Functions compiled from these", "Normalisation"): descriptions,
parameters, forward and the reference bound (check.py calls `reference`).

    {"op": "fn", "fn": "exp" | "exp2" | "log" | "log2" | "sqrt" | "rsqrt" | "reciprocal" | "silu"
     | "softplus" | "gelu" | "gelu_tanh", "src": j, "form": "function" | "method" | "module"}
    {"op": "div", "a": j, "b": k, "form": "operator" | "function" | "method" | "true_divide"}
    {"op": "div", "a": j, "c": float | None, "left": bool, "form": ...}   (a / c, or c / a with
                                                 left; c None: a per-feature buffer)
    {"op": "mask", "fn": "gt" | "ge" | "lt" | "le", "a": j, <other>, "form": "operator" |
     "function" | "method"}     ((a > other).float(); half the time a `bin` gate follows it)
    {"op": "where", "fn": ..., "a": j, <other>, "form": ..., "x": k | "xc": float | "xv": True,
     "y": k | "yc": float | "yv": True}               (torch.where(a > other, x, y))
    {"op": "softmax", "fn": "softmax" | "log_softmax", "src": j, "form": "function" | "torch"
     | "method" | "module", "dim": -1 | 1}
    {"op": "norm", "fn": "layer" | "rms", "src": j, "form": "module" | "function", "affine": b,
     "bias": b, "eps": float | None}    (a Linear right after it is folded into it: check.py)

<other> is "b": k (a tensor), "c": float (a scalar) or "c": None (a per-feature buffer), with
"left": the constant on the left (`c > a`).

Bounds (`reference`): each op's value is float64 math on the exact operands, and its bound is
the hardware's interval: the operands' intervals mapped through the op (monotone pieces, or the
exact softmax/normalisation ranges over the box of inputs) widened by the documented table
errors (`R_*`, measured over every table input: see the constants) and every fp32 rounding of
the lowered sequence, plus the output beat's bf16 rounding (2^-8 relative: `_out`; an op
reading the value on the matrix unit accounts for that rounding itself). Where an operand's
register value is known exactly (`tight`), its bound is the exact distance to it.

A second channel, `known`, holds the register value the hardware certainly has (exact bits:
the input stream, masks and selects of known values, the documented specials of the function
unit: sqrt/log of a negative is NaN, 1/0 is inf, exp(-inf) is +0, ...); check.py compares the
VM's output bits with it wherever it is known.
"""

from __future__ import annotations

import math
import operator
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OPS4 = ("fn", "div", "mask", "where", "softmax", "norm")
UNARY = ("exp", "exp2", "log", "log2", "sqrt", "rsqrt", "reciprocal", "silu", "softplus",
         "gelu", "gelu_tanh")
METHODS = ("exp", "exp2", "log", "log2", "sqrt", "rsqrt", "reciprocal")
CMPS = ("gt", "ge", "lt", "le")
_CMP_OP = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
_DIV_C = [2.0, -3.0, 0.5, 7.0, -0.1, 1e-3, 1e30, 3e38, 0.0, -0.0, float("inf"), 1e-40]
_CMP_C = [0.0, -0.0, 0.5, -1.0, 2.0, 1e-40, float("inf"), float("-inf"), float("nan")]
_SEL_C = [0.0, -0.0, 1.5, -2.0, 0.1, 1e30, 1e-40, float("inf"), float("-inf"), float("nan")]

# -- documented function-unit and table errors (docs/numerics.md), as maxima over every input:
# RECIP 3.7996e-6 and RSQRT 1.4377e-6 relative over all 2^23 significands (the doc rounds the
# latter to 1.4e-6), EXP2 9.64e-7 relative (+ 8.3e-8 for the truncation of x 2^23 when
# |x| < 1), LOG2 2.81e-6 absolute + half an ulp (the doc states 4.6e-6), PHI 1.7131e-5 and
# SIGMOID 1.9265e-5 absolute over every u of the tables. Beyond the tables (|x| >= 16 for
# SIGMOID, |x| >= 8 for PHI) the result is exactly 0 or 1.
R_RECIP = 3.81e-6
R_RSQRT = 1.44e-6
R_EXP2 = 1.05e-6
A_LOG2 = 4.7e-6
A_SIGMOID = 1.93e-5
A_PHI = 1.72e-5
U32 = 2.0**-24  # fp32 unit roundoff
U16 = 2.0**-8  # bf16 unit roundoff
NORM = 2.0**-126  # smallest normal fp32
LOG2E32 = float(np.float32(1.0 / math.log(2.0)))
LN2_32 = float(np.float32(math.log(2.0)))
GELU_K = math.sqrt(2.0 / math.pi)


# -- descriptions ------------------------------------------------------------------------------

def features(n: dict, f: list[int]) -> int:
    return f[n["a"] if n["op"] in ("div", "mask", "where") else n["src"]]


def _other(rng: random.Random, j: int, f: list[int], consts: list) -> dict:
    same = [k for k in range(len(f)) if f[k] == f[j]]
    r = rng.random()
    if r < 0.45:
        return {"b": rng.choice(same)}
    return {"c": rng.choice(consts) if r < 0.8 else None, "left": rng.random() < 0.4}


def _operand(rng: random.Random, key: str, j: int, f: list[int]) -> dict:
    same = [k for k in range(len(f)) if f[k] == f[j]]
    r = rng.random()
    if r < 0.5:
        return {key: rng.choice(same)}
    if r < 0.85:
        return {key + "c": rng.choice(_SEL_C)}
    return {key + "v": True}


def generate(rng: random.Random, op: str, j: int, f: list[int], size) -> list[dict]:
    """The node(s) for `op` reading node j (a norm may be followed by a Linear of it)."""
    if op == "fn":
        fn = rng.choice(UNARY)
        forms = ["function", "module"] + (["method"] if fn in METHODS else [])
        return [{"op": op, "fn": fn, "src": j, "form": rng.choice(forms)}]
    if op == "div":
        return [{"op": op, "a": j, **_other(rng, j, f, _DIV_C),
                 "form": rng.choice(["operator", "operator", "function", "method",
                                     "true_divide"])}]
    if op in ("mask", "where"):
        n = {"op": op, "fn": rng.choice(CMPS), "a": j, **_other(rng, j, f, _CMP_C),
             "form": rng.choice(["operator", "operator", "function", "method"])}
        if op == "where":
            n.update(_operand(rng, "x", j, f))
            n.update(_operand(rng, "y", j, f))
        elif rng.random() < 0.5:  # the mask used arithmetically: a gate
            same = [k for k in range(len(f)) if f[k] == f[j]]
            return [n, {"op": "bin", "fn": rng.choice(["mul", "add"]), "a": len(f),
                        "b": rng.choice(same), "form": "operator"}]
        return [n]
    if op == "softmax":
        return [{"op": op, "fn": rng.choice(["softmax", "log_softmax"]), "src": j,
                 "form": rng.choice(["function", "torch", "method", "module"]),
                 "dim": rng.choice([-1, -1, 1])}]
    n = {"op": "norm", "fn": rng.choice(["layer", "rms"]), "src": j,
         "form": rng.choice(["module", "function"]), "affine": rng.random() < 0.7,
         "bias": rng.random() < 0.7, "eps": rng.choice([None, None, 1e-5, 1e-6, 1e-2])}
    out = [n]
    if rng.random() < 0.5:  # a norm feeding a Linear: the compiler folds the pair
        out.append({"op": "linear", "src": len(f), "out": size(), "bias": rng.random() < 0.7,
                    "form": rng.choice(["module", "function"])})
    return out


# -- the torch model ---------------------------------------------------------------------------

def build(model: nn.Module, i: int, n: dict, fin: int, gen: torch.Generator) -> None:
    op = n["op"]
    if op == "fn" and n["form"] == "module" and n["fn"] in ("silu", "softplus", "gelu",
                                                            "gelu_tanh"):
        mod = nn.SiLU() if n["fn"] == "silu" else nn.Softplus() if n["fn"] == "softplus" \
            else nn.GELU(approximate="tanh" if n["fn"] == "gelu_tanh" else "none")
        setattr(model, f"f{i}", mod)
    elif op in ("div", "mask", "where") and "c" in n and n["c"] is None:
        k = torch.randn(fin, generator=gen) * 2
        if op == "div" and fin:
            k[int(torch.randint(0, fin, (1,), generator=gen))] = \
                [0.0, 0.5, -0.0, 1e-40, 4.0][int(torch.randint(0, 5, (1,), generator=gen))]
        model.register_buffer(f"k{i}", k)
    if op == "where":
        for key in ("x", "y"):
            if n.get(key + "v"):
                model.register_buffer(f"{key}{i}", torch.randn(fin, generator=gen) * 3)
    elif op == "softmax" and n["form"] == "module":
        mod = nn.Softmax(n["dim"]) if n["fn"] == "softmax" else nn.LogSoftmax(n["dim"])
        setattr(model, f"f{i}", mod)
    elif op == "norm":
        setattr(model, f"F{i}", fin)  # normalized_shape: a constant, not a traced size
        w = torch.randn(fin, generator=gen) * 0.7 + 0.5 if n["affine"] else None
        b = torch.randn(fin, generator=gen) * 0.5 if n["affine"] and n["bias"] else None
        if n["form"] == "module":
            if n["fn"] == "layer":
                kw = {} if n["eps"] is None else {"eps": n["eps"]}
                mod = nn.LayerNorm(fin, elementwise_affine=n["affine"],
                                   bias=n["affine"] and n["bias"], **kw)
            else:
                mod = nn.RMSNorm(fin, eps=n["eps"], elementwise_affine=n["affine"])
            with torch.no_grad():
                if w is not None:
                    mod.weight.copy_(w)
                if b is not None and getattr(mod, "bias", None) is not None:
                    mod.bias.copy_(b)
            setattr(model, f"f{i}", mod)
        else:
            model.register_buffer(f"w{i}", w)
            model.register_buffer(f"b{i}", b if n["fn"] == "layer" else None)


def _cmp(model: nn.Module, i: int, n: dict, v: list) -> torch.Tensor:
    a, fn, form = v[n["a"]], n["fn"], n["form"]
    if "b" in n:
        other, left = v[n["b"]], False
    else:
        other = n["c"] if n["c"] is not None else getattr(model, f"k{i}")
        left = n["left"]
    if left:
        if form == "function" and not isinstance(other, float):
            return getattr(torch, fn)(other, a)
        if form == "method" and not isinstance(other, float):
            return getattr(other, fn)(a)
        return _CMP_OP[fn](other, a)
    if form == "function":
        return getattr(torch, fn)(a, other)
    if form == "method":
        return getattr(a, fn)(other)
    return _CMP_OP[fn](a, other)


def _sel(model: nn.Module, i: int, n: dict, v: list, key: str):
    if key in n:
        return v[n[key]]
    if key + "c" in n:
        return n[key + "c"]
    return getattr(model, f"{key}{i}")


def forward(model: nn.Module, i: int, n: dict, v: list) -> torch.Tensor:
    op = n["op"]
    if op == "fn":
        a, fn, form = v[n["src"]], n["fn"], n["form"]
        if hasattr(model, f"f{i}"):
            return getattr(model, f"f{i}")(a)
        if form == "method" and fn in METHODS:
            return getattr(a, fn)()
        if fn in METHODS:
            return getattr(torch, fn)(a)
        if fn == "gelu_tanh":
            return F.gelu(a, approximate="tanh")
        return getattr(F, fn)(a)
    if op == "div":
        a, form = v[n["a"]], n["form"]
        if "b" in n:
            b = v[n["b"]]
            return torch.div(a, b) if form == "function" else a.div(b) if form == "method" \
                else torch.true_divide(a, b) if form == "true_divide" else a / b
        c = n["c"] if n["c"] is not None else getattr(model, f"k{i}")
        if n["left"]:
            if form == "method" and not isinstance(c, float):
                return c.div(a)
            return torch.div(c, a) if form == "function" else c / a
        return torch.div(a, c) if form == "function" else a.div(c) if form == "method" \
            else torch.true_divide(a, c) if form == "true_divide" else a / c
    if op == "mask":
        return _cmp(model, i, n, v).float()
    if op == "where":
        return torch.where(_cmp(model, i, n, v), _sel(model, i, n, v, "x"),
                           _sel(model, i, n, v, "y"))
    if op == "softmax":
        a, fn, form, dim = v[n["src"]], n["fn"], n["form"], n["dim"]
        if hasattr(model, f"f{i}"):
            return getattr(model, f"f{i}")(a)
        if form == "torch":
            return getattr(torch, fn)(a, dim)
        if form == "method":
            return getattr(a, fn)(dim)
        return getattr(F, fn)(a, dim=dim)
    a = v[n["src"]]
    if hasattr(model, f"f{i}"):
        return getattr(model, f"f{i}")(a)
    w = getattr(model, f"w{i}")
    if n["fn"] == "layer":
        return F.layer_norm(a, (getattr(model, f"F{i}"),), w, getattr(model, f"b{i}"),
                            1e-5 if n["eps"] is None else n["eps"])
    return F.rms_norm(a, (getattr(model, f"F{i}"),), w, n["eps"])


# -- exact register values (the `known` channel) -----------------------------------------------

def canon(x) -> np.ndarray:
    """fp32 as a register holds it: subnormals read as signed zero, NaN canonical."""
    x = np.array(x, dtype=np.float32)
    b = x.view(np.uint32)
    tiny = (b & np.uint32(0x7F800000)) == 0
    b[tiny] &= np.uint32(0x80000000)
    b[np.isnan(x)] = np.uint32(0x7FC00000)
    return x


def bf16(x) -> np.ndarray:
    """fp32 -> bf16 (nearest-even on the bits, NaN canonical), as float32."""
    x = np.array(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    r = (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32)
    r = np.where(np.isnan(x), np.uint32(0x7FC00000), r).astype(np.uint32)
    return r.view(np.float32)


def input_known(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The input stream's register values: bf16 rounding, then subnormals flushed."""
    return np.ones(x.shape, bool), canon(bf16(x))


def unknown(shape) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(shape, bool), np.zeros(shape, np.float32)


def _nan(shape):
    return np.full(shape, np.nan, np.float32)


# -- bounds ------------------------------------------------------------------------------------

def _out(v, dev):
    """A deviation `dev` of the fp32 result from v, plus the output beat's bf16 rounding
    (relative 2^-8 of the result) and a flush."""
    from . import check as ck

    return dev + U16 * (np.abs(v) + dev) + ck.TINY


def tight(val, kn):
    """(value, bound) of an operand, the bound replaced by the exact distance to the register
    value where that is known (the input stream's bf16 rounding of x, say)."""
    (a, ea), (h, k) = val, kn
    k32 = np.asarray(k, np.float32)
    k = k32.astype(np.float64)
    with np.errstate(all="ignore"):
        use = h & np.isfinite(k) & np.isfinite(a) & ~np.isnan(ea)
        # (and its bf16 rounding where it leaves as an output beat unchanged: where)
        out = np.where(bf16(k32) == k32, 0.0, U16 * np.abs(k))
        return a, np.where(use, np.abs(k - a) + out, ea)


def _finish(v, lo, hi, inputs_e, may_nan=None):
    """Bound from the hardware's interval [lo, hi] around v, plus the output's bf16 rounding
    and a flush; NaN where an input may be NaN or `may_nan`."""
    from . import check as ck

    with np.errstate(all="ignore"):
        e = _out(v, np.maximum(hi - v, v - lo))
        e = np.where(np.isnan(e), np.inf, e)
        bad = np.zeros(np.shape(v), bool)
        for x in inputs_e:
            bad = bad | np.isnan(x)
        if may_nan is not None:
            bad = bad | may_nan
        return ck._clip(v, np.where(bad, np.nan, e))


def _box(a, ea):
    with np.errstate(all="ignore"):
        lo, hi = a - ea, a + ea
        return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


def _widen(lo, hi, rel, tiny=0.0):
    """[lo, hi] widened by a relative error and an absolute one."""
    with np.errstate(all="ignore"):
        return lo - np.abs(lo) * rel - tiny, hi + np.abs(hi) * rel + tiny


def _exp(a, ea, base2: bool, internal=False):
    lo, hi = _box(a, ea)
    s = 1.0 if base2 else LOG2E32
    with np.errstate(all="ignore"):
        tl, th = lo * s, hi * s
        if not base2:  # the MUL rounds the exponent
            tl, th = _widen(tl, th, U32)
        hl = np.exp2(tl) * (1 - R_EXP2)
        hl = np.where(hl < NORM, 0.0, hl)  # FTZ
        hh = np.exp2(th) * (1 + R_EXP2)
        v = np.exp2(a) if base2 else np.exp(a)
    return _finish(v, hl, hh, [ea])


def _log(a, ea, base2: bool):
    lo, hi = _box(a, ea)
    with np.errstate(all="ignore"):
        may_nan = lo <= -NORM
        g_lo, g_hi = np.log2(np.where(lo < NORM, 0.0, lo)), np.log2(hi)  # (may flush to 0)
        g_lo = g_lo - A_LOG2 - U32 * np.abs(g_lo)
        g_hi = g_hi + A_LOG2 + U32 * np.abs(g_hi)
        if not base2:
            g_lo, g_hi = _widen(g_lo * LN2_32, g_hi * LN2_32, U32)
        v = np.log2(a) if base2 else np.log(a)
    return _finish(v, g_lo, g_hi, [ea], may_nan)


def _sqrt(a, ea):
    lo, hi = _box(a, ea)
    with np.errstate(all="ignore"):
        may_nan = lo <= -NORM
        hl = np.sqrt(np.where(lo < NORM, 0.0, lo)) * (1 - R_RECIP) / (1 + R_RSQRT)
        hh = np.sqrt(hi) * (1 + R_RECIP) / (1 - R_RSQRT)
        v = np.sqrt(a)
    return _finish(v, hl, hh, [ea], may_nan)


def _rsqrt(a, ea):
    lo, hi = _box(a, ea)
    with np.errstate(all="ignore"):
        may_nan = lo <= -NORM
        hl = (1 / np.sqrt(hi)) * (1 - R_RSQRT)
        hh = np.where(lo < NORM, np.inf, (1 / np.sqrt(np.maximum(lo, NORM))) * (1 + R_RSQRT))
        v = 1 / np.sqrt(a)
    return _finish(v, hl, hh, [ea], may_nan)


def recip(a, ea, internal=False):
    """RECIP: (1/x)(1 +- R_RECIP), a result below 2^-126 flushed; unbounded where x may be 0.
    internal: the fp32 operand of a MUL (no bf16 rounding of its own)."""
    from . import check as ck

    lo, hi = _box(a, ea)
    with np.errstate(all="ignore"):
        zero = (lo < NORM) & (hi > -NORM)
        r1, r2 = 1 / hi, 1 / lo  # both one sign where zero is excluded
        hl = np.minimum(r1, r2)
        hh = np.maximum(r1, r2)
        hl, hh = _widen(hl, hh, R_RECIP, NORM)
        v = 1 / a
        e = np.maximum(hh - v, v - hl)
        e = e + ck.TINY if internal else _out(v, e)
        e = np.where(zero | np.isnan(e), np.inf, e)
        return ck._clip(v, np.where(np.isnan(ea), np.nan, e))


def _unimodal(f, x0, fmin, lo, hi):
    """Range of f (decreasing to its minimum fmin at x0, then increasing) over [lo, hi]."""
    with np.errstate(all="ignore"):
        flo, fhi = f(lo), f(hi)
        rlo = np.where((lo <= x0) & (x0 <= hi), fmin, np.minimum(flo, fhi))
        return rlo, np.maximum(flo, fhi)


def _silu64(x):
    with np.errstate(all="ignore"):
        return np.where(x < -700, 0.0, x / (1 + np.exp(-x)))


def _erf(x):
    return torch.special.erf(torch.from_numpy(np.asarray(x, np.float64))).numpy()


def _gelu64(x):
    with np.errstate(all="ignore"):
        return np.where(x < -40, 0.0, 0.5 * x * (1 + _erf(x / math.sqrt(2.0))))


def _gelu_tanh64(x):
    with np.errstate(all="ignore"):
        return np.where(x < -40, 0.0, 0.5 * x * (1 + np.tanh(GELU_K * (x + 0.044715 * x**3))))


def _argmin(f, lo, hi):
    for _ in range(200):  # ternary search: f is unimodal on [lo, hi]
        m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if f(np.float64(m1)) < f(np.float64(m2)):
            hi = m2
        else:
            lo = m1
    x = (lo + hi) / 2
    return x, float(f(np.float64(x))) - 1e-9  # a little below: the range stays an enclosure


_MIN = {"silu": _argmin(_silu64, -3.0, 0.0), "gelu": _argmin(_gelu64, -3.0, 0.0),
        "gelu_tanh": _argmin(_gelu_tanh64, -3.0, 0.0)}
_F64 = {"silu": _silu64, "gelu": _gelu64, "gelu_tanh": _gelu_tanh64}
# table error of x * table(x): |x| * A below the saturation point X, beyond it smaller
_TAB = {"silu": (A_SIGMOID, 16.0),  # SIGMOID exactly 0/1 for |x| >= 16: |x| sigma(-|x|) < 2e-6
        "gelu": (A_PHI, 8.0),  # PHI exactly 0/1 for |x| >= 8
        # the argument x (a + b x^2) carries ~7 fp32 roundings: 7 2^-24 max|t s'(t)| < 1e-7;
        # |x| >= 10.1 makes |argument| >= 16
        "gelu_tanh": (A_SIGMOID + 1e-7, 10.1)}


def _xtable(fn, a, ea):
    """silu, gelu, gelu_tanh: MUL(x, table(...)): the exact range plus |x| times the table's
    error (capped where the table saturates) plus the MUL's rounding."""
    lo, hi = _box(a, ea)
    x0, fmin = _MIN[fn]
    f = _F64[fn]
    rlo, rhi = _unimodal(f, x0, fmin, lo, hi)
    A, X = _TAB[fn]
    with np.errstate(all="ignore"):
        tab = A * np.minimum(np.maximum(np.abs(lo), np.abs(hi)), X)
        rlo, rhi = _widen(rlo - tab, rhi + tab, U32, NORM)
        may_nan = lo == -np.inf  # -inf * 0
    return _finish(f(a), rlo, rhi, [ea], may_nan)


def _softplus64(x):
    with np.errstate(all="ignore"):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# LOG2(SIGMOID|x|): SIGMOID in [0.5, 1] is off by 1.93e-5 (ln: / 0.5), LOG2 by 4.7e-6 + half
# an ulp of <= 1 (ln: * ln 2), the MUL by -fp32(ln 2) by 2 roundings of <= 0.7
SP_ERR = A_SIGMOID / 0.5 + (A_LOG2 + U32) * math.log(2.0) + 2 * U32


def _softplus(a, ea):
    lo, hi = _box(a, ea)
    rlo, rhi = _widen(_softplus64(lo) - SP_ERR, _softplus64(hi) + SP_ERR, U32)
    return _finish(_softplus64(a), rlo, rhi, [ea])


def unary(fn: str, a, ea):
    if fn in ("exp", "exp2"):
        return _exp(a, ea, fn == "exp2")
    if fn in ("log", "log2"):
        return _log(a, ea, fn == "log2")
    if fn == "sqrt":
        return _sqrt(a, ea)
    if fn == "rsqrt":
        return _rsqrt(a, ea)
    if fn == "reciprocal":
        return recip(a, ea)
    if fn == "softplus":
        return _softplus(a, ea)
    return _xtable(fn, a, ea)


def unary_known(fn: str, has, kv, a, ea):
    """The documented specials: the register value where the input's is known (or certainly
    negative for sqrt/log/rsqrt: NaN)."""
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    k = kv.astype(np.float32)
    pinf, ninf, isn = k == inf, k == -inf, np.isnan(k)
    zero = k == 0
    neg0 = zero & np.signbit(k)
    out = _nan(k.shape)
    sure = np.zeros(k.shape, bool)

    def put(mask, val):
        nonlocal out, sure
        m = has & mask & ~sure
        out = np.where(m, np.asarray(val, np.float32), out).astype(np.float32)
        sure = sure | m

    put(isn, nan)
    if fn in ("exp", "exp2"):
        put(pinf, inf), put(ninf, 0.0), put(zero, 1.0)
    elif fn in ("log", "log2"):
        put(zero, -inf), put(pinf, inf), put(k < 0, nan), put(k == 1, 0.0)
    elif fn == "sqrt":
        put(neg0, -0.0), put(zero, 0.0), put(pinf, inf), put(k < 0, nan)
    elif fn == "rsqrt":
        put(neg0, -inf), put(zero, inf), put(pinf, 0.0), put(k < 0, nan)
    elif fn == "reciprocal":
        put(neg0, -inf), put(zero, inf), put(pinf, 0.0), put(ninf, -0.0)
    elif fn == "softplus":
        put(pinf, inf), put(ninf, 0.0), put(zero, LN2_32)
    else:  # x * table(x): +-0 -> +-0, +inf -> +inf, -inf -> -inf * 0 = NaN
        put(neg0, -0.0), put(zero, 0.0), put(pinf, inf), put(ninf, nan)
    if fn in ("log", "log2", "sqrt", "rsqrt"):  # certainly negative: NaN
        with np.errstate(all="ignore"):
            neg = np.isfinite(a) & np.isfinite(ea) & (a + 2 * ea < -NORM)
        m = neg & ~sure
        out = np.where(m, nan, out).astype(np.float32)
        sure = sure | m
    return sure, out


def mul_known(ha, ka, hb, kb):
    """MUL's specials: NaN with a NaN operand or inf * 0; +-inf for inf times a nonzero finite
    (or inf); +-0 for 0 times a finite one."""
    ka, kb = ka.astype(np.float32), kb.astype(np.float32)
    with np.errstate(all="ignore"):
        nan_a, nan_b = ha & np.isnan(ka), hb & np.isnan(kb)
        both = ha & hb
        special = both & (np.isinf(ka) | np.isinf(kb) | (ka == 0) | (kb == 0))
        prod = (ka.astype(np.float64) * kb.astype(np.float64)).astype(np.float32)
    out = np.where(nan_a | nan_b, np.float32(np.nan), prod).astype(np.float32)
    return nan_a | nan_b | special, canon(out)


def where(mask_sure, mask_val, x, y):
    """where(m, x, y): the chosen operand where the mask is certain; else either (v, e) of the
    midpoint covering both."""
    (vx, ex), (vy, ey) = x, y
    with np.errstate(all="ignore"):
        mid = (vx + vy) / 2
        eu = np.abs(vx - vy) / 2 + np.maximum(ex, ey)
        eu = np.where(np.isnan(ex) | np.isnan(ey), np.nan, eu)
        v = np.where(mask_sure, np.where(mask_val, vx, vy), mid)
        e = np.where(mask_sure, np.where(mask_val, ex, ey), eu)
    return v, e


def compare_sure(fn, a, ea, ka, kha, b, eb, kb, khb):
    """Where the hardware's compare is certain, and its value: from known operands exactly (NaN
    is false, -0 = +0), else from disjoint intervals (with a 2x margin)."""
    if fn in ("lt", "le"):  # a < b is b > a
        a, ea, ka, kha, b, eb, kb, khb = b, eb, kb, khb, a, ea, ka, kha
    strict = fn in ("gt", "lt")
    with np.errstate(all="ignore"):
        exact = kha & khb
        ka64, kb64 = ka.astype(np.float64), kb.astype(np.float64)
        ev = ka64 > kb64 if strict else ka64 >= kb64
        nan_known = (kha & np.isnan(ka)) | (khb & np.isnan(kb))
        ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(ea) & np.isfinite(eb)
        alo, ahi, blo, bhi = a - 2 * ea, a + 2 * ea, b - 2 * eb, b + 2 * eb
        t = ok & ((alo > bhi) if strict else (alo >= bhi))
        fl = ok & ((ahi <= blo) if strict else (ahi < blo))
    sure = exact | nan_known | t | fl
    val = np.where(exact, ev, np.where(nan_known, False, t))
    return sure, val


def softmax(a, ea, log: bool, B: int):
    """softmax / log_softmax over the last axis: the exact range over the box of inputs, times
    the relative errors of the EXP2 terms, the bf16-read sum and RECIP (or, for log_softmax,
    the absolute error of LOG2 of that sum)."""
    from . import check as ck

    Fn = a.shape[-1]
    if Fn == 0 or a.size == 0:
        return a, ea
    nb = -(-Fn // B)
    lo, hi = _box(a, ea)
    with np.errstate(all="ignore"):
        eye = np.eye(Fn, dtype=bool)
        dl = np.where(eye, -np.inf, lo[..., None, :] - hi[..., :, None])  # [k, j]: lo_j - hi_k
        dh = np.where(eye, -np.inf, hi[..., None, :] - lo[..., :, None])

        def lse1(d):  # ln(1 + sum_j exp(d_j)), stable
            m = np.maximum(d.max(-1), 0.0)
            return m + np.log(np.exp(-m) + np.exp(d - m[..., None]).sum(-1))

        ls_hi, ls_lo = -lse1(dl), -lse1(dh)  # log_softmax range over the box
        am = a.max(-1, keepdims=True)
        v = a - am - np.log(np.exp(a - am).sum(-1, keepdims=True))
        zmax = hi.max(-1, keepdims=True) - lo  # |z| = m - x_k, at most
        zc = np.minimum(zmax, 200.0)  # beyond, EXP2 gives +0 and the term is < e^-200
        alpha = np.expm1(3.0001 * U32 * zc) + R_EXP2  # z, z log2e, their roundings; EXP2
        am_ = alpha.max(-1, keepdims=True)
        kappa = (B + nb + 2) * U32  # block truncation and roundings of the sum
        s_lo = (1 - am_) * (1 - U16) * (1 - kappa)  # s_hw / s over the row
        s_hi = (1 + am_) * (1 + U16) * (1 + kappa)
        if log:
            lnS = np.log(Fn * 1.01) + 1
            comp = (np.maximum(-np.log(s_lo), np.log(s_hi)) + zmax * U32
                    + (A_LOG2 + U32 * lnS / math.log(2.0)) * math.log(2.0) + 3 * U32 * lnS)
            out_lo, out_hi = ls_lo - comp, ls_hi + comp
            out_lo, out_hi = _widen(out_lo, out_hi, U32, 2 * NORM)
        else:
            v = np.exp(v)
            f_lo = (1 - alpha) * (1 - R_RECIP) * (1 - U32) / s_hi
            f_hi = (1 + alpha) * (1 + R_RECIP) * (1 + U32) / s_lo
            out_lo = np.maximum(np.exp(ls_lo) * f_lo - 2 * NORM, 0.0)
            out_hi = np.exp(ls_hi) * f_hi + 2 * NORM
        e = _out(v, np.maximum(out_hi - v, v - out_lo))
        row_bad = (np.isnan(ea) | ck._maybe_inf(a, ea)).any(-1, keepdims=True)
        e = np.where(row_bad, np.nan, np.where(np.isnan(e), np.inf, e))
    return ck._clip(v, np.broadcast_to(e, v.shape).copy())


def row_known(has, kv, shape, kind: str):
    """softmax: a known NaN or +inf in a row makes every lane NaN (inf - inf, then the sum);
    LayerNorm: a NaN or either inf; RMSNorm: a NaN in the row, or this lane infinite
    (inf * RSQRT(inf) = inf * 0)."""
    k = kv.astype(np.float32)
    if kind == "softmax":
        bad = has & (np.isnan(k) | (k == np.inf))
    elif kind == "layer":
        bad = has & (np.isnan(k) | np.isinf(k))
    else:
        bad = has & np.isnan(k)
    sure = np.broadcast_to(bad.any(-1, keepdims=True), shape).copy()
    if kind == "rms":
        sure = sure | (has & np.isinf(k))
    return sure, _nan(shape)


def norm(a, ea, layer: bool, eps: float, B: int):
    """LayerNorm / RMSNorm without the affine part: the normalised value u and its bound, the
    input's effect by the mean value theorem (|du_k| <= (|dx_k| + mean|dx| + |u_k| rms(dx)) /
    s_min), the hardware's by its sequence (docs/numerics.md "Normalisation"): the mean's
    bf16-read terms shift d by at most c, the variance's by a relative 2^-8, RSQRT."""
    Fn = a.shape[-1]
    if Fn == 0 or a.size == 0:
        return a, ea
    nb = -(-Fn // B)
    with np.errstate(all="ignore"):
        mu = a.mean(-1, keepdims=True) if layer else 0.0
        d = a - mu
        var = (d * d).mean(-1, keepdims=True)
        S = np.sqrt(var + eps)
        u = d / S
        me = ea.mean(-1, keepdims=True)
        re = np.sqrt((ea * ea).mean(-1, keepdims=True))
        smin = np.sqrt(np.maximum(np.sqrt(var) - re, 0.0) ** 2 + eps)
        ycap = math.sqrt(max(Fn - 1, 0)) if layer else math.sqrt(Fn)
        dmax = np.abs(d) + ea + (me if layer else 0.0)
        Y = np.minimum(dmax / smin, ycap)
        prop = (ea + (me if layer else 0.0) + Y * re) / smin
        kappa = (B + nb + 10) * U32
        c = (U16 + kappa) * (np.abs(a) + ea).mean(-1, keepdims=True) + 2 * NORM if layer \
            else 0.0
        eps32 = float(np.float32(eps))
        de = abs(eps32 - eps) / eps + Fn * 2.0**-125 / eps + U32
        e2 = U16 + kappa
        rho_hi = 1 / np.sqrt((1 - e2) * (1 - de))
        rho_lo = 1 / np.sqrt((1 + e2) * (1 + de) * (1 + c * c / (smin * smin)))
        da = R_RSQRT + 4 * U32
        comp = Y * np.maximum(rho_hi * (1 + da) - 1, 1 - rho_lo * (1 - da)) \
            + c * rho_hi * (1 + da) / smin
        cap = math.sqrt(Fn) * (1 + da) / math.sqrt(1 - e2) + ycap
        eu = np.minimum(prop + comp, cap)
        eu = np.where(np.isnan(eu), np.inf, eu)
        big = (np.abs(a) + ea).max(-1, keepdims=True)
        row_bad = (np.isnan(ea) | ~np.isfinite(a) | ~np.isfinite(ea)).any(-1, keepdims=True) \
            | (big > 1e17)  # F d^2 may overflow: inf * 0 = NaN downstream of RSQRT(inf)
        eu = np.where(row_bad, np.nan, eu)
    return u, np.broadcast_to(eu, u.shape).copy()


def affine(u, eu, gamma, beta):
    """u * gamma + beta with the MUL/ADD roundings and the output's bf16 rounding."""
    from . import check as ck

    with np.errstate(all="ignore"):
        g = 1.0 if gamma is None else gamma
        v = u * g + (0.0 if beta is None else beta)
        e = _out(v, eu * np.abs(g) + U32 * (np.abs(u * g) + np.abs(v)))
        return ck._clip(v, e)


def params(model: nn.Module, i: int, n: dict):
    """(gamma, beta, eps) of a norm node, float64 (gamma, beta may be None)."""
    if n["form"] == "module":
        mod = getattr(model, f"f{i}")
        g, b = mod.weight, getattr(mod, "bias", None)
        eps = mod.eps
    else:
        g, b = getattr(model, f"w{i}"), getattr(model, f"b{i}", None)
        eps = n["eps"] if n["eps"] is not None or n["fn"] == "layer" else None
        if eps is None and n["fn"] == "layer":
            eps = 1e-5
    if eps is None:
        eps = float(torch.finfo(torch.float32).eps)
    p = lambda t: None if t is None else t.detach().double().numpy()  # noqa: E731
    return p(g), p(b), float(eps)


def _const(c):
    """A scalar or per-feature constant as the hardware holds it: (v, e, known)."""

    c32 = np.asarray(c, np.float32)
    v = c32.astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.where(np.abs(v) < NORM, np.abs(v), 0.0) + U16 * np.abs(v)
        e = np.where(np.isfinite(v), e, np.where(np.isnan(v), np.nan, 0.0))
    return v, e, canon(c32)


def reference(model: nn.Module, i: int, n: dict, vals: list, known: list, B: int):
    """((value, bound), (known mask, known register value)) of node i."""
    from . import check as ck

    op = n["op"]
    if op == "fn":
        a, ea = tight(vals[n["src"]], known[n["src"]])
        ha, ka = known[n["src"]]
        return unary(n["fn"], a, ea), unary_known(n["fn"], ha, ka, a, ea)
    if op == "softmax":
        a, ea = tight(vals[n["src"]], known[n["src"]])
        r = softmax(a, ea, n["fn"] == "log_softmax", B)
        return r, row_known(*known[n["src"]], r[0].shape, "softmax")
    if op == "norm":
        a, ea = tight(vals[n["src"]], known[n["src"]])
        g, b, eps = params(model, i, n)
        u, eu = norm(a, ea, n["fn"] == "layer", eps, B)
        r = affine(u, eu, g, b)
        return r, row_known(*known[n["src"]], r[0].shape, n["fn"])
    a, ea = tight(vals[n["a"]], known[n["a"]])
    ha, ka = known[n["a"]]
    shape = a.shape
    if "b" in n:
        (b, eb), (hb, kb) = tight(vals[n["b"]], known[n["b"]]), known[n["b"]]
    else:
        c = n["c"] if n["c"] is not None else getattr(model, f"k{i}").double().numpy()
        b, eb, kb = _const(np.broadcast_to(np.asarray(c, np.float64), shape[-1:]))
        b, eb, kb = (np.broadcast_to(t, shape) for t in (b, eb, kb))
        hb = np.ones(shape, bool)
        if op == "div" and not n["left"]:  # a * fp32(1/c), a subnormal reads as 0
            c32 = np.asarray(b, np.float32).astype(np.float64)
            with np.errstate(all="ignore"):
                inv = canon((1.0 / c32).astype(np.float32)).astype(np.float64)
                ex = 1.0 / c32
                err = np.where(inv == ex, 0.0, np.abs(inv - ex))
                err = np.where(np.isnan(err), np.inf, err)
            r = ck._mul(a, ea, ex, err)
            return r, mul_known(ha, ka, hb, canon(inv.astype(np.float32)))
    if op == "div":
        if "b" not in n and n["left"]:  # c / a = RECIP(a) * c
            r = recip(a, ea, internal=True)
            kr = unary_known("reciprocal", ha, ka, a, ea)
            return ck._mul(*r, b, np.where(np.abs(b) < NORM, np.abs(b), 0.0)), \
                mul_known(*kr, hb, kb)
        r = recip(b, eb, internal=True)
        kr = unary_known("reciprocal", hb, kb, b, eb)
        return ck._mul(a, ea, *r), mul_known(ha, ka, *kr)
    fn = n["fn"]
    if "b" not in n and n["left"]:  # c > a
        fn = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}[fn]
    sure, val = compare_sure(fn, a, ea, ka, ha, b, eb, kb, hb)
    if n.get("b") == n["a"]:  # one register against itself: a > a is false, a >= a true
        with np.errstate(invalid="ignore"):
            self_ = ~np.isnan(a) & ~np.isnan(ea)  # (NaN >= NaN is false)
        val = np.where(sure, val, fn in ("ge", "le"))
        sure = sure | self_
    if op == "mask":
        v = np.where(sure, val.astype(np.float64), 0.5)
        e = np.where(sure, 0.0, 0.5)
        return (v, e), (sure, np.where(val, np.float32(1), np.float32(0)).astype(np.float32))
    ops = []
    for key in ("x", "y"):
        if key in n:
            ops.append((tight(vals[n[key]], known[n[key]]), known[n[key]]))
        else:
            c = n[key + "c"] if key + "c" in n else \
                getattr(model, f"{key}{i}").double().numpy()
            cv, ce, ck_ = _const(np.broadcast_to(np.asarray(c, np.float64), shape[-1:]))
            ops.append(((np.broadcast_to(cv, shape), np.broadcast_to(ce, shape)),
                        (np.ones(shape, bool), np.broadcast_to(ck_, shape))))
    (x, (hx, kx)), (y, (hy, ky)) = ops
    v, e = where(sure, val, x, y)
    kh = sure & np.where(val, hx, hy)
    kv = np.where(val, kx, ky).astype(np.float32)
    return ck._clip(v, e), (kh, kv)
