"""Run a rill Program on the RTL (Verilator + cocotb) and compare it with the VM, bit for bit.

    import rill.cosim
    res = rill.cosim.run(program, [x0, x1, x2])          # raises CosimMismatchError on mismatch
    res.outputs                 # list of float32 arrays, like vm.run(x)
    res.cycles_per_inference    # measured on the RTL, one per inference
    res.expected_cycles         # program.cycle_count_per_inference()

Flow: the accelerator (`rill_top`) is verilated once per Config (cached under build/, see
`rill.cosim.verilator`); the program image (instruction/weight/constant hex files for the
simulation backdoor), the input beats and the VM's expected output beats are written into a
fresh run directory; the simulator runs the cocotb bench `cosim/tb_accel.py` as a subprocess,
which writes `result.json` and `out_beats.npy` there; this module reads them back.

Choice (documented contract): with `check=True` (default) any difference from the VM raises
`CosimMismatchError`, whose message names the inference, beat, output element, expected vs
actual bits and the cycle; so does a cycle count that differs from the program's (measured on
inferences whose input was back to back and whose output was not backpressured), a protocol
error (status bits, lost/duplicated beats, unstable output data) or a simulation timeout.
With `check=False` the same findings are returned in `CosimResult.mismatches` / `.errors`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..compile.program import Program
from ..hw import isa
from ..hw.config import Config
from ..hw.sources import package_dir
from . import verilator as vl

TOPLEVEL = "rill_top"
TB_MODULE = "tb_accel"
# simulator plusarg for benches that provoke status errors on purpose: switches off the RTL
# assertions of the program contract (rill_out_stream: one OUT per cycle, no FIFO overflow)
EXPECT_ERRORS = "+rill_expect_errors"


class CosimMismatchError(AssertionError):
    """The RTL disagreed with the VM (bits or cycles) or broke the stream protocol."""


@dataclasses.dataclass
class CosimResult:
    outputs: list[np.ndarray]  # float32 model outputs per inference, like vm.run(x)
    cycles_per_inference: list[int]  # measured on the RTL (see module docstring)
    expected_cycles: int  # program.cycle_count_per_inference()
    beats: list[np.ndarray]  # raw output beats per inference, [n_out, B] uint16
    expected_beats: list[np.ndarray]  # the VM's
    waves: Path | None
    mismatches: list[dict]  # {inference, beat, element, expected, actual, cycle}
    errors: list[str]  # protocol / status / timing findings
    clean: list[bool]  # inferences whose cycle count is exact (no gaps, no backpressure)
    sim_cycles: int
    sim_seconds: float
    build_seconds: float
    run_dir: Path

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.errors


# ---------------------------------------------------------------------------------------------
# build


def rtl_sources() -> list[Path]:
    """Every RTL file of the accelerator: the package first, then the modules."""
    rtl = vl.RTL_DIR
    files = sorted(p for p in rtl.glob("rill_*.sv") if p.name != "rill_pkg.sv")
    return [rtl / "rill_pkg.sv", *files]



def build_accel(config: Config, waves: bool = False) -> vl.Build:
    """Verilate rill_top for `config` (cached per config, sources and options)."""
    return vl.build(TOPLEVEL, rtl_sources(), config.rtl_parameters(), waves=waves)


# ---------------------------------------------------------------------------------------------
# program image


def _hex_rows(words: np.ndarray, dtype: str) -> str:
    """[n, k] unsigned words -> one hex line per row, element j in bits [j*w +: w]."""
    words = np.ascontiguousarray(words, dtype=dtype)
    return "".join(row.tobytes()[::-1].hex() + "\n" for row in words)


def bundle_ints(program: Program, core: int) -> list[int]:
    return [int.from_bytes(bytes(r), "little") for r in program.bundles[core]]


def write_image(
    run_dir: Path,
    program: Program,
    in_beats: Sequence[np.ndarray],
    expected_beats: Sequence[np.ndarray],
    resets: Sequence[int] = (),
    options: dict | None = None,
) -> Path:
    """Write everything the bench needs into run_dir (image.json, hex files, npy)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    c = program.config
    nbits = isa.bundle_bits(c)
    ndig = (nbits + 3) // 4
    files = {}
    for core in range(c.num_cores):
        f = run_dir / f"imem_c{core}.hex"
        f.write_text("".join(f"{v:0{ndig}x}\n" for v in bundle_ints(program, core)))
        files[f"rill_imem{core}"] = f.name
        w = np.asarray(program.weights[core], np.uint16)
        if w.shape[0]:
            f = run_dir / f"wmem_c{core}.hex"
            f.write_text(_hex_rows(w.reshape(-1, c.block_size), "<u2"))
            files[f"rill_wmem{core}"] = f.name
    consts = np.asarray(program.consts, np.uint32).reshape(-1, c.block_size)
    if consts.shape[0]:
        f = run_dir / "const.hex"
        f.write_text(_hex_rows(consts, "<u4"))
        files["rill_const"] = f.name
    program.save(run_dir / "program.rill")
    B = c.block_size
    ins = np.asarray(in_beats, np.uint16).reshape(len(in_beats), program.n_in, B)
    exp = np.asarray(expected_beats, np.uint16).reshape(len(in_beats), program.n_out, B)
    np.save(run_dir / "in_beats.npy", ins)
    np.save(run_dir / "expected_beats.npy", exp)
    meta = {
        "config": c.to_dict(),
        "length": program.length,
        "n_in": program.n_in,
        "n_out": program.n_out,
        "bundle_bits": nbits,
        "expected_cycles": program.cycle_count_per_inference(),
        "n_inferences": len(in_beats),
        "resets": sorted({0, *resets}),
        "backdoor": files,
        "options": dict(options or {}),
    }
    (run_dir / "image.json").write_text(json.dumps(meta, indent=1) + "\n")
    return run_dir


