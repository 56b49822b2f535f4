"""One fuzz case: compile, run on the VM (and the RTL), compare with torch, classify.

The torch comparison carries an error bound through the model in float64: every op adds what
bf16 rounding of its result and operands explains (`EPS` relative, `TINY` absolute for the
flush of subnormals to zero, `ACT` for the activation tables), and passes on its inputs' bounds
(scaled by |weights|, the activation slopes, the other factor of a product). An element is
checked only where torch float32 is finite and the bound is finite and stays below bf16's
range; a VM value outside `2 * bound` is a mismatch. A bound of NaN means the hardware may
give NaN there (inf x 0 with a parameter that flushes to zero, inf - inf between values that may
be infinite): it propagates through every later op, and such elements are not checked.
The function ops (fuzz/funcs.py) bound with the documented table errors; besides, where the
hardware's register value is certain (`Ref.known`: the input stream, exact ops, masks and
selects of known values, the documented specials such as sqrt(-1) = NaN and 1/-0 = -inf), the
output must be its bf16 rounding bit for bit (NaN as NaN), whatever torch says.
"""

from __future__ import annotations

import dataclasses
import traceback

import numpy as np
import torch

from ..compile.compiler import compile_graph
from ..errors import RillError
from . import conv as fconv
from . import funcs as ffn
from . import gen, ops2
from . import minmax as fmm

EPS = 2.0**-7  # twice bf16's unit roundoff
TINY = 2.0**-125  # a subnormal flushed to zero
ACT = 2.0**-7  # activation table error
LIMIT = 1e38  # beyond this a value may round to inf


@dataclasses.dataclass
class Outcome:
    status: str  # "pass" | "rejected" | "fail"
    category: str  # pass: "ok"; rejected: the RillError class; fail: numeric, rtl, ...
    detail: str = ""


