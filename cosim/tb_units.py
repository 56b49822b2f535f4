"""cocotb benches for the rill arithmetic units, bit-exact against compiler/rill/hw/numerics.py.

Run through cosim/test_units.py (pytest + cocotb runner); each bench streams one vector per
cycle (driven on the falling clock edge), samples the output on the falling edge and checks
it against the reference at the unit's fixed latency, so the latency is proven too.
The per-cycle Python work is one write per input port and one read of the output.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge
from vectors import dot_rows, fp32, n_vectors, pair, rng

from rill.hw import isa
from rill.hw import numerics as nx
from rill.hw.config import Config

PARAMS = json.loads(os.environ.get("RILL_PARAMS", "{}"))


def f32(bits: np.ndarray) -> np.ndarray:
    return nx.from_f32_bits(np.asarray(bits, dtype=np.uint32))


def pack(lanes: np.ndarray, width: int) -> list[int]:
    """[n, k] lane values (lane 0 = LSBs) -> n Python ints, `width` bits per lane."""
    lanes = np.asarray(lanes, dtype=np.uint64)
    n, k = lanes.shape
    if width * k <= 64 and width < 64:
        acc = np.zeros(n, dtype=np.uint64)
        for j in range(k):
            acc |= lanes[:, j] << np.uint64(width * j)
        return [int(v) for v in acc]
    nbytes = width // 8
    assert width % 8 == 0
    dt = {1: "u1", 2: "<u2", 4: "<u4"}[nbytes]
    raw = np.ascontiguousarray(lanes.astype(dt)).view(np.uint8).reshape(n, k * nbytes)
    return [int.from_bytes(row.tobytes(), "little") for row in raw]


def pack_bits(flags: np.ndarray) -> list[int]:
    """[n, k] 0/1 flags -> n Python ints, lane 0 = bit 0."""
    weights = 1 << np.arange(flags.shape[1], dtype=object)
    return [int(v) for v in np.asarray(flags, dtype=object) @ weights]


def unpack(vals: list[int], k: int, width: int) -> np.ndarray:
    nbytes = width // 8
    buf = b"".join(v.to_bytes(k * nbytes, "little") for v in vals)
    dt = {2: "<u2", 4: "<u4"}[nbytes]
    return np.frombuffer(buf, dtype=dt).reshape(len(vals), k).astype(np.uint32)


async def start(dut) -> None:
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.rst_ni.value = 0
    await FallingEdge(dut.clk_i)
    await FallingEdge(dut.clk_i)
    dut.rst_ni.value = 1


async def stream(dut, inputs: dict[str, list[int]], outputs: list[str], latency: int,
                 raw: bool = False):
    """Drive inputs[name][i] in cycle i; return {out: [value read in cycle i + latency]}.

    Inputs are written after a falling edge and captured by the next rising edge; a value
    written in cycle i that passes `latency` registers is read at the falling edge ending
    cycle i + latency - 1... i.e. after `latency` rising edges.
    """
    names = list(inputs)
    n = len(inputs[names[0]])
    handles = [getattr(dut, k) for k in names]
    cols = [inputs[k] for k in names]
    outh = [getattr(dut, k) for k in outputs]
    single = [len(h) == 1 for h in outh]  # 1-bit ports read as Logic, not LogicArray
    got: dict[str, list[int]] = {k: [] for k in outputs}
    gl = [got[k] for k in outputs]
    fe = FallingEdge(dut.clk_i)
    zero = [0] * len(names)
    t0 = time.monotonic()
    for i in range(n + latency):
        row = [c[i] for c in cols] if i < n else zero
        for h, v in zip(handles, row, strict=True):
            h.value = v
        await fe
        if raw or i >= latency - 1:
            for h, g, one in zip(outh, gl, single, strict=True):
                g.append(int(h.value) if one else h.value.to_unsigned())
    dt = time.monotonic() - t0
    dut._log.info("%d vectors in %.2fs: %.0f vectors/s", n, dt, n / dt)
    if raw:  # every read, including the first latency - 1 cycles, unaligned
        return got
    return {k: v[:n] for k, v in got.items()}


def compare(dut, what: str, got: np.ndarray, want: np.ndarray, *operands: np.ndarray) -> None:
    got = np.asarray(got, dtype=np.uint32)
    want = np.asarray(want, dtype=np.uint32)
    bad = np.nonzero((got != want).reshape(len(got), -1).any(axis=1))[0]
    if len(bad):
        lines = []
        for i in bad[:8]:
            ops = " ".join(
                f"{np.asarray(o[i]).ravel()[:4].tolist()}" if np.ndim(o[i]) else f"{int(o[i]):08X}"
                for o in operands
            )
            g, w = np.asarray(got[i]).ravel(), np.asarray(want[i]).ravel()
            lines.append(f"  #{i}: ops {ops} got {[hex(x) for x in g[:4]]} "
                         f"want {[hex(x) for x in w[:4]]}")
        head = f"{what}: {len(bad)} of {len(got)} vectors differ\n"
        raise AssertionError(head + "\n".join(lines))
    dut._log.info("%s: %d vectors bit-exact", what, len(got))


# ------------------------------------------------------------------------------------ fp32_add
@cocotb.test()
async def fp32_add_random(dut):
    n = n_vectors(150_000)
    r = rng()
    a, b = pair(r, n)
    sub = r.integers(0, 2, n).astype(np.uint32)
    await start(dut)
    got = await stream(dut, {"a_i": a.tolist(), "b_i": b.tolist(), "sub_i": sub.tolist()},
                       ["y_o"], latency=isa.ADD_STAGES)
    want = np.where(sub == 1, nx.f32_bits(nx.fp32_sub(f32(a), f32(b))),
                    nx.f32_bits(nx.fp32_add(f32(a), f32(b))))
    compare(dut, "fp32_add", np.array(got["y_o"]), want, a, b, sub)


# ------------------------------------------------------------------------------------ fp32_mul
@cocotb.test()
async def fp32_mul_random(dut):
    n = n_vectors(150_000)
    r = rng(default=2)
    a, b = pair(r, n)
    await start(dut)
    got = await stream(dut, {"a_i": a.tolist(), "b_i": b.tolist()}, ["y_o"],
                       latency=isa.MUL_STAGES)
    want = nx.f32_bits(nx.fp32_mul(f32(a), f32(b)))
    compare(dut, "fp32_mul", np.array(got["y_o"]), want, a, b)


# ------------------------------------------------------------------------------------ act
def act_inputs(r: np.random.Generator, n: int) -> np.ndarray:
    """Activation inputs: mostly the interesting range [-10, 10] (segment boundaries, ties of
    the fixed-point quantiser), plus every fp32 class."""
    x = fp32(r, n)
    cls = r.integers(0, 4, n)
    uni = nx.f32_bits(r.uniform(-10, 10, n).astype(np.float32))
    x = np.where(cls == 1, uni, x)
    # exact grid points of the quantiser: k * 2^-16 or 2^-15 (segment and u boundaries)
    grid = r.integers(-(1 << 20), 1 << 20, n).astype(np.float64) * 2.0 ** -r.integers(15, 18, n)
    x = np.where(cls == 2, nx.f32_bits(grid.astype(np.float32)), x)
    small = nx.f32_bits((r.uniform(-1, 1, n) * 2.0 ** -r.integers(0, 20, n)).astype(np.float32))
    x = np.where(cls == 3, small, x)
    return x.astype(np.uint32)


@cocotb.test()
async def act_random(dut):
    """TANH, SIGMOID and PHI, a third each: 450k vectors (>= 150k PHI)."""
    n = n_vectors(450_000)
    r = rng(default=3)
    x = act_inputs(r, n)
    sel = r.integers(0, 3, n).astype(np.uint32)  # 0 TANH, 1 SIGMOID, 2 PHI
    await start(dut)
    got = await stream(dut, {"x_i": x.tolist(), "sigmoid_i": (sel == 1).astype(int).tolist(),
                             "phi_i": (sel == 2).astype(int).tolist()}, ["y_o"],
                       latency=isa.ACT_STAGES)
    xf = f32(x)
    want = np.select([sel == 0, sel == 1, sel == 2],
                     [nx.f32_bits(nx.act_tanh(xf)), nx.f32_bits(nx.act_sigmoid(xf)),
                      nx.f32_bits(nx.act_phi(xf))])
    compare(dut, "act", np.array(got["y_o"]), want, x, sel)


# ------------------------------------------------------------------------------------ fn
FN_REF = {nx.FN_RECIP: nx.fn_recip, nx.FN_RSQRT: nx.fn_rsqrt, nx.FN_EXP2: nx.fn_exp2,
          nx.FN_LOG2: nx.fn_log2}
FN_SEL = {isa.VOp.RECIP: nx.FN_RECIP, isa.VOp.RSQRT: nx.FN_RSQRT, isa.VOp.EXP2: nx.FN_EXP2,
          isa.VOp.LOG2: nx.FN_LOG2}
FN_DEPTH = {nx.FN_RECIP: isa.FN_STAGES, nx.FN_RSQRT: isa.FN_STAGES, nx.FN_EXP2: isa.FN_STAGES,
            nx.FN_LOG2: isa.FN_LOG_STAGES}
FN_SPECIALS = np.array(
    [0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00400000, 0x80000001,  # zeros, subnormals
     0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFFFFFFF,  # inf, NaN
     0x3F800000, 0xBF800000, 0x3F800001, 0x3F7FFFFF, 0x3FFFFFFF, 0x40000000,  # around 1, 2
     0x7F7FFFFF, 0xFF7FFFFF, 0x7F000000, 0x7E800000, 0x7F400000, 0x7E800001,  # huge (RECIP FTZ)
     0x00800000, 0x80800000, 0x00800001, 0x01000000, 0x00FFFFFF,  # min normals (RECIP inf edge)
     0x42FE0000, 0x43000000, 0xC2FC0000, 0xC2FE0000, 0xC3000000, 0x43800000, 0xC3800000,
     0x437FFFFF, 0xC37FFFFF, 0x42FDFFFF, 0xC2FC0001, 0x42FFFFFF, 0xC2FE0001],  # EXP2 edges
    dtype=np.uint32)


def fn_inputs(r: np.random.Generator, sel: np.ndarray) -> np.ndarray:
    """Function-unit inputs: every fp32 class, plus per function the edges of its range."""
    n = len(sel)
    x = fp32(r, n)
    cls = r.integers(0, 10, n)
    sign = r.integers(0, 2, n, dtype=np.uint32) << 31
    frac = r.integers(0, 1 << 23, n, dtype=np.uint32)
    x = np.where(cls == 1, FN_SPECIALS[r.integers(0, len(FN_SPECIALS), n)], x)
    # powers of two and their neighbours, any exponent
    e = r.integers(0, 256, n, dtype=np.uint32)
    pw = (sign | (e << 23)).astype(np.int64) + r.integers(-2, 3, n)
    x = np.where(cls == 2, pw.clip(0, 0xFFFFFFFF).astype(np.uint32), x)
    # segment and interpolation boundaries: sparse fractions
    k = r.integers(0, 16, n, dtype=np.uint32)
    sparse = frac & ~((np.uint32(1) << (np.uint32(23) - k)) - np.uint32(1)) & 0x7FFFFF
    x = np.where(cls == 3, sign | (e << 23) | sparse, x)
    # EXP2: [-140, 140], integers, half-integers and values with bits below 2^-23
    u = r.uniform(-140, 140, n)
    ints = np.round(u) + r.choice([0.0, 0.5, 2.0**-20, -(2.0**-20)], n)
    x2 = np.where(r.random(n) < 0.5, u, ints).astype(np.float32)
    small = (r.uniform(-1, 1, n) * 2.0 ** -r.integers(0, 40, n)).astype(np.float32)
    x2 = np.where(r.random(n) < 0.2, small, x2)
    x = np.where((cls >= 4) & (sel == nx.FN_EXP2), nx.f32_bits(x2), x)
    # LOG2: near 1 (both sides), any positive value
    near1 = (0x3F800000 + r.integers(-(1 << 16), 1 << 16, n) // (1 << r.integers(0, 16, n)))
    near1 = near1.astype(np.uint32)
    x = np.where((cls >= 4) & (cls < 7) & (sel == nx.FN_LOG2), near1, x)
    # RECIP / RSQRT: exponents near the FTZ and overflow edges
    edge = np.array([1, 2, 3, 125, 126, 127, 128, 129, 251, 252, 253, 254], dtype=np.uint32)
    ex = edge[r.integers(0, len(edge), n)]
    x = np.where((cls >= 4) & (cls < 6) & (sel <= nx.FN_RSQRT), sign | (ex << 23) | frac, x)
    return x.astype(np.uint32)


def fn_schedule(r: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(valid, sel), one op per cycle, never two results leaving in one cycle."""
    sel = r.integers(0, 4, n).astype(np.uint32)
    valid = (r.random(n) < 0.95).astype(np.uint32)
    busy = np.zeros(n + isa.FN_LOG_STAGES + 1, dtype=bool)
    for c in range(n):
        if valid[c]:
            slot = c + FN_DEPTH[int(sel[c])]
            if busy[slot]:
                valid[c] = 0
            else:
                busy[slot] = True
    return valid, sel


