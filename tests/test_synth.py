"""Timing kept true: every arithmetic unit synthesised at B=8 stays within the level budget,
and docs/architecture.md carries the levels the flow measures. Plus the level counter itself
on hand-built netlists, so a change to its weights or graph walk cannot pass unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rill.hw import manifest
from rill.hw.synth import BUDGET_LEVELS, default_units, synth
from rill.hw.synth.levels import analyse

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


def test_levels_reject_loops_and_unknown_cells():
    loop = {"a": ("LUT1", {"I0": [3], "O": [2]}, {}), "b": ("LUT1", {"I0": [2], "O": [3]}, {})}
    with pytest.raises(ValueError, match="loop"):
        analyse(_net(loop), "top")
    with pytest.raises(ValueError, match="no timing model for cell type XYZ"):
        analyse(_net({"z": ("XYZ", {"I": [1]}, {})}), "top")


# ---------------------------------------------------------------------------- the RTL
UNITS = {u.top: u for u in default_units(8)}

# Paths known to be over the budget, each documented in docs/architecture.md ("Not yet within
# the budget") with its fix: (unit, end-register pattern, start, at most this many levels).
# Anything else over the budget fails, and so does a listed path that got deeper.
KNOWN_OVER = [
    ("rill_matrix_unit", r"gen_lane\[\d+\]\.u_acc\.a1_q", "acc_en_i", 6.65),
]


def _known(top: str, p) -> bool:
    return any(t == top and re.fullmatch(end, p.end) and p.start == start and p.levels <= lv
               for t, end, start, lv in KNOWN_OVER)


@pytest.mark.parametrize("top", sorted(UNITS))
def test_unit_within_level_budget(top):
    res = synth(UNITS[top])
    over = [p for p in res.over_budget() if not _known(top, p)]
    assert not over, (f"{top}: paths over the {BUDGET_LEVELS:g}-level budget: "
                      + "; ".join(f"{p.end} <- {p.start}: {p.levels:g}" for p in over))
    # the docs' timing table shows what the flow measures
    row = re.search(rf"^\| `{top}` \| ([\d.]+) \|", DOCS.read_text(), re.M)
    assert row, f"docs/architecture.md has no timing row for `{top}`"
    assert float(row.group(1)) == pytest.approx(res.worst), (
        f"docs/architecture.md says {top} is {row.group(1)} levels deep; the flow measures "
        f"{res.worst:g} (update the table from `rill synth --markdown`)")


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
