"""yosys's Xilinx cell library with its timing arcs restated in the budget's levels, for abc9.

ABC maps LUTs for the delays its cell library states. With unit delay per LUT (yosys `abc`)
it cannot see a carry chain's or a DSP's delay: their outputs arrive at time 0, and area
recovery then lets every cone after one grow to the deepest LUT depth anywhere in the design
(docs/architecture.md, "The latency floor of this array"). With picosecond arcs (`abc9` on
yosys's own library) it optimises another measure than the budget's: per-pin LUT delays that
differ 5x, and no route.

So the flow hands `abc9` the library below: every arc is the budget's weight of it
(`levels.py`), in hundredths of a level (a LUT is 100, entering a carry chain 100, each further
CARRY4 20, MUXF7/8 25, a DSP multiply 300 and post-adder 150, a block RAM read without its
output register 200), registers launch at 0 and capture at 0, and wires cost nothing (the
LUT's level includes its route). ABC then maps every cone for the depth `levels.py` measures,
chains and DSPs included, and recovers area only up to the design's deepest path in that
measure. The arcs guide the mapping only; `levels.py` measures the mapped netlist.
"""

from __future__ import annotations

import re

from . import levels

UNIT = 100  # one level, in the library's delay unit

LUT = round(levels.W_LUT * UNIT)
MUXF = round(levels.W_MUXF * UNIT)
CARRY_IN = round(levels.W_CARRY_IN * UNIT)
CARRY_CHAIN = round(levels.W_CARRY_CHAIN * UNIT)
DSP_MUL = round(levels.W_DSP_MUL * UNIT)
DSP_ADD = round(levels.W_DSP_ADD * UNIT)
BRAM_OUT = round(levels.W_BRAM_OUT * UNIT)
LUTRAM = round(levels.W_LUTRAM * UNIT)

_MODULE = re.compile(r"(?ms)^module\s+(\\?[\w$]+)\b.*?^endmodule\b")
_SPECIFY = re.compile(r"(?s)(\bspecify\b)(.*?)(\bendspecify\b)")
# a path arc: `(src => dst) = expr;`, `(src *> dst) = expr;`, optionally `if (c) ` before it
# and `(posedge C => (Q : D))` for a clocked one; expr is numeric (with `+` and comments)
_ARC = re.compile(r"\((?P<path>(?:[^()]|\([^()]*\))*?(?:=>|\*>)(?:[^()]|\([^()]*\))*)\)"
                  r"(?P<eq>\s*=\s*)(?P<expr>[^;\\]*?);")
_SETUP = re.compile(r"\$setup\((?P<args>[^,;]+,[^,;]+,)(?P<expr>[^;\\]*?)\);")

# DSP48E1's delay functions (yosys computes its arcs from the parameters with them),
# restated in levels: the multiplier A/B/D -> M, the post-adder M/C/PCIN -> P.
_DSP_FUNCS = f"""
    function integer \\A.required ;
        \\A.required = AREG != 0 ? 0 : MREG != 0 ? {DSP_MUL} :
                       PREG != 0 ? (USE_MULT == "NONE" ? {DSP_ADD} : {DSP_MUL + DSP_ADD}) : 0;
    endfunction
    function integer \\B.required ;
        \\B.required = BREG != 0 ? 0 : MREG != 0 ? {DSP_MUL} :
                       PREG != 0 ? (USE_MULT == "NONE" ? {DSP_ADD} : {DSP_MUL + DSP_ADD}) : 0;
    endfunction
    function integer \\C.required ;
        \\C.required = CREG != 0 ? 0 : PREG != 0 ? {DSP_ADD} : 0;
    endfunction
    function integer \\D.required ;
        \\D.required = DREG != 0 || ADREG != 0 ? 0 : MREG != 0 ? {DSP_MUL} :
                       PREG != 0 ? {DSP_MUL + DSP_ADD} : 0;
    endfunction
    function integer \\P.arrival ;
        \\P.arrival = PREG != 0 ? 0 : CREG != 0 || MREG != 0 ? {DSP_ADD} :
                      USE_MULT == "NONE" ? {DSP_ADD} : {DSP_MUL + DSP_ADD};
    endfunction
    function integer \\PCOUT.arrival ;
        \\PCOUT.arrival = \\P.arrival ();
    endfunction
    function integer \\A.P.comb ;
        \\A.P.comb = USE_MULT == "NONE" ? {DSP_ADD} : {DSP_MUL + DSP_ADD};
    endfunction
    function integer \\A.PCOUT.comb ;
        \\A.PCOUT.comb = \\A.P.comb ();
    endfunction
    function integer \\B.P.comb ;
        \\B.P.comb = \\A.P.comb ();
    endfunction
    function integer \\B.PCOUT.comb ;
        \\B.PCOUT.comb = \\A.P.comb ();
    endfunction
    function integer \\C.P.comb ;
        \\C.P.comb = {DSP_ADD};
    endfunction
    function integer \\C.PCOUT.comb ;
        \\C.PCOUT.comb = {DSP_ADD};
    endfunction
    function integer \\D.P.comb ;
        \\D.P.comb = {DSP_MUL + DSP_ADD};
    endfunction
    function integer \\D.PCOUT.comb ;
        \\D.PCOUT.comb = {DSP_MUL + DSP_ADD};
    endfunction
"""


