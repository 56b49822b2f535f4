"""Logic levels of every register-to-register path in a mapped Xilinx 7-series netlist.

The budget in docs/architecture.md is counted in *levels*: one level is one 6-input LUT plus
the route after it (~0.45–0.5 ns on a current large FPGA). Other primitives are weighed in the
same unit, from their datasheet delays relative to a LUT level:

| primitive | path | levels |
|---|---|---|
| LUT1–LUT6 | any input → O | 1 |
| MUXF7 / MUXF8 | any input → O | 0.25 |
| CARRY4 | S / DI / CYINIT → O / CO (entering a chain) | 1 |
| CARRY4 | CI → O / CO (each further 4 bits of the chain) | 0.2 |
| DSP48E1 | A / B / D → multiplier output (M) | 3 |
| DSP48E1 | M / C / PCIN → P (post-adder) | 1.5 |
| RAMB18E1 / RAMB36E1 | clock → DO without the output register | 2 |
| LUT RAM | read address → O | 1 |

So a 32-bit adder after a LUT is 1 + 1 + 7 × 0.2 = 3.4 levels, and a combinational DSP multiply
eats half a stage. Flip-flops, shift-register LUTs, block RAM and the registers a DSP has
enabled start and end paths; the unit's ports count as registers (each unit is timed between
registered inputs and outputs). Buffers and inverters are free (they fold into LUTs).
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict

LUT_TYPES = {f"LUT{k}" for k in range(1, 7)}
FREE = {"BUFG", "IBUF", "OBUF", "INV", "BUF"}
FLOPS = {"FDRE", "FDSE", "FDCE", "FDPE"}
SRL = {"SRL16E", "SRLC32E"}
BRAM = {"RAMB18E1", "RAMB36E1"}
LUTRAM_PREFIX = ("RAM32", "RAM64", "RAM128", "RAM256")

W_LUT = 1.0
W_MUXF = 0.25
W_CARRY_IN = 1.0
W_CARRY_CHAIN = 0.2
W_DSP_MUL = 3.0
W_DSP_ADD = 1.5
W_BRAM_OUT = 2.0
W_LUTRAM = 1.0

_DSP_MUL_IN = {"A", "B", "D", "ACIN", "BCIN", "INMODE"}
_DSP_ADD_IN = {"C", "PCIN", "CARRYIN", "CARRYINSEL", "OPMODE", "ALUMODE", "CARRYCASCIN",
               "MULTSIGNIN"}
_DSP_OUT = {"P", "PCOUT", "CARRYOUT", "CARRYCASCOUT", "MULTSIGNOUT", "PATTERNDETECT",
            "PATTERNBDETECT", "OVERFLOW", "UNDERFLOW"}


@dataclasses.dataclass(frozen=True)
class Path:
    """The deepest path into one register (or output port) group."""

    end: str  # register or port name the path ends in, without the bit index
    start: str  # where it starts
    levels: float
    luts: int  # LUTs on the path
    carry: int  # CARRY4 cells on the path
    dsp: int  # DSP blocks on the path
    # the path from start to end: "kind net" per step (lut, carry, mux, dsp, lutram, wire)
    via: tuple[str, ...] = ()


def _lutram_reads(out_port: str, in_port: str) -> bool:
    """Is `in_port` a read address of the distributed-RAM output `out_port`? RAM32M/RAM64M:
    ADDRx -> DOx; RAM*X1D: A -> SPO (the write address), DPRA -> DPO; RAM*X1S: A -> O."""
    if out_port.startswith("DO"):
        return in_port == "ADDR" + out_port[2:]
    if out_port in ("SPO", "O"):
        return in_port.startswith("A") and not in_port.startswith("ADDR")
    if out_port == "DPO":
        return in_port.startswith("DPRA")
    raise ValueError(f"levels: unknown distributed-RAM output {out_port}")


def _param_int(v: str | int) -> int:
    if isinstance(v, int):
        return v
    try:
        return int(v, 2) if set(v) <= {"0", "1"} else int(v)
    except ValueError:
        return 0


def _group(name: str) -> str:
    """`gen_x[1].e_q[3]` -> `gen_x[1].e_q`; `a1_q.sml[5]` -> `a1_q`."""
    name = name.lstrip("\\")
    name = re.sub(r"\[\d+\]$", "", name)
    name = re.sub(r"_reg$", "", name)  # yosys names some memory-inferred registers x_reg
    # struct members: keep the register, drop the field (a1_q.sml -> a1_q)
    m = re.match(r"^(.*?_q)(\b|\.|\[)", name)
    return m.group(1) if m else name


def analyse(netlist: dict, top: str) -> list[Path]:
    """Every path group's deepest path, deepest first. `netlist` is yosys `write_json`."""
    mod = netlist["modules"][top]
    bitname: dict[int, str] = {}
    def rank(kv: tuple[str, dict]) -> tuple:
        name, nn = kv
        anon = bool(re.fullmatch(r"\\?_\d+_", name)) or "$" in name
        return (nn.get("hide_name", 0), anon, name)

    for name, nn in sorted(mod["netnames"].items(), key=rank):
        for k, b in enumerate(nn["bits"]):
            if isinstance(b, int) and b not in bitname:
                w = len(nn["bits"])
                bitname[b] = f"{name}[{k}]" if w > 1 else name

    # arcs: (from bit, to bit, weight, kind); starts: bits with arrival 0 after a clock
    arcs: dict[int, list[tuple[int, float, str]]] = defaultdict(list)
    start_arrival: dict[int, float] = {}
    ends: list[tuple[int, str]] = []  # (bit, endpoint label)

    for pname, port in mod["ports"].items():
        for b in port["bits"]:
            if not isinstance(b, int):
                continue
            if port["direction"] == "input":
                start_arrival[b] = 0.0
                bitname.setdefault(b, pname)
            else:
                ends.append((b, pname))

    for cname, cell in mod["cells"].items():
        t = cell["type"]
        conns, dirs = cell["connections"], cell["port_directions"]
        ins = {p: [b for b in bs if isinstance(b, int)] for p, bs in conns.items()
               if dirs.get(p) == "input"}
        outs = {p: [b for b in bs if isinstance(b, int)] for p, bs in conns.items()
                if dirs.get(p) == "output"}
        all_in = [b for bs in ins.values() for b in bs]
        all_out = [b for bs in outs.values() for b in bs]

        def comb(srcs, dsts, w, kind, _arcs=arcs):
            for s in srcs:
                for d in dsts:
                    _arcs[s].append((d, w, kind))

        if t in FLOPS or t in SRL:
            for p, bs in ins.items():
                if p not in ("C", "CLK"):
                    ends += [(b, cname) for b in bs]
            for b in all_out:
                start_arrival[b] = 0.0
        elif t in LUT_TYPES:
            comb(all_in, all_out, W_LUT, "lut")
        elif t in ("MUXF7", "MUXF8"):
            comb(all_in, all_out, W_MUXF, "mux")
        elif t in FREE:
            comb(all_in, all_out, 0.0, "wire")
        elif t == "CARRY4":
            # bit j's sum O[j] = S[j] ^ c[j] and carry CO[j] see S[0..j], DI[0..j-1] (CO[j]:
            # DI[0..j] too), CYINIT and CI: no arc from a higher bit's inputs to a lower output
            def pin(p: str, k: int, _conns=conns) -> list[int]:
                bs = _conns.get(p, [])
                return [bs[k]] if k < len(bs) and isinstance(bs[k], int) else []

            cyinit = [b for b in conns.get("CYINIT", []) if isinstance(b, int)]
            for j in range(4):
                s_in = [b for k in range(j + 1) for b in pin("S", k)]
                for out, n_di in (("O", j), ("CO", j + 1)):
                    di = [b for k in range(n_di) for b in pin("DI", k)]
                    comb(s_in + di + cyinit, pin(out, j), W_CARRY_IN, "carry")
                    comb(ins.get("CI", []), pin(out, j), W_CARRY_CHAIN, "carry")
        elif t.startswith("DSP48"):
            par = cell["parameters"]
            mreg, preg = _param_int(par.get("MREG", 0)), _param_int(par.get("PREG", 0))
            # the multiplier's inputs by side; a side with its input register ends paths there,
            # and that register drives the side's cascade output (ACOUT / BCOUT)
            sides = {"A": ("A", "ACIN"), "B": ("B", "BCIN"), "D": ("D",)}
            reg_side = {k: _param_int(par.get(f"{k}REG", 0)) > 0 for k in sides}
            mul_in, mul_in_reg = [], []
            for k, ports_ in sides.items():
                bits = [b for p, bs in ins.items() if p in ports_ for b in bs]
                (mul_in_reg if reg_side[k] else mul_in).extend(bits)
            mul_in += [b for p, bs in ins.items() if p == "INMODE" for b in bs]
            add_in = [b for p, bs in ins.items() if p in _DSP_ADD_IN for b in bs]
            p_out = [b for p, bs in outs.items() if p in _DSP_OUT for b in bs]
            casc = {"ACOUT": "A", "BCOUT": "B"}
            pass_out = [b for p, bs in outs.items() if p not in _DSP_OUT and p not in casc
                        for b in bs]
            ends += [(b, cname) for b in mul_in_reg]
            for p, side in casc.items():
                for b in outs.get(p, []):
                    if reg_side[side]:
                        start_arrival[b] = 0.0
                    else:
                        arcs_from = [x for pp, bs in ins.items() if pp in sides[side]
                                     for x in bs]
                        comb(arcs_from, [b], 0.0, "wire")
            if mreg or preg:
                # the multiplier (and the adder, without MREG) ends in a DSP register:
                # charge it to the input path through a virtual endpoint per input bit
                w = W_DSP_MUL + (0.0 if mreg else W_DSP_ADD)
                for s_ in mul_in:
                    ends.append((-1 - s_, f"{cname}@dsp"))
                    arcs[s_].append((-1 - s_, w, "dsp"))
            if preg:
                ends += [(b, cname) for b in add_in]
                for b in p_out:
                    start_arrival[b] = 0.0
            else:
                if not mreg:
                    comb(mul_in, p_out, W_DSP_MUL + W_DSP_ADD, "dsp")
                comb(add_in, p_out, W_DSP_ADD, "dsp")
                if mreg or mul_in_reg:
                    for b in p_out:  # from the A/B or M register through the adder
                        start_arrival[b] = W_DSP_ADD if mreg else W_DSP_MUL + W_DSP_ADD
            comb(all_in, pass_out, 0.0, "wire")
        elif t in BRAM:
            reg = any(_param_int(cell["parameters"].get(k, 0)) for k in ("DOA_REG", "DOB_REG"))
            ends += [(b, cname) for b in all_in]
            for b in all_out:
                start_arrival[b] = 0.0 if reg else W_BRAM_OUT
        elif t.startswith(LUTRAM_PREFIX):
            # every input is sampled by the write (address, data, enable): a path ends there;
            # each read output is combinational from its own read address only
            ends += [(b, cname) for b in all_in]
            for op, obs in outs.items():
                comb([b for p, bs in ins.items() if _lutram_reads(op, p) for b in bs], obs,
                     W_LUTRAM, "lutram")
        else:
            raise ValueError(f"levels: no timing model for cell type {t} ({cname})")

    # longest paths: DAG relaxation in topological order (Kahn)
    indeg: dict[int, int] = defaultdict(int)
    for lst in arcs.values():
        for d, _w, _k in lst:
            indeg[d] += 1
    arrival: dict[int, float] = {}
    pred: dict[int, tuple[int, str] | None] = {}
    nodes = set(arcs) | set(indeg) | set(start_arrival)
    ready = [n for n in nodes if indeg[n] == 0]
    for n in nodes:
        arrival[n] = start_arrival.get(n, 0.0)
        pred[n] = None
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for d, w, k in arcs.get(n, ()):
            a = arrival[n] + w
            if a > arrival[d]:
                arrival[d] = a
                pred[d] = (n, k)
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    if seen < len(nodes):
        raise ValueError("levels: combinational loop in the netlist")

    def trace(b: int) -> tuple[int, int, int, int, tuple[str, ...]]:
        luts = carry = dsp = 0
        steps: list[str] = []
        while pred.get(b) is not None:
            n = -1 - b if b < 0 else b
            b, k = pred[b]
            luts += k == "lut"
            carry += k == "carry"
            dsp += k == "dsp"
            if k != "wire":
                steps.append(f"{k} {bitname.get(n, '$' + str(n))}")
        return b, luts, carry, dsp, tuple(reversed(steps))

    worst: dict[str, Path] = {}
    for node, label in ends:
        if node not in arrival:
            continue
        lv = arrival[node]
        src, luts, carry, dsp, via = trace(node)
        b = -1 - node if node < 0 else node
        end = _endpoint_name(mod, label, b, bitname) or _group(bitname.get(b, label))
        p = Path(end=end, start=_group(bitname.get(src, str(src))), levels=round(lv, 2),
                 luts=luts, carry=carry, dsp=dsp, via=via)
        if end not in worst or p.levels > worst[end].levels:
            worst[end] = p
    return sorted(worst.values(), key=lambda p: (-p.levels, p.end))


def _endpoint_name(mod: dict, label: str, bit: int, bitname: dict[int, str]) -> str | None:
    """Name an endpoint by the register it loads: a flop's Q net, else the driving net."""
    cell = mod["cells"].get(label.split("@")[0])
    if cell is None:
        return None
    q = cell["connections"].get("Q") or cell["connections"].get("P") or []
    for b in q:
        if isinstance(b, int) and b in bitname:
            return _group(bitname[b])
    return _group(bitname.get(bit, label))