def vm_expected(program: Program, in_beats: Sequence[np.ndarray],
                resets: Sequence[int] = ()) -> list[np.ndarray]:
    """The VM's output beats, with vm.reset() before inference 0 and every index in resets."""
    vm = program.to_vm()
    out = []
    for k, beats in enumerate(in_beats):
        if k == 0 or k in resets:
            vm.reset()
        out.append(vm.run_beats(np.asarray(beats, np.uint16)))
    return out


# ---------------------------------------------------------------------------------------------
# simulation


def _run_dir(b: vl.Build, name: str) -> Path:
    base = b.build_dir / "runs"
    base.mkdir(parents=True, exist_ok=True)
    stamp = f"{name}-{os.getpid()}-{time.monotonic_ns()}"
    return base / stamp


def simulate(b: vl.Build, run_dir: Path, testcase: str | None = "run_program",
             plusargs: Sequence[str] = (), seed: int | None = None,
             test_filter: str | None = None) -> dict:
    """Run cocotb test(s) of cosim/tb_accel.py on build b (a testcase name, or test_filter, a
    regex over test names, e.g. for parametrized tests); returns result.json (or {}). Raises
    CosimMismatchError with the simulator's error lines when the simulation stops early (a
    firing RTL assertion)."""
    from cocotb_tools.runner import get_runner

    meta = json.loads((run_dir / "image.json").read_text()) if (run_dir / "image.json").exists() \
        else {}
    args = list(plusargs)
    if meta.get("options", {}).get("load", "backdoor") == "backdoor":
        args += [f"+{k}={run_dir / v}" for k, v in meta.get("backdoor", {}).items()]
    if str(vl.TB_DIR) not in sys.path:
        sys.path.insert(0, str(vl.TB_DIR))
    compiler_dir = str(package_dir("rill", ".").parent)  # the directory holding the rill package
    if compiler_dir not in sys.path:  # rill itself must be importable inside the simulator
        sys.path.insert(0, compiler_dir)
    env = {"RILL_RUN_DIR": str(run_dir), "RILL_PARAMS": json.dumps(b.parameters)}
    runner = get_runner("verilator")
    (run_dir / "result.json").unlink(missing_ok=True)
    try:
        runner.test(
            test_module=TB_MODULE,
            hdl_toplevel=b.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=b.build_dir,
            test_dir=run_dir,
            testcase=None if test_filter else testcase,
            test_filter=test_filter,
            extra_env=env,
            waves=b.waves,
            seed=seed,
            plusargs=args,
            log_file=run_dir / "sim.log",
            results_xml=str(run_dir / "results.xml"),
        )
    except SystemExit:  # the runner exits on a failed cocotb test when run under pytest
        pass
    except RuntimeError as e:  # the simulator stopped: an RTL assertion ($error), or a crash
        log = run_dir / "sim.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        found = [ln.strip() for ln in lines if "%Error" in ln or "ASSERT FAILED" in ln]
        raise CosimMismatchError(f"simulation stopped ({log}):\n" +
                                 "\n".join(found[:10] or lines[-20:])) from e
    res = run_dir / "result.json"
    return json.loads(res.read_text()) if res.exists() else {}