@cocotb.test()
async def fn_random(dut):
    n = n_vectors(int(PARAMS.get("N", 900_000)))
    r = rng(default=7)
    valid, sel = fn_schedule(r, n)
    x = fn_inputs(r, sel)
    tail = isa.FN_LOG_STAGES + 1
    await start(dut)
    got = await stream(dut, {"valid_i": valid.tolist(), "sel_i": sel.tolist(),
                             "x_i": x.tolist()}, ["y_o"], latency=tail, raw=True)
    y = np.array(got["y_o"], dtype=np.uint32)
    m = n + tail
    want = np.zeros(m, dtype=np.uint32)
    for s, f in FN_REF.items():
        c = np.nonzero((sel == s) & (valid == 1))[0]
        want[c + FN_DEPTH[s]] = nx.f32_bits(f(f32(x[c])))
    # a d-register output shows input c at read c + d - 1; nothing leaves: +0
    compare(dut, "fn y_o", y[: m - 1], want[1:m])
    for s, name in ((nx.FN_RECIP, "RECIP"), (nx.FN_RSQRT, "RSQRT"), (nx.FN_EXP2, "EXP2"),
                    (nx.FN_LOG2, "LOG2")):
        dut._log.info("%s: %d vectors", name, int(((sel == s) & (valid == 1)).sum()))


