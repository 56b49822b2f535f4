"""The RTL file manifest: every module in `rtl/`, the modules it instantiates, its parameters.

Lint, the unit benches, the accelerator build and synthesis all take their file lists from
here (`files(top)`), so a new module is declared once. A test checks that every `rtl/*.sv` is
listed and that every instantiation in the sources is declared.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .sources import RTL_DIR

PKG = "rill_pkg.sv"
INCLUDES = ("rill_act_table.svh", "rill_fn_table.svh", "rill_assert.svh")


@dataclasses.dataclass(frozen=True)
class Module:
    deps: tuple[str, ...] = ()  # modules it instantiates
    block_param: bool = False  # has a parameter B (the block size)
    unit: bool = False  # an arithmetic unit: synthesised and level-checked in CI at B=8


MODULES: dict[str, Module] = {
    "rill_lzc": Module(),
    "rill_delay": Module(),
    "rill_fp32_round": Module(),
    "rill_bf16_round": Module(),
    "rill_fp32_add": Module(("rill_lzc", "rill_fp32_round"), unit=True),
    "rill_fp32_mul": Module(("rill_fp32_round",), unit=True),
    "rill_act": Module(("rill_lzc",), unit=True),
    "rill_fn": Module(("rill_lzc", "rill_fp32_round"), unit=True),
    "rill_dot_row": Module(("rill_lzc", "rill_fp32_round", "rill_delay"), True, unit=True),
    "rill_mac_row": Module(("rill_dot_row", "rill_fp32_add"), True),
    "rill_vector_lane": Module(("rill_fp32_add", "rill_fp32_mul", "rill_act", "rill_fn")),
    "rill_matrix_unit": Module(("rill_mac_row", "rill_bf16_round", "rill_delay"), True,
                               unit=True),
    "rill_vector_unit": Module(("rill_vector_lane", "rill_bf16_round", "rill_delay"), True,
                               unit=True),
    "rill_rf_bank": Module(),
    "rill_regfile": Module(("rill_rf_bank",)),
    "rill_wmem": Module(block_param=True),
    "rill_imem": Module(),
    "rill_fifo": Module(),
    "rill_core": Module(("rill_matrix_unit", "rill_vector_unit", "rill_regfile", "rill_wmem",
                         "rill_imem", "rill_delay"), True),
    "rill_ctrl": Module(),
    "rill_in_stream": Module(block_param=True),
    "rill_out_stream": Module(("rill_fifo",), True),
    "rill_rf_wbus": Module(block_param=True),
    "rill_top": Module(("rill_ctrl", "rill_in_stream", "rill_rf_wbus", "rill_core",
                        "rill_out_stream"), True),
}


def closure(top: str) -> list[str]:
    """`top` and every module under it, leaves first."""
    out: list[str] = []

    def visit(m: str) -> None:
        if m in out:
            return
        for d in MODULES[m].deps:
            visit(d)
        out.append(m)

    visit(top)
    return out


def files(top: str, rtl: Path = RTL_DIR) -> list[Path]:
    """The package, then the sources of `top` and its submodules that exist in `rtl`."""
    mods = [rtl / f"{m}.sv" for m in closure(top)]
    return [rtl / PKG, *[p for p in mods if p.exists()]]


def names(top: str, rtl: Path = RTL_DIR) -> list[str]:
    return [p.name for p in files(top, rtl)]