def _format_mismatches(mm: list[dict], limit: int = 8) -> str:
    lines = [
        f"  inference {m['inference']} beat {m['beat']} element {m['element']}: expected "
        f"0x{m['expected']:04x} actual 0x{m['actual']:04x} (cycle {m['cycle']})"
        for m in mm[:limit]
    ]
    if len(mm) > limit:
        lines.append(f"  ... and {len(mm) - limit} more")
    return "\n".join(lines)


def run(
    program: Program,
    inputs: Sequence[np.ndarray],
    waves: bool = False,
    *,
    resets: Sequence[int] = (),
    check: bool = True,
    load: str = "backdoor",
    gaps: float = 0.0,
    backpressure: float = 0.0,
    clean_every: int = 1,
    seed: int = 1,
    beats: bool = False,
    name: str | None = None,
) -> CosimResult:
    """Run `inputs` (one model input per inference, as for vm.run) through the RTL.

    resets: inference indices before which the accelerator is cleared (clear_i) and the VM
    reset (state of streaming programs); inference 0 always starts from a clear.
    load: "backdoor" ($readmemh preload) or "port" (every word through the load port).
    gaps / backpressure: probability of an idle input cycle / a not-ready output cycle;
    clean_every: every n-th inference is driven back to back with no backpressure and its
    cycle count is checked exactly (1: all of them, which disables gaps and backpressure).
    beats=True: `inputs` are raw input beats ([n_in, B] uint16) instead of model inputs.
    Raises CosimMismatchError on any difference when check is True (see module docstring).
    """
    if load not in ("backdoor", "port"):
        raise ValueError(f"load={load!r}: 'backdoor' or 'port'")
    in_beats = [np.asarray(x, np.uint16) if beats else program.input_beats(np.asarray(x))
                for x in inputs]
    if not in_beats:
        raise ValueError("run() needs at least one inference")
    expected = vm_expected(program, in_beats, resets)
    t0 = time.monotonic()
    b = build_accel(program.config, waves=waves)
    build_s = time.monotonic() - t0
    run_dir = _run_dir(b, name or program.name)
    opts = {"load": load, "gaps": gaps, "backpressure": backpressure,
            "clean_every": clean_every, "seed": seed}
    write_image(run_dir, program, in_beats, expected, resets, opts)
    t1 = time.monotonic()
    res = simulate(b, run_dir, seed=seed)
    sim_s = time.monotonic() - t1
    if not res:
        log = run_dir / "sim.log"
        tail = log.read_text()[-3000:] if log.exists() else "(no log)"
        raise CosimMismatchError(f"simulation produced no result (see {run_dir}):\n{tail}")
    out_beats = np.load(run_dir / "out_beats.npy")
    got = [out_beats[k] for k in range(len(in_beats))]
    wave_file = None
    if waves:
        found = sorted(run_dir.glob("*.fst")) + sorted(run_dir.glob("*.vcd"))
        wave_file = found[0] if found else None
    result = CosimResult(
        outputs=[program.output_from_beats(g) for g in got],
        cycles_per_inference=[int(c) for c in res["cycles"]],
        expected_cycles=program.cycle_count_per_inference(),
        beats=got,
        expected_beats=expected,
        waves=wave_file,
        mismatches=res["mismatches"],
        errors=res["errors"],
        clean=res["clean"],
        sim_cycles=int(res["sim_cycles"]),
        sim_seconds=sim_s,
        build_seconds=build_s,
        run_dir=run_dir,
    )
    if check and not result.ok:
        msg = [f"RTL vs VM: {program.name} on {program.config} ({run_dir})"]
        if result.mismatches:
            msg.append(f"{len(result.mismatches)} element mismatches:")
            msg.append(_format_mismatches(result.mismatches))
        msg += [f"  {e}" for e in result.errors[:10]]
        raise CosimMismatchError("\n".join(msg))
    if not waves and check and os.environ.get("RILL_KEEP_RUNS", "0") != "1":
        shutil.rmtree(run_dir, ignore_errors=True)
        result.run_dir = run_dir
    return result
