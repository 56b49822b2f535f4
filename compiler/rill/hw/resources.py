"""Resources and Fmax of a Config, predicted from synthesised units (`rill synth`).

The accelerator is cores x (matrix unit + vector unit + memories) plus glue (register-file
read and write paths, fetch, streams, controller). The model takes each part from what the
synthesis flow measured (compiler/rill/hw/synth: Yosys onto Xilinx 7-series cells, LUT6 /
FF / CARRY4 / DSP48E1 / RAMB18-36E1 / LUTRAM):

- the dot row (B multipliers, the alignment, the exact sum, the normaliser) and the vector
  unit (B fp32 lanes with their activation and function units) synthesised at the sizes of
  UNIT_SIZES, interpolated in log B / log cells and extrapolated from the last two sizes; the
  matrix unit is B dot rows and B fp32 accumulating adders (`rill_fp32_add`);
- memories counted from the config (weights, register-file banks, instructions, the output
  FIFO) and mapped to block RAM or LUT RAM the way Yosys's memory mapping does;
- the glue fitted per resource as `a·cores·B·banks + b·cores·B + c` on whole configs
  synthesised here (CALIBRATION_CONFIGS), so that those are matched exactly.

`holdout()` compares the model with a whole config it was not fitted on (HOLDOUT_CONFIG);
docs/codesign.md gives the figures. Fmax is the post-route ECP5 Fmax of the slowest unit
(`rill synth --fmax`; whole configs were not placed and routed), and `class_mhz` the clock
the level count stands for on Agilex / UltraScale+-class parts (docs/architecture.md).

The figures below are committed (a sweep's workers need no synthesis tools); `measured()` and
`fit()` re-derive them from the synthesis cache (build/synth/, keyed by source hash) or by
synthesising what is missing: `python -m rill.hw.resources --calibrate [--synth]` prints them
and the holdout's errors.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys

from . import isa
from .config import Config

KINDS = ("LUT", "FF", "CARRY4", "DSP", "BRAM", "LUTRAM")
CHECKED = ("LUT", "FF", "DSP", "BRAM")  # the 15% criterion

# whole configs the glue is fitted on, and the one it is checked on (not fitted)
CALIBRATION_CONFIGS: tuple[Config, ...] = (
    Config(1, 4, weight_depth=256, rf_depth=64, instr_depth=1024),
    Config.c1b8(),
    Config(2, 4, weight_depth=512, rf_depth=128, instr_depth=2048),
)
HOLDOUT_CONFIG = Config(2, 8, weight_depth=512, rf_depth=128, instr_depth=1024)
UNIT_SIZES = {"rill_dot_row": (4, 8, 16, 32), "rill_vector_unit": (4, 8, 16)}

# ---- committed calibration (python -m rill.hw.resources --calibrate prints this) -----------
CALIBRATION: dict = {
    # fitted 2026-11-26 by build/codesign: rill synth flow v6 (Yosys 0.23 xc7),
    # RTL with the vector unit's function unit (rill_fn) in it
    "units": {
        "rill_dot_row": {
            "4": {"LUT": 1577, "FF": 620, "CARRY4": 105, "DSP": 4, "BRAM": 0, "LUTRAM": 0},
            "8": {"LUT": 2577, "FF": 1293, "CARRY4": 149, "DSP": 8, "BRAM": 0, "LUTRAM": 0},
            "16": {"LUT": 5547, "FF": 2011, "CARRY4": 360, "DSP": 16, "BRAM": 0, "LUTRAM": 0},
            "32": {"LUT": 9762, "FF": 5336, "CARRY4": 484, "DSP": 32, "BRAM": 0, "LUTRAM": 0},
        },
        "rill_vector_unit": {
            "4": {"LUT": 7813, "FF": 4708, "CARRY4": 591, "DSP": 16, "BRAM": 32, "LUTRAM": 0},
            "8": {"LUT": 15677, "FF": 9382, "CARRY4": 1183, "DSP": 32, "BRAM": 64, "LUTRAM": 0},
            "16": {"LUT": 31476, "FF": 18728, "CARRY4": 2367, "DSP": 64, "BRAM": 128, "LUTRAM": 0},
        },
        "rill_fp32_add": {"LUT": 651, "FF": 298, "CARRY4": 56, "DSP": 0, "BRAM": 0, "LUTRAM": 0},
    },
    "levels": {
        "rill_dot_row": {"4": 7.0, "8": 5.0, "16": 6.0, "32": 5.2},
        "rill_vector_unit": {"4": 5.4, "8": 5.65, "16": 5.65},
    },
    "lutram_max_depth": 128,
    # glue = a * cores * B * banks + b * cores * B + c, per kind
    "glue": {
        "LUT": [121.562, 217, 205],
        "FF": [7.8125, 203, 276],
        "CARRY4": [0.0, 8, 43],
        "DSP": [0.0, 0.0, 0.0],
        "BRAM": [0.0, 0.0, 0.0],
        "LUTRAM": [0.0, 0.0, 0.0],
    },
    "fitted_on": [
        "cfg_c1b4_w256_r64_i1024_o64",
        "cfg_c1b8_w256_r64_i2048_o64",
        "cfg_c2b4_w512_r128_i2048_o64",
    ],
    # whole configs as synthesised (the holdout is the one not in fitted_on)
    "measured": {
        "cfg_c1b4_w256_r64_i1024_o64": {
            "LUT": 19743, "FF": 9593, "CARRY4": 1310, "DSP": 32,
            "BRAM": 38, "LUTRAM": 710, "levels": 7.0},
        "cfg_c1b8_w256_r64_i2048_o64": {
            "LUT": 47332, "FF": 24260, "CARRY4": 2930, "DSP": 96,
            "BRAM": 87, "LUTRAM": 1419, "levels": 6.15},
        "cfg_c2b4_w512_r128_i2048_o64": {
            "LUT": 47370, "FF": 19035, "CARRY4": 2577, "DSP": 64,
            "BRAM": 80, "LUTRAM": 4150, "levels": 7.0},
        "cfg_c2b8_w512_r128_i1024_o64": {
            "LUT": 107282, "FF": 48314, "CARRY4": 5817, "DSP": 192,
            "BRAM": 164, "LUTRAM": 8299, "levels": 6.75},
    },
}

# ECP5 post-route Fmax per unit (LFE5UM-85F speed 6, `rill synth --fmax`, B = 8 for the dot
# row): docs/architecture.md, "Timing budget". The slowest sets the config's.
FMAX_ECP5_MHZ = {"rill_fp32_add": 137.9, "rill_fp32_mul": 86.3, "rill_act": 133.7,
                 "rill_dot_row": 122.0}
BUDGET_LEVELS = 6.0  # register-to-register levels, checked by rill synth on every unit


def class_mhz(levels: float = BUDGET_LEVELS) -> float:
    """The clock `levels` LUT levels stand for on Agilex/UltraScale+-class parts: ~0.5 ns a
    level plus ~0.3 ns clock-to-out and set-up (docs/architecture.md)."""
    return 1000.0 / (0.5 * levels + 0.3)


@dataclasses.dataclass
class Memory:
    name: str
    depth: int
    width: int
    copies: int  # instances (per core x per row x per read port)

    @property
    def bits(self) -> int:
        return self.depth * self.width * self.copies


def memories(c: Config) -> list[Memory]:
    """Every RAM of rill_top at `c` (ROMs of the activation and function units are in the
    vector unit's figures)."""
    banks = c.num_banks
    n = c.num_cores
    return [
        Memory("weights", c.weight_depth, c.block_size * 16, n * c.block_size),
        # each core reads every bank on 4 ports: one copy per read port
        Memory("register file", c.rf_depth, c.block_size * 32, n * banks * 4),
        Memory("instructions", c.instr_depth, isa.bundle_bits(c), n),
        Memory("output FIFO", c.out_fifo_depth, c.block_size * 16 + 1, 1),
    ]


# Xilinx block RAM simple-dual-port shapes (depth, width): RAMB36E1 and RAMB18E1 (half one)
_RAMB36 = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
_RAMB18 = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
KIB18, KIB36 = 18 * 1024, 36 * 1024


def bram_cells(depth: int, width: int) -> tuple[int, int]:
    """(RAMB36 cells, RAMB18 cells) for one depth x width RAM with one read port, as Yosys maps
    it: the least area (a RAMB18 is half a RAMB36), fewer cells on a tie."""
    best = None
    for shapes, area, kind in ((_RAMB36, 1.0, 0), (_RAMB18, 0.5, 1)):
        for d, w in shapes:
            n = math.ceil(width / w) * math.ceil(depth / d)
            key = (n * area, n)
            if best is None or key < best[0]:
                best = (key, (n, 0) if kind == 0 else (0, n))
    return best[1]


def is_lutram(m: Memory) -> bool:
    """Yosys maps shallow memories to LUT RAM: measured up to 128 words (the register file of
    c2b4 and c2b8: RAM64M pairs); deeper ones are taken to be block RAM (not measured)."""
    return m.depth <= CALIBRATION.get("lutram_max_depth", 128)


@dataclasses.dataclass
class Resources:
    config: Config
    cells: dict[str, float]  # KINDS, Xilinx 7-series cells as `rill synth` counts them
    bram_bits: int  # block-RAM capacity used (RAMB36 = 36 Kib, RAMB18 = 18 Kib)
    fmax_mhz: float  # ECP5 post-route, slowest unit
    class_mhz: float  # the level budget's clock on Agilex/UltraScale+-class parts
    parts: dict[str, dict[str, float]]  # the breakdown the total is the sum of

    def to_row(self) -> dict:
        return {"lut": round(self.cells["LUT"]), "ff": round(self.cells["FF"]),
                "dsp": round(self.cells["DSP"]), "bram": round(self.cells["BRAM"]),
                "bram_kbits": round(self.bram_bits / 1024), "lutram": round(self.cells["LUTRAM"]),
                "carry4": round(self.cells["CARRY4"]), "fmax_mhz": round(self.fmax_mhz, 1),
                "class_mhz": round(self.class_mhz)}


def _interp(table: dict, b: int) -> dict[str, float]:
    """Cells at block size b from {B: cells}: log-log through the measured sizes, the last
    segment's power law beyond them (a constant for a kind that is 0 at either end)."""
    sizes = sorted(int(k) for k in table)
    if b in sizes:
        return {k: float(v) for k, v in table[str(b)].items()}
    if len(sizes) == 1:  # one size measured: linear in B
        return {k: float(v) * b / sizes[0] for k, v in table[str(sizes[0])].items()}
    lo, hi = (sizes[0], sizes[1]) if b < sizes[0] else (sizes[-2], sizes[-1])
    for s0, s1 in itertools.pairwise(sizes):
        if s0 < b < s1:
            lo, hi = s0, s1
    out = {}
    for k in KINDS:
        y0, y1 = float(table[str(lo)][k]), float(table[str(hi)][k])
        if y0 <= 0 or y1 <= 0:
            out[k] = y1 if b > hi else y0 + (y1 - y0) * (b - lo) / (hi - lo)
        else:
            p = math.log(y1 / y0) / math.log(hi / lo)
            out[k] = y0 * (b / lo) ** p
    return out


def _glue_features(c: Config) -> tuple[float, float, float]:
    return (c.num_cores * c.block_size * c.num_banks, c.num_cores * c.block_size, 1.0)


def parts(c: Config, cal: dict | None = None) -> dict[str, dict[str, float]]:
    """Per-part cells: units, memories, glue (glue only once the calibration has it)."""
    cal = cal or CALIBRATION
    n, b = c.num_cores, c.block_size
    zero = dict.fromkeys(KINDS, 0.0)
    dot = _interp(cal["units"]["rill_dot_row"], b)
    vec = _interp(cal["units"]["rill_vector_unit"], b)
    add = cal["units"]["rill_fp32_add"]
    out = {
        "matrix units": {k: n * b * (dot[k] + add[k]) for k in KINDS},
        "vector units": {k: n * vec[k] for k in KINDS},
    }
    mem = {**zero, "bram_bits": 0.0}
    for m in memories(c):
        if is_lutram(m):
            # RAM64M: four 64 x 1 RAMs on one write address; Yosys packs three read bits into
            # each (the register file's 4 read ports: 4/3 RAM64M per bit and bank)
            k = math.ceil(m.depth / 64)
            mem["LUTRAM"] += m.copies * math.ceil(m.width / 3) * k
            # deeper than 64: k RAM64Ms per bit, and a k:1 select of their outputs in LUTs
            mem["LUT"] += m.copies * m.width * (k // 2)
        else:
            b36, b18 = bram_cells(m.depth, m.width)
            mem["BRAM"] += m.copies * (b36 + b18)
            mem["bram_bits"] += m.copies * (b36 * KIB36 + b18 * KIB18)
    out["memories"] = mem
    if "glue" in cal:
        f = _glue_features(c)
        out["glue"] = {k: sum(a * x for a, x in zip(cal["glue"][k], f, strict=True)) for k in KINDS}
    return out


def worst_levels(c: Config, cal: dict | None = None) -> float:
    """The deepest register-to-register path, in levels, that synthesis measured on the units
    at this block size (the largest measured size at or below it; whole configs add the
    register-file read, held to the same budget)."""
    cal = cal or CALIBRATION
    worst = 0.0
    for table in cal.get("levels", {}).values():
        sizes = [int(b) for b in table if int(b) <= c.block_size] or [min(map(int, table))]
        worst = max(worst, table[str(max(sizes))])
    return worst or BUDGET_LEVELS


def fmax_mhz(c: Config) -> float:
    """ECP5 post-route Fmax: the slowest unit's (the units' stages are balanced to the same
    level budget at every B, so this does not move with B; routing a whole config derates it,
    unmeasured: whole configs do not fit an ECP5-85F)."""
    return min(FMAX_ECP5_MHZ.values())


def estimate(c: Config, cal: dict | None = None) -> Resources:
    """Resources and Fmax of config `c` from the model."""
    ps = parts(c, cal)
    total = {k: max(0.0, sum(p[k] for p in ps.values())) for k in KINDS}
    # block RAM capacity used: the RAMs' blocks, and the vector units' ROMs (RAMB18s)
    bits = ps["memories"].pop("bram_bits") + ps["vector units"]["BRAM"] * KIB18
    return Resources(config=c, cells=total, bram_bits=int(bits), fmax_mhz=fmax_mhz(c),
                     class_mhz=class_mhz(max(BUDGET_LEVELS, worst_levels(c, cal))), parts=ps)


# ---- calibration from the synthesis flow -----------------------------------------------------
def config_unit(c: Config):
    """rill_top at any Config, as a synthesis unit (rill synth's own covers the presets)."""
    from . import manifest
    from .synth.flow import Unit

    name = (f"cfg_c{c.num_cores}b{c.block_size}_w{c.weight_depth}_r{c.rf_depth}"
            f"_i{c.instr_depth}_o{c.out_fifo_depth}")
    return Unit(name=name, top="rill_top", sources=tuple(manifest.names("rill_top")),
                params=tuple(c.rtl_parameters().items()))


def config_of(name: str) -> Config:
    """The Config of a `config_unit` name (cfg_c2b8_w512_r128_i1024_o64)."""
    f = {p[0]: int(p[1:]) for p in name.split("_")[2:]}
    n, b = name.split("_")[1][1:].split("b")
    return Config(int(n), int(b), weight_depth=f["w"], rf_depth=f["r"], instr_depth=f["i"],
                  out_fifo_depth=f["o"])


def _synth(unit, run: bool, stale: bool = True):
    """The cached synthesis result of `unit` for the current sources and flow; with `stale`,
    else the newest cached result of the same unit and parameters (an older source or flow
    revision: the calibration says what it was fitted on); else synthesise it if `run`."""
    from .synth import flow

    key = flow._key(unit, False)
    res = flow.cache_dir() / f"{unit.name}-{key}" / "result.json"
    if res.exists():
        return flow.Result.from_json(json.loads(res.read_text()))
    if run:
        return flow.synth(unit)
    if stale:
        found = sorted(flow.cache_dir().glob(f"{unit.name}-*/result.json"),
                       key=lambda p: p.stat().st_mtime)
        for p in reversed(found):
            r = flow.Result.from_json(json.loads(p.read_text()))
            if r.params == dict(unit.params):
                return r
    return None


def measured(run: bool = False) -> dict:
    """The synthesis results the model uses: units at UNIT_SIZES, fp32_add, the calibration
    configs and the holdout (None where missing and not `run`)."""
    from .synth import units

    out: dict = {"units": {}, "configs": {}}
    for name in ("rill_dot_row", "rill_vector_unit"):
        out["units"][name] = {b: _synth(units.unit(name, b), run) for b in UNIT_SIZES[name]}
    out["units"]["rill_fp32_add"] = _synth(units.unit("rill_fp32_add"), run)
    out["units"]["rill_matrix_unit"] = {8: _synth(units.unit("rill_matrix_unit", 8), False)}
    for c in (*CALIBRATION_CONFIGS, HOLDOUT_CONFIG):
        out["configs"][config_unit(c).name] = _synth(config_unit(c), run)
    return out


def _cells(r) -> dict[str, int]:
    return {k: int(r.cells.get(k, 0)) for k in KINDS}


def fit(meas: dict) -> dict:
    """The calibration from measured results: unit tables, then the glue solved on the
    calibration configs (least squares; exact for three)."""
    import numpy as np

    cal: dict = {"units": {}, "lutram_max_depth": 128}
    for name in ("rill_dot_row", "rill_vector_unit"):
        cal["units"][name] = {str(b): _cells(r) for b, r in meas["units"][name].items() if r}
    add = meas["units"]["rill_fp32_add"]  # (not yet synthesised: the committed figure)
    cal["units"]["rill_fp32_add"] = (_cells(add) if add else
                                     dict(CALIBRATION["units"]["rill_fp32_add"]))
    cal["levels"] = {name: {str(b): r.worst for b, r in meas["units"][name].items() if r}
                     for name in ("rill_dot_row", "rill_vector_unit")}
    rows, ys = [], {k: [] for k in KINDS}
    for c in CALIBRATION_CONFIGS:
        r = meas["configs"].get(config_unit(c).name)
        if r is None:
            continue
        ps = parts(c, cal)
        rows.append(_glue_features(c))
        for k in KINDS:
            ys[k].append(r.cells.get(k, 0) - sum(p[k] for p in ps.values()))
    cal["fitted_on"] = [config_unit(c).name for c in CALIBRATION_CONFIGS
                        if meas["configs"].get(config_unit(c).name)]
    cal["measured"] = {name: {**_cells(r), "levels": r.worst}
                       for name, r in meas["configs"].items() if r}
    a = np.array(rows, dtype=float)
    cal["glue"] = {k: [float(x) for x in np.linalg.lstsq(a, np.array(ys[k]), rcond=None)[0]]
                   for k in KINDS}
    return cal


def holdout(cal: dict | None = None, meas: dict | None = None) -> dict[str, dict[str, float]]:
    """Model vs synthesis on HOLDOUT_CONFIG: {kind: {"model", "synth", "error"}} (error as
    a signed fraction of the synthesised figure); {} when the holdout is not synthesised."""
    meas = meas if meas is not None else measured()
    r = meas["configs"].get(config_unit(HOLDOUT_CONFIG).name)
    if r is None:
        return {}
    est = estimate(HOLDOUT_CONFIG, cal)
    out = {}
    for k in KINDS:
        s = r.cells.get(k, 0)
        out[k] = {"model": round(est.cells[k]), "synth": s,
                  "error": (est.cells[k] - s) / s if s else 0.0}
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m rill.hw.resources", description=__doc__
                                 .splitlines()[0])
    ap.add_argument("configs", nargs="*", help="preset names to estimate")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit from the synthesis cache and print the calibration (JSON)")
    ap.add_argument("--synth", action="store_true", help="with --calibrate: synthesise what "
                    "is not cached (minutes per config)")
    ns = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if ns.calibrate:
        meas = measured(run=ns.synth)
        cal = fit(meas)
        print(json.dumps(cal, indent=1))
        for k, v in holdout(cal, meas).items():
            print(f"holdout {k}: model {v['model']} synth {v['synth']} "
                  f"error {v['error']:+.1%}", file=sys.stderr)
        return 0
    for name in ns.configs:
        e = estimate(Config.preset(name))
        print(name, json.dumps(e.to_row()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
