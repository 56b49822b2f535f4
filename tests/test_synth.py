"""Timing kept true: every arithmetic unit synthesised at B=8 stays within the level budget,
and docs/architecture.md carries the levels the flow measures. Plus the level counter itself
on hand-built netlists, so a change to its weights or graph walk cannot pass unnoticed."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from rill.hw import manifest
from rill.hw.synth import BUDGET_LEVELS, default_units, synth
from rill.hw.synth.levels import analyse
from rill.hw.synth.units import config_unit

DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


# ---------------------------------------------------------------------------- level counter
def _net(cells: dict, ports: dict | None = None, names: dict | None = None) -> dict:
    full = {}
    for n, (t, conns, params) in cells.items():
        dirs = {p: ("output" if p in ("O", "Q", "CO", "P", "DO", "DOADO") else "input")
                for p in conns}
        full[n] = {"type": t, "connections": conns, "port_directions": dirs,
                   "parameters": params}
    netnames = {k: {"bits": v, "hide_name": 0} for k, v in (names or {}).items()}
    return {"modules": {"top": {"ports": ports or {}, "cells": full, "netnames": netnames}}}


def test_levels_luts_and_carry_chain():
    # a_q -> LUT -> LUT -> CARRY4 -> CARRY4 (via CI) -> b_q
    cells = {
        "ffa": ("FDRE", {"C": [1], "D": [2], "Q": [10]}, {}),
        "l1": ("LUT6", {"I0": [10], "O": [11]}, {}),
        "l2": ("LUT2", {"I0": [11], "I1": [10], "O": [12]}, {}),
        "c1": ("CARRY4", {"S": [12, 0, 0, 0], "CI": ["0"], "CO": [13, 14, 15, 16]}, {}),
        "c2": ("CARRY4", {"S": [0, 0, 0, 0], "CI": [16], "CO": [17, 18, 19, 20]}, {}),
        "ffb": ("FDRE", {"C": [1], "D": [20], "Q": [21]}, {}),
    }
    paths = analyse(_net(cells, names={"a_q": [10], "b_q": [21]}), "top")
    assert paths[0].end == "b_q" and paths[0].start == "a_q"
    assert paths[0].levels == pytest.approx(2 + 1 + 0.2)
    assert (paths[0].luts, paths[0].carry) == (2, 2)


def test_levels_ports_are_registers_and_dsp_weights():
    # input port -> combinational DSP (multiply + add) -> output port
    cells = {
        "d": ("DSP48E1", {"A": [2], "B": [3], "P": [4]}, {"AREG": "0", "MREG": "0",
                                                           "PREG": "0"}),
    }
    ports = {"x": {"direction": "input", "bits": [2, 3]}, "y": {"direction": "output",
                                                                "bits": [4]}}
    (p,) = analyse(_net(cells, ports, {"x": [2, 3], "y": [4]}), "top")
    assert (p.end, p.levels, p.dsp) == ("y", 4.5, 1)


def test_levels_dsp_input_register_drives_its_cascade():
    # x -> LUT -> DSP1.B (BREG: a register) ; DSP1.BCOUT -> DSP2.BCIN -> multiply-add -> PREG.
    # The LUT path ends at DSP1; DSP2's path starts at DSP1's B register (not at x).
    dsp = {"A": "input", "B": "input", "BCIN": "input", "BCOUT": "output", "P": "output"}
    cells = {
        "l": ("LUT1", {"I0": [2], "O": [3]}, {}),
        "d1": ("DSP48E1", {"B": [3], "BCOUT": [4]}, {"BREG": "1"}),
        "d2": ("DSP48E1", {"BCIN": [4], "P": [5]}, {"PREG": "1"}),
    }
    net = _net(cells, {"x": {"direction": "input", "bits": [2]}}, {"x": [2], "p_q": [5]})
    for c in net["modules"]["top"]["cells"].values():
        c["port_directions"] = {p: dsp.get(p, c["port_directions"][p])
                                for p in c["connections"]}
    paths = analyse(net, "top")
    assert max(p.levels for p in paths) == pytest.approx(4.5)  # DSP2 alone, not 1 + 4.5
    assert any(p.levels == pytest.approx(1) and p.start == "x" for p in paths)


def test_levels_lutram_reads_from_its_own_address_only():
    # RAM64M: ADDRA -> DOA is a read (1 level); ADDRD is the write address: a path into it
    # ends there and does not continue to DOA
    cells = {
        "r": ("RAM64M", {"ADDRA": [2], "ADDRD": [3], "DIA": [4], "DOA": [5]}, {}),
        "l": ("LUT1", {"I0": [5], "O": [6]}, {}),
    }
    net = _net(cells, {"ra": {"direction": "input", "bits": [2]},
                       "wa": {"direction": "input", "bits": [3]},
                       "y": {"direction": "output", "bits": [6]}},
               {"ra": [2], "wa": [3], "y": [6]})
    net["modules"]["top"]["cells"]["r"]["port_directions"]["DOA"] = "output"
    paths = {p.end: p for p in analyse(net, "top")}
    assert paths["y"].levels == pytest.approx(2) and paths["y"].start == "ra"


def test_levels_carry4_arcs_follow_the_carry_direction():
    # x -> S[3] reaches O[3] and CO[3] only (entering the chain: 1), not the sums or carries of
    # bits 0-2; y -> S[0] reaches every output; z -> DI[1] reaches CO[1..3], O[2..3], not O[1]
    k = "0"  # a constant pin
    cells = {"c": ("CARRY4", {"S": [2, k, k, 3], "DI": [k, 4, k, k], "CI": [k],
                              "CO": [10, 11, 12, 13], "O": [14, 15, 16, 17]}, {})}
    ins = {"y": [2], "x": [3], "z": [4]}
    outs = {f"co{j}": [10 + j] for j in range(4)} | {f"o{j}": [14 + j] for j in range(4)}
    ports = {n: {"direction": "input", "bits": b} for n, b in ins.items()}
    ports |= {n: {"direction": "output", "bits": b} for n, b in outs.items()}
    net = _net(cells, ports, ins | outs)
    net["modules"]["top"]["cells"]["c"]["port_directions"]["O"] = "output"

    def reached_from(src: str) -> set[str]:
        drop = {n: p for n, p in ports.items() if p["direction"] == "output" or n == src}
        one = _net(copy.deepcopy(cells), drop, {src: ins[src]} | outs)
        one["modules"]["top"]["cells"]["c"]["port_directions"]["O"] = "output"
        for bits in ins.values():  # the other inputs become constants
            if bits != ins[src]:
                for pn, bs in one["modules"]["top"]["cells"]["c"]["connections"].items():
                    one["modules"]["top"]["cells"]["c"]["connections"][pn] = [
                        k if b == bits[0] else b for b in bs]
        return {p.end for p in analyse(one, "top") if p.start == src and p.levels == 1.0}

    assert reached_from("x") == {"co3", "o3"}
    assert reached_from("y") == set(outs)
    assert reached_from("z") == {"co1", "co2", "co3", "o2", "o3"}
    assert {p.end for p in analyse(net, "top")} == set(outs)


def test_level_cells_restate_arcs_in_levels():
    from rill.hw.synth import level_cells
    lib = """