def _arc_delay(module: str, path: str) -> int:
    """The budget's delay of one combinational or clock-to-out arc of `module`."""
    src = path.split("=>")[0].split("*>")[0].strip()
    clocked = re.match(r"(posedge|negedge)\b", src) is not None
    if module.startswith("RAMB"):
        # clock -> DO: a read without the output register costs 2 levels (with it, the
        # register launches at 0; yosys 0.23 states both arcs under the same condition, so
        # the library keeps the larger and ABC maps what follows a block RAM conservatively)
        return BRAM_OUT if clocked else 0
    if clocked:
        return 0
    if re.fullmatch(r"LUT[1-6]", module):
        return LUT
    if module == "\\$__ABC9_LUT7":
        return LUT + MUXF
    if module == "\\$__ABC9_LUT8":
        return LUT + 2 * MUXF
    if module in ("MUXF7", "MUXF8"):
        return MUXF
    if module == "\\$__XILINX_MUXF78":
        return MUXF if src == "S1" else 2 * MUXF
    if module == "CARRY4":
        return CARRY_CHAIN if src == "CI" else CARRY_IN
    if module.startswith(("RAM32", "RAM64", "RAM128", "RAM256")):
        return LUTRAM
    if module == "DSP48E1":
        return DSP_ADD  # PCIN -> P / PCOUT (the other arcs are the functions above)
    return 0  # buffers, inverters, shift-register LUTs (a register in the budget's model)


def _restate(module: str, body: str) -> str:
    if re.fullmatch(r"FD[CP]E(_1)?", module):
        body = _ASYNC_ARC.sub("", body)
    def spec(m: re.Match) -> str:
        s = _ARC.sub(lambda a: f"({a['path']}){a['eq']}{_arc_delay(module, a['path'])};",
                     m.group(2))
        setup = DSP_ADD if module == "DSP48E1" else 0  # DSP48E1: PCIN's, into P
        s = _SETUP.sub(lambda a: f"$setup({a['args']} {setup});", s)
        return m.group(1) + s + m.group(3)

    body = _SPECIFY.sub(spec, body)
    if module == "DSP48E1" and "function integer \\A.required" in body:
        i = body.index("function integer \\A.required")
        j = body.rindex("endfunction", i, body.index("generate", i)) + len("endfunction")
        body = body[:i] + _DSP_FUNCS.strip() + body[j:]
    return body


# yosys models the asynchronous-reset flops as boxes with a CLR/PRE -> Q arc, so that abc9 can
# put a bypass around them; that bypass renames every such register's output net, and the
# paths from and to it lose their names. The budget times a flop the same whatever its reset
# (`levels.py`: its inputs end paths, its output starts them), so here they are plain flops.
_ASYNC_FLOP = re.compile(r"\(\*\s*abc9_box,\s*lib_whitebox\s*\*\)(\s*module\s+FD[CP]E(?:_1)?\b)")
_ASYNC_ARC = re.compile(r"\n[^\n]*\((CLR|PRE) => Q\)[^\n]*")


def restate(cells_sim: str) -> str:
    """`cells_sim.v` (or `abc9_model.v`) with every timing arc in the budget's levels."""
    text = _ASYNC_FLOP.sub(r"(* abc9_flop, lib_whitebox *)\1", cells_sim)
    return _MODULE.sub(lambda m: _restate(m.group(1), m.group(0)), text)