# ------------------------------------------------------------------------------------ dot_row
def relu_bf16(x: np.ndarray, relu: np.ndarray) -> np.ndarray:
    """x ([n, B] bf16 bits) where relu[n] is set: RELU (docs/numerics.md), the x a matrix op
    with m_relu reads: negative lanes +0 (-0 and -inf too), NaN lanes as they are."""
    x = np.asarray(x, np.uint32)
    nan = ((x & 0x7F80) == 0x7F80) & ((x & 0x7F) != 0)
    kill = (relu[:, None] == 1) & ((x & 0x8000) != 0) & ~nan
    return np.where(kill, np.uint32(0), x)


def dot_ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[n, B] bf16 bits each -> [n] fp32 bits, numerics.block_dot_exact."""
    xf = nx.bf16_bits_to_f32(x)
    wf = nx.bf16_bits_to_f32(w)[:, None, :]
    out = np.empty(len(x), dtype=np.float32)
    for s in range(0, len(x), 20_000):
        out[s : s + 20_000] = nx.block_dot_exact(xf[s : s + 20_000], wf[s : s + 20_000])[:, 0]
    return nx.f32_bits(out)


@cocotb.test()
async def dot_row_random(dut):
    b = int(PARAMS["B"])
    n = n_vectors(int(PARAMS.get("N", 100_000)))
    r = rng(default=4 + b)
    x, w = dot_rows(r, n, b)
    # registers from x_i/w_i to y_o: isa.dot_stages (rill_dot_row's header lists them)
    depth = isa.dot_stages(b)
    await start(dut)
    xi = np.asarray(x, np.int64)
    xe = (xi >> 7) & 0xFF  # x's exponent (already bf16: no rounding carry) and NaN lanes
    xnan = ((xe == 0xFF) & ((xi & 0x7F) != 0)).astype(np.int64)
    relu = (r.random(n) < 0.3).astype(np.int64)  # m_relu: the op reads RELU(x)
    got = await stream(dut, {"x_i": pack(x, 16), "x_e_i": pack(xe, 8), "x_rc_i": [0] * len(x),
                             "x_nan_i": pack_bits(xnan), "x_relu_i": relu.tolist(),
                             "w_i": pack(w, 16)}, ["y_o"], latency=depth)
    compare(dut, f"dot_row B={b}", np.array(got["y_o"]), dot_ref(relu_bf16(x, relu), w), x, w,
            relu)


# ------------------------------------------------------------------------------------ matrix
@cocotb.test()
async def matrix_unit_random(dut):
    """x, w in cycle 1; acc in cycle mac_acc_read + 1; y in cycle mac - 1 (isa.Timing, from
    isa.dot_stages and ADD_STAGES). A MAC's acc is -0.0, as the core's read port supplies it:
    y must then be the block sum itself, bit for bit."""
    b = int(PARAMS["B"])
    tm = isa.Timing.of(Config(1, b))
    n = n_vectors(int(PARAMS.get("N", 100_000)))
    r = rng(default=40 + b)
    xb, w = dot_rows(r, n * b, b)
    xb = xb.reshape(n, b, b)[:, 0, :]
    w = w.reshape(n, b, b)
    # fp32 register values that round to those bf16s: random low halves, ties included
    low = r.integers(0, 1 << 16, (n, b)).astype(np.uint32)
    low = np.where(r.random((n, b)) < 0.2, np.uint32(0x8000), low)
    low = np.where(r.random((n, b)) < 0.2, np.uint32(0), low)
    x = (xb << 16) | low
    relu = (r.random(n) < 0.3).astype(np.int64)  # m_relu: the op reads RELU(bf16(x))
    x_ref = relu_bf16(nx.f32_to_bf16_bits(f32(x)), relu)
    dot = np.empty((n, b), dtype=np.float32)
    xf, wf = nx.bf16_bits_to_f32(x_ref), nx.bf16_bits_to_f32(w)
    for s in range(0, n, 5000):
        dot[s : s + 5000] = nx.block_dot_exact(xf[s : s + 5000], wf[s : s + 5000])
    acc = fp32(r, n * b).reshape(n, b)
    cancel = r.random((n, b)) < 0.1  # acc = -dot: x + (-x) = +0
    acc = np.where(cancel, nx.f32_bits(dot) ^ np.uint32(0x80000000), acc).astype(np.uint32)
    acc_en = r.integers(0, 2, n).astype(np.uint32)
    want = np.where(acc_en[:, None] == 1, nx.f32_bits(nx.fp32_add(f32(acc), dot)),
                    nx.f32_bits(dot))
    d_acc = tm.mac_acc_read  # cycles from x (cycle 1) to acc (cycle mac_acc_read + 1)
    pad = [0] * d_acc
    await start(dut)
    got = await stream(
        dut,
        {
            "x_i": pack(x, 32) + pad,
            "x_relu_i": relu.tolist() + pad,
            "w_i": pack(w.reshape(n, b * b), 16) + pad,
            "acc_i": pad + pack(np.where(acc_en[:, None] == 1, acc, np.uint32(0x80000000)), 32),
        },
        ["y_o"],
        latency=tm.mac - 2,  # x in cycle 1, y_o (WB) in cycle mac - 1
    )
    y = unpack(got["y_o"][:n], b, 32)
    compare(dut, f"matrix_unit B={b}", y, want, x, acc, acc_en, relu)


# ------------------------------------------------------------------------------------ vector
VOPS = {o.name: int(o) for o in isa.VOp}
_OUT, _NOP = VOPS["OUT"], VOPS["NOP"]


def v_depths(b: int) -> dict[int, int]:
    """Registers from cycle 1 to write-back (isa latency - 2): each op's unit stages."""
    st = {"ADD": isa.ADD_STAGES, "SUB": isa.ADD_STAGES, "MUL": isa.MUL_STAGES,
          "TANH": isa.ACT_STAGES, "SIGMOID": isa.ACT_STAGES, "PHI": isa.ACT_STAGES,
          "RELU": isa.RELU_STAGES, "ABS": isa.RELU_STAGES, "NEG": isa.RELU_STAGES,
          "KEEP": isa.RELU_STAGES, "DROP": isa.RELU_STAGES, "OR": isa.RELU_STAGES,
          "MAX": isa.MINMAX_STAGES, "MIN": isa.MINMAX_STAGES, "GT": isa.MINMAX_STAGES,
          "GE": isa.MINMAX_STAGES, "RECIP": isa.FN_STAGES, "RSQRT": isa.FN_STAGES,
          "EXP2": isa.FN_STAGES, "LOG2": isa.FN_LOG_STAGES, "RMAX": isa.rmax_stages(b)}
    return {VOPS[k]: d for k, d in st.items()}