def _clip(v: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unbounded (inf) where v is not finite or may leave the finite range; NaN stays NaN."""
    with np.errstate(invalid="ignore"):
        e = np.where(np.isnan(e), np.nan,
                     np.where(~np.isfinite(v) | (np.abs(v) + e > LIMIT), np.inf, e))
    return v, e


def _maybe_inf(v, e):
    """Where the hardware's value may be infinite."""
    return ~np.isfinite(v) | np.isinf(e)


def _maybe_zero(v, e):
    """Where the hardware's value may be zero (a subnormal parameter is read as zero)."""
    with np.errstate(invalid="ignore"):
        return np.abs(v) <= e


def _daz(k):
    """Rounding error of a parameter: all of it when subnormal (the hardware reads it as 0)."""
    k = np.abs(k)
    return np.where(k < 2.0**-126, k, EPS * k)


def _lin(x, ex, w, b):
    w = w.astype(np.float64)
    with np.errstate(all="ignore"):
        v = x @ w.T
        mag = np.abs(x) @ np.abs(w).T
        e = ex @ np.abs(w).T + np.abs(x) @ np.where(np.abs(w) < 2.0**-126, np.abs(w), 0).T
        if b is not None:
            v = v + b
            mag = mag + np.abs(b)
            e = e + _daz(b)
        e = e + 2 * EPS * mag + EPS * np.abs(v) + TINY * (w.shape[1] + 2)
        # products or block sums that may overflow can meet with opposite signs: NaN
        # (a zero weight's lane contributes nothing, whatever x)
        prod = (np.abs(x) + ex)[..., None, :] * np.abs(w)
        big = np.where(w == 0, 0.0, prod).sum(axis=-1) > LIMIT
        e = np.where(big | np.isnan(ex).any(axis=-1, keepdims=True), np.nan, e)
    return _clip(v, e)


def _mul(a, ea, b, eb):
    with np.errstate(all="ignore"):
        v = a * b
        e = np.abs(a) * eb + np.abs(b) * ea + ea * eb + 2 * EPS * np.abs(v) + TINY
        nan = (_maybe_inf(a, ea) & _maybe_zero(b, eb)) | (_maybe_inf(b, eb) & _maybe_zero(a, ea))
        return _clip(v, np.where(nan | np.isnan(ea) | np.isnan(eb), np.nan, e))


def _add(a, ea, b, eb, sign=1.0):
    with np.errstate(all="ignore"):
        v = a + sign * b
        e = ea + eb + EPS * (np.abs(a) + np.abs(b) + np.abs(v)) + TINY
        return _clip(v, np.where(_maybe_inf(a, ea) & _maybe_inf(b, eb), np.nan, e))


def _monotone(f, x, ex):
    """f and its error for a monotone f: the larger of its steps to x - ex and x + ex."""
    with np.errstate(all="ignore"):
        v = f(x)
        step = np.maximum(np.abs(f(x + ex) - v), np.abs(v - f(x - ex)))
        step = np.where(np.isnan(ex), np.nan, np.where(np.isnan(step), np.inf, step))
        return _clip(v, step + ACT + EPS * np.abs(v))


def _sigmoid(x, ex):
    return _monotone(lambda t: 0.5 + 0.5 * np.tanh(0.5 * t), x, ex)


def _tanh(x, ex):
    return _monotone(np.tanh, x, ex)


def _p(t) -> np.ndarray:
    return t.detach().double().numpy()


def _lstm(mod, x, ex):
    H = mod.hidden_size
    for layer in range(mod.num_layers):
        wih, whh = _p(getattr(mod, f"weight_ih_l{layer}")), _p(getattr(mod, f"weight_hh_l{layer}"))
        bias = _p(getattr(mod, f"bias_ih_l{layer}")) + _p(getattr(mod, f"bias_hh_l{layer}")) \
            if mod.bias else None
        h, eh, c, ec = (np.zeros(H) for _ in range(4))
        ys, es = [], []
        for t in range(x.shape[0]):
            xh = np.concatenate([x[t], h])
            exh = np.concatenate([ex[t], eh])
            g, eg = _lin(xh[None], exh[None], np.concatenate([wih, whh], 1), bias)
            g, eg = g[0], eg[0]
            sl = [slice(k * H, (k + 1) * H) for k in range(4)]
            (i, ei), (f, ef), (o, eo) = (_sigmoid(g[s], eg[s]) for s in (sl[0], sl[1], sl[3]))
            gg, egg = _tanh(g[sl[2]], eg[sl[2]])
            c, ec = _add(*_mul(f, ef, c, ec), *_mul(i, ei, gg, egg))
            h, eh = _mul(o, eo, *_tanh(c, ec))
            ys.append(h)
            es.append(eh)
        x, ex = np.stack(ys), np.stack(es)
    return x, ex


def _gru(mod, x, ex):
    """torch's GRU: r, z = sigmoid(.), n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
    h' = (h - n) z + n."""
    H = mod.hidden_size
    for layer in range(mod.num_layers):
        wih, whh = _p(getattr(mod, f"weight_ih_l{layer}")), _p(getattr(mod, f"weight_hh_l{layer}"))
        bih = _p(getattr(mod, f"bias_ih_l{layer}")) if mod.bias else None
        bhh = _p(getattr(mod, f"bias_hh_l{layer}")) if mod.bias else None
        rz = np.concatenate([wih[: 2 * H], whh[: 2 * H]], 1)
        rz_b = (bih + bhh)[: 2 * H] if mod.bias else None
        h, eh = np.zeros(H), np.zeros(H)
        ys, es = [], []
        for t in range(x.shape[0]):
            g, eg = _lin(np.concatenate([x[t], h])[None], np.concatenate([ex[t], eh])[None],
                         rz, rz_b)
            (r, er), (z, ez) = _sigmoid(g[0, :H], eg[0, :H]), _sigmoid(g[0, H:], eg[0, H:])
            xn, exn = _lin(x[t][None], ex[t][None], wih[2 * H :],
                           None if bih is None else bih[2 * H :])
            hn, ehn = _lin(h[None], eh[None], whh[2 * H :], None if bhh is None else bhh[2 * H :])
            n, en = _tanh(*_add(xn[0], exn[0], *_mul(r, er, hn[0], ehn[0])))
            h, eh = _add(*_mul(*_add(h, eh, n, en, -1.0), z, ez), n, en)
            ys.append(h)
            es.append(eh)
        x, ex = np.stack(ys), np.stack(es)
    return x, ex


class Ref(tuple):
    """(value, bound) of the output; `.known`: (mask, register value) where the hardware's
    value is certain (fuzz/funcs.py)."""

    known: tuple


def _known(op: str, n: dict, known: list, shape) -> tuple:
    """The exact register value through the exact ops (identity, neg, abs, relu)."""
    if op == "identity" or op in ("neg", "abs") or (op == "act" and n["fn"] == "relu"):
        h, k = known[n["src"]]
        k = k.astype(np.float32)
        nan = np.isnan(k)  # RELU, NEG and ABS keep a NaN (canonical)
        with np.errstate(invalid="ignore"):
            k = -k if op == "neg" else np.abs(k) if op == "abs" else \
                np.where(k > 0, k, np.float32(0)) if op == "act" else k
        return h, np.where(nan, np.float32(np.nan), k).astype(np.float32)
    return ffn.unknown(shape)


def _norm_source(nodes: list, j: int) -> int | None:
    """The norm node a Linear reads (through identities), or None."""
    while nodes[j]["op"] == "identity":
        j = nodes[j]["src"]
    return j if nodes[j]["op"] == "norm" else None


def reference(model: gen.FuzzNet, x: np.ndarray) -> Ref:
    """float64 value and error bound of the model's output (and its `known` register
    values)."""
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        ex = np.where(np.abs(x) < 2.0**-126, np.abs(x), EPS * np.abs(x))
    vals = [_clip(x, ex)]
    known = [ffn.input_known(x)]
    normed = {}  # norm node -> (u, eu, gamma, beta): the normalised value, for a folded Linear
    B = getattr(model, "block", 8)
    for i, n in enumerate(model.nodes[1:], 1):
        op = n["op"]
        kn = None
        if op == "linear":
            if n["form"] == "module":
                m = getattr(model, f"l{i}")
                w, b = _p(m.weight), _p(m.bias) if m.bias is not None else None
            else:
                w = _p(getattr(model, f"w{i}"))
                b = getattr(model, f"b{i}")
                b = _p(b) if b is not None else None
            r = _lin(*vals[n["src"]], w, b)
            j = _norm_source(model.nodes, n["src"])
            if j is not None:  # may be folded: r ((W diag g) d) + (W beta + b)
                u, eu, g, beta = normed[j]
                wf = w if g is None else w * g[None, :]
                bf = b if beta is None else (0.0 if b is None else b) + w @ beta
                rf = _lin(u, eu, wf, bf)
                with np.errstate(invalid="ignore"):
                    r = (r[0], np.where(np.isnan(r[1]) | np.isnan(rf[1]), np.nan,
                                        np.maximum(r[1], rf[1])))
        elif op == "lstm":
            r = _lstm(getattr(model, f"l{i}"), *vals[n["src"]])
        elif op == "gru":
            r = _gru(getattr(model, f"l{i}"), *vals[n["src"]])
        elif op == "conv":
            r = fconv.reference(getattr(model, f"c{i}"), n, *vals[n["src"]], _lin)
        elif op == "identity":
            r = vals[n["src"]]
        elif op in ops2.OPS2:
            r = ops2.reference(model, i, n, vals)
        elif op in fmm.OPS3:
            r = fmm.reference(model, i, n, vals)
        elif op in ffn.OPS4:
            r, kn = ffn.reference(model, i, n, vals, known, B)
            if op == "norm":
                g, beta, eps = ffn.params(model, i, n)
                normed[i] = (*ffn.norm(*ffn.tight(vals[n["src"]], known[n["src"]]),
                                       n["fn"] == "layer", eps, B), g, beta)
        elif op == "act":
            a, ea = vals[n["src"]]
            r = (np.maximum(a, 0), ea + TINY) if n["fn"] == "relu" else \
                _sigmoid(a, ea) if n["fn"] == "sigmoid" else _tanh(a, ea)
        elif op == "bin":
            (a, ea), (b, eb) = vals[n["a"]], vals[n["b"]]
            r = _mul(a, ea, b, eb) if n["fn"] == "mul" else \
                _add(a, ea, b, eb, -1.0 if n["fn"] == "sub" else 1.0)
        else:
            a, ea = vals[n["src"]]
            k = np.float64(n["c"]) if op == "scalar" else _p(getattr(model, f"k{i}"))
            ek = _daz(k)
            fn = n["fn"]
            r = _mul(a, ea, k, ek) if fn == "mul" else _add(k, ek, a, ea, -1.0) \
                if fn == "rsub" else _add(a, ea, k, ek, -1.0 if fn == "sub" else 1.0)
        vals.append(_clip(*r))
        shape = np.shape(vals[-1][0])
        if kn is None:
            kn = _known(op, n, known, shape)
        known.append(tuple(np.broadcast_to(t, shape) for t in kn))
    ref = Ref(vals[-1])
    ref.known = known[-1]
    return ref


def compare(desc: dict, y: np.ndarray, expected: np.ndarray, ref: tuple) -> Outcome | None:
    v, e = ref
    v, e = np.broadcast_to(v, y.shape), np.broadcast_to(e, y.shape)
    mask = np.isfinite(expected) & np.isfinite(v) & np.isfinite(e)
    with np.errstate(all="ignore"):
        ok = np.abs(y.astype(np.float64) - v) <= 2 * e + TINY
    bad = mask & ~ok
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        detail = (f"{int(bad.sum())} of {int(mask.sum())} checked elements differ; first {idx}: "
                  f"vm {y[idx]!r} torch {expected[idx]!r} ref {v[idx]:.6g} +- {2 * e[idx]:.3g}")
        return Outcome("fail", "numeric", detail)
    known = getattr(ref, "known", None)
    if known is None:
        return None
    # where the register value is certain: the output beat is its bf16 rounding, bit for bit
    # (NaN as NaN)
    h, k = (np.broadcast_to(t, y.shape) for t in known)
    want = ffn.bf16(k)
    y32 = y.astype(np.float32)
    same = (y32.view(np.uint32) == want.view(np.uint32)) | (np.isnan(y32) & np.isnan(want))
    bad = h & ~same
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return Outcome("fail", "numeric", f"{int(bad.sum())} of {int(h.sum())} known elements "
                   f"differ; first {idx}: vm {y[idx]!r} torch {expected[idx]!r} hardware "
                   f"certainly {want[idx]!r}")


def run_case(desc: dict, rtl: bool = False) -> Outcome:
    import rill
    import rill.fx

    try:
        torch.manual_seed(0)
        model = gen.FuzzNet(desc)
        x = gen.make_input(desc)
        with torch.no_grad():
            model(x)  # torch runs it eagerly, or the model is not one to compile
    except Exception as err:  # noqa: BLE001 - torch refuses the model or its input
        return Outcome("rejected", f"torch:{type(err).__name__}", str(err)[:300])
    stage = "compile"
    try:
        config = getattr(rill.Config, desc["config"])()
        gm, expected = rill.fx.prepare_shape(model, x)
        nnir = rill.fx.nnir.to_nnir(gm)
        if desc["stream"]:
            nnir, _ = nnir.streaming_transform(0)
        program = nnir.to_program(config)
        stage = "vm"
        vm = program.to_vm()
        xs = x.numpy()
        y = vm.run_timesteps(xs) if desc["stream"] else vm.run(xs)
        stage = "reference"
        exp = expected.detach().numpy()
        if y.shape != exp.shape:
            return Outcome("fail", "shape", f"vm {y.shape} torch {exp.shape}")
        bad = compare(desc, y, exp, reference(model, xs))
        if not desc["stream"] and bad is None:
            stage = "streaming"
            bad = _stream_vs_sequence(nnir, config, xs, y)
        fast = None
        if program.length <= OPTIMAL_MAX_LENGTH:
            stage = "schedule"
            fast = compile_graph(nnir.graph, config, scheduler="optimal", effort=OPTIMAL_EFFORT)
            bad = _same_program_faster(program, fast, xs, y, desc["stream"]) or bad
        if rtl:  # bit- and cycle-exactness holds whatever torch says
            stage = "rtl"
            bad = _rtl(program, xs, y, desc["stream"]) or bad
            if fast is not None and (fast.t_last_out, fast.length) != (program.t_last_out,
                                                                      program.length):
                bad = _rtl(fast, xs, y, desc["stream"]) or bad  # its own schedule on the RTL
        return bad or Outcome("pass", "ok")
    except RillError as err:
        return Outcome("rejected", type(err).__name__, f"{stage}: {str(err)[:300]}")
    except Exception as err:  # noqa: BLE001 - every untyped exception is a finding
        tb = traceback.format_exc(limit=-3)
        return Outcome("fail", f"exception:{stage}", f"{type(err).__name__}: {err}\n{tb}")


# the optimal scheduler (CP-SAT) is tried on programs up to this long, with this effort (a
# tenth of the default: most cases are proven well within it, and the check is that what it
# finds is right, not that it finds the optimum)
OPTIMAL_MAX_LENGTH = 160
OPTIMAL_EFFORT = 0.1


def _same_program_faster(program, fast, xs: np.ndarray, y: np.ndarray,
                         stream: bool) -> Outcome | None:
    """The optimal scheduler's program: never slower, and the list program's bits (a schedule
    moves ops in time, not their arithmetic)."""
    if fast.cycle_count_per_inference() > program.cycle_count_per_inference():
        return Outcome("fail", "schedule", f"optimal {fast.cycle_count_per_inference()} cycles, "
                       f"list {program.cycle_count_per_inference()}")
    vm = fast.to_vm()
    yf = vm.run_timesteps(xs) if stream else vm.run(xs)
    if not np.array_equal(yf.view(np.uint32), y.astype(np.float32).view(np.uint32)):
        return Outcome("fail", "schedule", "the optimal schedule's bits differ from the list's")
    return None


def _stream_vs_sequence(nnir, config, xs: np.ndarray, y: np.ndarray) -> Outcome | None:
    """The streaming program (one row per inference) gives the sequence program's bits."""
    try:
        stream, _ = nnir.streaming_transform(0)
        ys = stream.to_program(config).to_vm().run_timesteps(xs)
    except RillError:
        return None  # e.g. the streaming program needs more registers: not this check's concern
    if np.array_equal(ys.view(np.uint32), y.astype(np.float32).view(np.uint32)):
        return None
    d = np.argwhere(ys.view(np.uint32) != y.astype(np.float32).view(np.uint32))[0]
    i = tuple(int(k) for k in d)
    return Outcome("fail", "stream-vs-seq", f"first at {i}: sequence {y[i]!r} streaming {ys[i]!r}")


def _rtl(program, xs: np.ndarray, y: np.ndarray, stream: bool) -> Outcome | None:
    import rill.cosim

    inputs = [xs[t] for t in range(xs.shape[0])] if stream else [xs]
    res = rill.cosim.run(program, inputs, check=False)
    if res.mismatches or res.errors:
        what = "; ".join(res.errors[:3]) or f"{len(res.mismatches)} element(s) differ"
        return Outcome("fail", "rtl", what)
    got = np.stack(res.outputs) if stream else res.outputs[0]
    if not np.array_equal(got.view(np.uint32), y.astype(np.float32).view(np.uint32)):
        return Outcome("fail", "rtl", "RTL outputs differ from the VM's bits")
    cycles = [c for c, clean in zip(res.cycles_per_inference, res.clean, strict=False) if clean]
    if any(c != res.expected_cycles for c in cycles):
        return Outcome("fail", "rtl", f"cycles {cycles} expected {res.expected_cycles}")
    return None