(* abc9_lut=5 *)
module LUT6(output O, input I0, I1, I2, I3, I4, I5);
  specify
    (I0 => O) = 642;
    (I5 => O) = 127;
  endspecify
endmodule
(* abc9_box, lib_whitebox *)
module CARRY4(output [3:0] CO, output [3:0] O, input CI, input CYINIT, input [3:0] DI, S);
  specify
    (S[0]   => O[1]) = 400;
    (CI     => CO[3]) = 114;
  endspecify
endmodule
(* abc9_flop, lib_whitebox *)
module FDRE (output reg Q, input C, CE, D, R);
  specify
    $setup(D , posedge C &&& CE && !IS_C_INVERTED , /*-46*/ 0); // comment
    $setup(CE, posedge C &&& !IS_C_INVERTED, 109);
    if (!IS_C_INVERTED && R == IS_R_INVERTED && CE) (posedge C => (Q : D ^ IS_D_INVERTED)) = 303;
  endspecify
endmodule
(* abc9_lut=10 *)
module \\$__ABC9_LUT7 (output O, input I0, I1, I2, I3, I4, I5, I6);
  specify
    (I6 => O) = 0 + 296 /* to select F7BMUX */ + 174 /* CMUX */;
  endspecify
endmodule
"""
    out = level_cells.restate(lib)
    assert "(I0 => O) = 100;" in out and "(I5 => O) = 100;" in out
    assert "(S[0]   => O[1]) = 100;" in out and "(CI     => CO[3]) = 20;" in out
    assert "(posedge C => (Q : D ^ IS_D_INVERTED)) = 0;" in out
    assert "$setup(CE, posedge C &&& !IS_C_INVERTED, 0);" in out
    assert "(I6 => O) = 125;" in out
    assert not re.search(r"= *(642|127|400|114|303|109)\b", out)


def test_levels_reject_loops_and_unknown_cells():
    loop = {"a": ("LUT1", {"I0": [3], "O": [2]}, {}), "b": ("LUT1", {"I0": [2], "O": [3]}, {})}
    with pytest.raises(ValueError, match="loop"):
        analyse(_net(loop), "top")
    with pytest.raises(ValueError, match="no timing model for cell type XYZ"):
        analyse(_net({"z": ("XYZ", {"I": [1]}, {})}), "top")


# ---------------------------------------------------------------------------- the RTL
UNITS = {u.top: u for u in default_units(8)}

# The matrix and vector units are in c1b8 whole (their paths, and those where they meet the
# register file, the fetch and the streams); synthesising them alone again is for `rill synth`
# and the slow run, which keeps their rows of the docs' table true.
IN_CONFIG = {"rill_matrix_unit", "rill_vector_unit"}


def _check(name: str, res) -> None:
    over = res.over_budget()
    assert not over, (f"{name}: paths over the {BUDGET_LEVELS:g}-level budget: "
                      + "; ".join(f"{p.end} <- {p.start}: {p.levels:g} (via "
                                  + " > ".join(p.via) + ")" for p in over[:5]))
    # the docs' timing table shows what the flow measures
    row = re.search(rf"^\| `{name}` \| ([\d.]+) \|", DOCS.read_text(), re.M)
    assert row, f"docs/architecture.md has no timing row for `{name}`"
    assert float(row.group(1)) == pytest.approx(res.worst), (
        f"docs/architecture.md says {name} is {row.group(1)} levels deep; the flow measures "
        f"{res.worst:g} (update the table from `rill synth --markdown`)")


@pytest.mark.parametrize("top", [pytest.param(t, marks=pytest.mark.slow) if t in IN_CONFIG
                                 else t for t in sorted(UNITS)])
def test_unit_within_level_budget(top):
    _check(top, synth(UNITS[top]))


@pytest.mark.early
def test_config_within_level_budget():
    """The whole accelerator at c1b8: every path, including the register-file read, the fetch,
    the streams and the control, within the budget."""
    _check("c1b8", synth(config_unit("c1b8")))


def test_every_rtl_file_is_in_the_manifest():
    rtl = manifest.RTL_DIR
    listed = {f"{m}.sv" for m in manifest.MODULES} | {manifest.PKG}
    on_disk = {p.name for p in rtl.glob("*.sv")}
    assert on_disk == listed, f"not in the manifest: {sorted(on_disk - listed)}; listed but " \
                              f"missing: {sorted(listed - on_disk)}"
    for name in manifest.MODULES:
        text = (rtl / f"{name}.sv").read_text()
        used = set(re.findall(r"^\s*(rill_\w+)\s*(?:#\s*\(|\w+\s*\()", text, re.M)) - {name}
        assert used <= set(manifest.MODULES[name].deps), (
            f"{name} instantiates {sorted(used - set(manifest.MODULES[name].deps))} "
            "not declared in compiler/rill/hw/manifest.py")