V_DEPTH = v_depths(int(PARAMS.get("B", 8)))
V_TAIL = max(V_DEPTH.values()) + 1  # cycles streamed after the last op


def sel_operands(r: np.random.Generator, a: np.ndarray, b: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Compare/select stimulus on top of pair(): a quarter of the lanes from zeros,
    subnormals, infs and NaN payloads of both signs against each other, an eighth b = -a, an
    eighth b = a, an eighth exponents that OR to all ones (OR's NaN and inf results)."""
    n = a.size
    zs = np.array([0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF,
                   0x00800000, 0x80800000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                   0x7F800001, 0xFFFFFFFF, 0x3F800000, 0xBF800000], dtype=np.uint32)
    cls = r.integers(0, 8, n)
    a = np.where(cls < 2, zs[r.integers(0, len(zs), n)], a)
    b = np.where(cls < 2, zs[r.integers(0, len(zs), n)], b)
    b = np.where(cls == 2, a ^ np.uint32(0x80000000), b)
    b = np.where(cls == 3, a, b)
    b = np.where(cls == 4, (b & np.uint32(0x807FFFFF)) | (~a & np.uint32(0x7F800000)), b)
    return a.astype(np.uint32), b.astype(np.uint32)


def vector_schedule(r: np.random.Generator, n: int, weights: dict[str, float] | None = None
                    ) -> np.ndarray:
    """Random op mix, one per cycle, never two write-backs in one cycle (NOP/OUT fill in).
    weights: op name -> relative weight (default: every VOp alike)."""
    names = list(weights) if weights else list(VOPS)
    p = np.array([weights[k] for k in names] if weights else [1.0] * len(names), dtype=float)
    codes = np.array([VOPS[k] for k in names])
    ops = codes[r.choice(len(names), n, p=p / p.sum())]
    busy = np.zeros(n + V_TAIL, dtype=bool)
    for c in range(n):
        op = int(ops[c])
        if op in V_DEPTH:
            slot = c + V_DEPTH[op]
            if busy[slot]:
                ops[c] = _OUT if r.random() < 0.5 else _NOP
            else:
                busy[slot] = True
    return ops


@cocotb.test()
async def vector_unit_random(dut):
    b = int(PARAMS["B"])
    idx_bits = int(PARAMS["IDX_BITS"])
    n = n_vectors(int(PARAMS.get("N", 100_000)))
    r = rng(default=50 + b + int(PARAMS.get("SEED", 0)))
    ops = vector_schedule(r, n, PARAMS.get("WEIGHTS"))
    a, bb = pair(r, n * b)
    lane_ops = np.repeat(ops, b)
    act_x = act_inputs(r, n * b)
    is_act = np.isin(lane_ops, [int(o) for o in isa.ACT_VOPS])
    a = np.where(is_act, act_x, a)
    fn_sel = np.array([FN_SEL.get(o, 0) for o in range(32)])[lane_ops]
    is_fn = np.isin(lane_ops, [int(o) for o in isa.FN_VOPS])
    a = np.where(is_fn, fn_inputs(r, fn_sel), a)
    sa, sb = sel_operands(r, a, bb)
    is_sel = np.isin(lane_ops, [int(o) for o in isa.SIMPLE_VOPS] + [VOPS["RMAX"]])
    a = np.where(is_sel, sa, a).reshape(n, b)
    bb = np.where(is_sel, sb, bb).reshape(n, b)
    # RMAX rows: a fifth all one value up to sign and DAZ (ties, -0 against +0)
    same = (ops == VOPS["RMAX"]) & (r.random(n) < 0.2)
    a[same] = (a[same, :1] & np.uint32(0x7FFFFFFF)) | (
        r.integers(0, 2, (int(same.sum()), b), dtype=np.uint32) << np.uint32(31))
    dst = r.integers(0, 1 << idx_bits, n).astype(np.uint32)
    af, bf = f32(a), f32(bb)
    ref = {"ADD": nx.fp32_add, "SUB": nx.fp32_sub, "MUL": nx.fp32_mul, "MAX": nx.fp32_max,
           "MIN": nx.fp32_min, "RELU": nx.relu, "TANH": nx.act_tanh,
           "SIGMOID": nx.act_sigmoid, "ABS": nx.fp32_abs, "NEG": nx.fp32_neg,
           "PHI": nx.act_phi, "RECIP": nx.fn_recip, "RSQRT": nx.fn_rsqrt, "EXP2": nx.fn_exp2,
           "LOG2": nx.fn_log2, "GT": nx.fp32_gt, "GE": nx.fp32_ge, "KEEP": nx.fp32_keep,
           "DROP": nx.fp32_drop, "OR": nx.fp32_or, "RMAX": nx.fp32_rmax}
    results = {VOPS[k]: f(af, bf) if isa.VOp[k] in isa.BINARY_VOPS else f(af)
               for k, f in ref.items()}
    assert set(results) == set(V_DEPTH) == set(VOPS.values()) - {_NOP, _OUT}
    assert all(isa.Timing.of(Config(1, b)).vop(isa.VOp(k)) - 2 == d for k, d in V_DEPTH.items())
    m = n + V_TAIL
    want_en = np.zeros(m, dtype=np.uint32)
    want_idx = np.zeros(m, dtype=np.uint32)
    want_data = np.zeros((m, b), dtype=np.uint32)
    for op, dep in V_DEPTH.items():
        sel = np.nonzero(ops == op)[0]
        want_en[sel + dep - 1 + 1] = 1  # read in iteration c + dep (see stream)
        want_idx[sel + dep] = dst[sel]
        want_data[sel + dep] = nx.f32_bits(results[op][sel])
    push = (ops == _OUT).astype(np.uint32)
    out_want = nx.f32_to_bf16_bits(af).astype(np.uint32)

    await start(dut)
    got = await stream(
        dut,
        {"op_i": ops.tolist(), "dst_i": dst.tolist(), "a_i": pack(a, 32), "b_i": pack(bb, 32)},
        ["wr_en_o", "wr_idx_o", "wr_data_o", "out_push_o", "out_data_o"],
        latency=V_TAIL,
        raw=True,
    )
    # iteration i reads after the edge that captured input i: a d-register output shows
    # input i - d + 1, a combinational one input i. Align so row k = what input k produced.
    en = np.array(got["wr_en_o"], dtype=np.uint32)[: m - 1]
    idx = np.array(got["wr_idx_o"], dtype=np.uint32)[: m - 1]
    data = unpack(got["wr_data_o"][: m - 1], b, 32)
    want_en, want_idx, want_data = want_en[1:m], want_idx[1:m], want_data[1:m]
    compare(dut, "vector wr_en", en, want_en)
    w = want_en == 1
    compare(dut, "vector wr_idx", idx[w], want_idx[w])
    # per op, so a failure names it
    wops = np.zeros(m, dtype=np.int64) - 1
    for op, dep in V_DEPTH.items():
        wops[np.nonzero(ops == op)[0] + dep] = op
    wops = wops[1:m]
    for op in V_DEPTH:
        k = wops == op
        if k.any():
            compare(dut, f"vector wr_data {isa.VOp(op).name}", data[k], want_data[k])
    p = np.array(got["out_push_o"], dtype=np.uint32)[:n]
    compare(dut, "vector out_push", p, push)
    if push.any():
        od = unpack(got["out_data_o"][:n], b, 16)
        compare(dut, "vector out_data", od[push == 1], out_want[push == 1])
    counts = {k: int((ops == v).sum()) for k, v in VOPS.items()}
    dut._log.info("op mix: %s", counts)


@cocotb.test()
async def vector_unit_collision(dut):
    """The deepest op, then the shallowest as many cycles later as its pipeline is shorter:
    both write back in one cycle, and the RTL assertion must stop the simulation
    (test_units.py expects this test to fail)."""
    first = max(V_DEPTH, key=V_DEPTH.get)
    second = min(V_DEPTH, key=V_DEPTH.get)
    gap = V_DEPTH[first] - V_DEPTH[second]
    await start(dut)
    for k in range(gap + 1):
        dut.op_i.value = first if k == 0 else second if k == gap else VOPS["NOP"]
        await FallingEdge(dut.clk_i)
    dut.op_i.value = VOPS["NOP"]
    for _ in range(V_TAIL):
        await FallingEdge(dut.clk_i)
