"""Run a rill Program on the RTL (Verilator + cocotb) and compare it with the VM, bit for bit.

    import rill.cosim
    res = rill.cosim.run(program, [x0, x1, x2])          # raises CosimMismatchError on mismatch
    res.outputs                 # list of float32 arrays, like vm.run(x)
    res.cycles_per_inference    # measured on the RTL, one per inference
    res.expected_cycles         # program.cycle_count_per_inference()

Flow: the accelerator (`rill_top` and the files `rill.hw.manifest` lists for it) is verilated
once per Config (cached under build/, see `rill.cosim.verilator`); `make_image` runs the VM and
returns a `RunImage` (`rill.cosim.image`: program, input beats, the VM's expected output beats,
clears, stimulus options), saved into a fresh run directory; `simulate` runs the cocotb bench
`tb_accel.py` on it as a subprocess, which saves a `RunResult` there; this module reads it back.

The bench on its own, without pytest: `python -m rill.cosim RUN_DIR` (`replay`) builds the
image's config and runs the bench on a saved image: one written by `make_image(...).save(DIR)`,
by `rill cosim PROGRAM INPUTS.npy --save DIR`, or a run directory kept with RILL_KEEP_RUNS=1.

Choice (documented contract): with `check=True` (default) any difference from the VM raises
`CosimMismatchError`, whose message shows the first differing beat (expected vs actual hex) and
names the inference, beat, output element, expected vs actual bits and the cycle of each
mismatch; so does a cycle count that differs from the program's (measured on inferences whose
input was back to back and whose output was not backpressured), a protocol error (status bits,
lost/duplicated beats, unstable output data) or a simulation timeout. With `check=False` the
same findings are returned in `CosimResult.mismatches` / `.errors`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..compile.program import Program
from ..compile.validate import validate_program
from ..errors import VMInputError
from ..hw import manifest
from ..hw.config import Config
from ..hw.sources import package_dir
from ..procs import Interrupted, own_runner
from . import coverage, progress
from . import verilator as vl
from .divergence import Divergence, WriteLog
from .image import RESULT_FILE, Mismatch, RunImage, RunOptions, RunResult, beat_mismatch

TOPLEVEL = "rill_top"
TB_MODULE = "tb_accel"
# simulator plusarg for benches that provoke status errors on purpose: switches off the RTL
# assertions of the program contract (rill_out_stream: one OUT per cycle, no FIFO overflow)
EXPECT_ERRORS = "+rill_expect_errors"


class CosimMismatchError(AssertionError):
    """The RTL disagreed with the VM (bits or cycles) or broke the stream protocol. Raised by
    `run`, `result` holds its CosimResult (else None)."""

    result: CosimResult | None = None


@dataclasses.dataclass
class CosimResult:
    outputs: list[np.ndarray]  # float32 model outputs per inference, like vm.run(x)
    cycles_per_inference: list[int]  # measured on the RTL (see module docstring)
    expected_cycles: int  # program.cycle_count_per_inference()
    beats: list[np.ndarray]  # raw output beats per inference, [n_out, B] uint16
    expected_beats: list[np.ndarray]  # the VM's
    waves: Path | None
    mismatches: list[Mismatch]  # one per differing output element
    errors: list[str]  # protocol / status / timing findings
    clean: list[bool]  # inferences whose cycle count is exact (no gaps, no backpressure)
    sim_cycles: int
    sim_seconds: float
    build_seconds: float
    run_dir: Path
    # the program's cycles of each inference (its model's; expected_cycles: model 0's)
    expected_cycles_per_inference: list[int] = dataclasses.field(default_factory=list)
    # back_to_back runs: cycles from each inference's first input beat to the next one's
    # (none across a clear or a model select), measured, and what the program predicts
    intervals: list[int] = dataclasses.field(default_factory=list)
    expected_interval: int = 0
    # on an output mismatch: the first register write where RTL and VM differ, with the path
    # of FST waves around it (rill.cosim.divergence.Divergence; None if none was found or
    # run(diagnose=False)); divergence_error: why the diagnosis failed, if it did
    divergence: Divergence | None = None
    divergence_error: str | None = None
    write_log: WriteLog | None = None  # every register-bank write, with run(write_log=True)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.errors


# ---------------------------------------------------------------------------------------------
# build


def rtl_sources() -> list[Path]:
    """Every RTL file of the accelerator, from the manifest: the package, then the modules."""
    return manifest.files(TOPLEVEL)


def build_accel(config: Config, waves: bool = False, *,
                defines: Mapping[str, object] | None = None, debug: bool = False) -> vl.Build:
    """Verilate rill_top for `config` (cached per config, sources, defines and options).
    debug=True: the build the write log and the wave window need (`rill.cosim.divergence`):
    the register banks' write ports VPI-readable, FST tracing compiled in (whatever `waves`
    says: `simulate(waves=...)` decides whether a run traces) and the wave-window module
    bound into rill_top; a build key of its own, one per config and defines."""
    if not debug:
        return vl.build(TOPLEVEL, rtl_sources(), config.rtl_parameters(), waves=waves,
                        defines=defines)
    from . import divergence

    window = divergence.wave_window_source(vl.BUILD_ROOT)
    return vl.build(TOPLEVEL, [*rtl_sources(), window], config.rtl_parameters(), waves=True,
                    defines=defines, public_rd=divergence.WRITE_PORTS)


# ---------------------------------------------------------------------------------------------
# program image


def vm_expected(program: Program, in_beats: Sequence[np.ndarray],
                resets: Sequence[int] = (),
                model_indices: Sequence[int] | None = None) -> list[np.ndarray]:
    """The VM's output beats, with vm.reset() before inference 0 and every index in resets
    (a program of several models: of inference k's model; before inference 0, every model)."""
    vm = program.to_vm()
    out = []
    for k, beats in enumerate(in_beats):
        m = 0 if model_indices is None else model_indices[k]
        if k == 0:
            vm.reset()
        elif k in resets:
            vm.reset(m)
        out.append(vm.run_beats(np.asarray(beats, np.uint16), model_index=m))
    return out


def _pad(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """[n, beats, B] arrays of different beat counts, zero padded to the largest."""
    n = max(a.shape[0] for a in arrays)
    out = np.zeros((len(arrays), n, arrays[0].shape[1]), np.uint16)
    for k, a in enumerate(arrays):
        out[k, : a.shape[0]] = a
    return out


def _raw_beats(x, k: int) -> np.ndarray:
    """inputs[k] with beats=True: raw bf16 bits, integers in [0, 0xFFFF]; a float array is a
    model input passed by mistake, never cast."""
    x = np.asarray(x)
    if x.dtype.kind not in "ui":
        raise VMInputError(f"inputs[{k}]: beats=True takes raw bf16 bits (uint16), got a {x.dtype} "
                           f"array; pass model inputs with beats=False")
    if x.size and (x.min() < 0 or x.max() > 0xFFFF):
        raise VMInputError(f"inputs[{k}]: raw beats must be in [0, 0xFFFF], got "
                           f"[{x.min()}, {x.max()}]")
    return x.astype(np.uint16)


def make_image(
    program: Program,
    inputs: Sequence[np.ndarray],
    *,
    resets: Sequence[int] = (),
    beats: bool = False,
    model_indices: Sequence[int] | None = None,
    **options,
) -> RunImage:
    """The run image of `inputs` (model inputs, or raw input beats with beats=True), with the
    VM's expected beats; `options` are the fields of RunOptions (see `run`)."""
    opts = RunOptions(**options)
    if model_indices is None:
        model_indices = [0] * len(inputs)
    model_indices = [program.check_model_index(m) for m in model_indices]
    if len(model_indices) != len(inputs):
        raise VMInputError(f"model_indices: {len(model_indices)} for {len(inputs)} inferences")
    in_beats = [_raw_beats(x, k) if beats else program.input_beats(x, model_indices[k])
                for k, x in enumerate(inputs)]
    if not in_beats:
        raise VMInputError("run() needs at least one inference")
    expected = (vm_expected(program, in_beats, resets) if program.num_models() == 1
                else vm_expected(program, in_beats, resets, model_indices))
    return RunImage(program, _pad(in_beats), _pad(expected), tuple(resets), opts,
                    tuple(model_indices))


# ---------------------------------------------------------------------------------------------
# simulation


def _run_dir(b: vl.Build, name: str) -> Path:
    """A fresh directory name under the build's runs/. The program's name comes from the user
    (or a loaded file): keep only safe characters, so it cannot name a path elsewhere."""
    base = b.build_dir / "runs"
    base.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".")[:64] or "program"
    return base / f"{safe}-{os.getpid()}-{time.monotonic_ns()}"


def simulate(b: vl.Build, run_dir: Path, testcase: str | None = "run_program",
             plusargs: Sequence[str] = (), seed: int | None = None,
             test_filter: str | None = None, image: RunImage | None = None,
             waves: bool | None = None) -> RunResult | None:
    """Run cocotb test(s) of tb_accel.py on build b (a testcase name, or test_filter, a regex
    over test names, e.g. for parametrized tests) in run_dir, which holds the run image (or
    none: the status-error benches); returns the RunResult the bench saved, if any. Raises
    CosimMismatchError with the simulator's error lines when the simulation stops early (a
    firing RTL assertion). waves: trace the whole run (default: when b was built with waves;
    False for a debug build's dump window, `rill.cosim.divergence`). Shows progress on stderr
    (inferences done, cycles/s, ETA; rill.cosim.progress)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if image is None and RunImage.exists(run_dir):
        image = RunImage.load(run_dir)
    show = progress.enabled() and image is not None
    (run_dir / RESULT_FILE).unlink(missing_ok=True)
    with (progress.sim_status(run_dir, image.n_inferences, f"cosim {image.program.name}")
          if show else contextlib.nullcontext()):
        run_bench(b, run_dir, testcase=None if test_filter else testcase,
                  test_filter=test_filter, plusargs=plusargs, seed=seed, image=image,
                  waves=waves, extra_env={"RILL_SIM_PROGRESS": "1"} if show else None)
    return RunResult.load(run_dir) if RunResult.exists(run_dir) else None


def run_bench(b: vl.Build, run_dir: Path, *, test_module: str = TB_MODULE,
              testcase: str | None = None, test_filter: str | None = None,
              plusargs: Sequence[str] = (), seed: int | None = None,
              image: RunImage | None = None, waves: bool | None = None,
              extra_env: Mapping[str, str] | None = None) -> None:
    """The simulator launch `simulate` and `rill.rt` share: cocotb test(s) of a bench module
    (cosim/tb_*.py) on build b, with run_dir as the simulator's working directory (sim.log,
    results.xml, waves), blocking until the simulator exits. Writes the `$readmemh` files of
    `image` when it loads through the backdoor; puts the benches and rill on the simulator's
    Python path; env RILL_RUN_DIR, RILL_PARAMS and extra_env. Raises CosimMismatchError with
    the simulator's error lines when it stops early (a firing RTL assertion, a crash)."""
    from cocotb_tools.runner import get_runner

    args = list(plusargs)
    if image is not None and image.options.load == "backdoor":
        args += image.write_backdoor(run_dir)
    if str(vl.TB_DIR) not in sys.path:
        sys.path.insert(0, str(vl.TB_DIR))
    compiler_dir = str(package_dir("rill", ".").parent)  # the directory holding the rill package
    if compiler_dir not in sys.path:  # rill itself must be importable inside the simulator
        sys.path.insert(0, compiler_dir)
    env = {"RILL_RUN_DIR": str(run_dir), "RILL_PARAMS": json.dumps(b.parameters),
           **(extra_env or {})}
    runner = own_runner(get_runner("verilator"))
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=b.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=b.build_dir,
            test_dir=run_dir,
            testcase=testcase,
            test_filter=test_filter,
            extra_env=env,
            waves=b.waves if waves is None else waves,
            seed=seed,
            plusargs=args,
            log_file=run_dir / "sim.log",
            results_xml=str(run_dir / "results.xml"),
        )
    except Interrupted:
        raise
    except SystemExit:  # the runner exits on a failed cocotb test when run under pytest
        pass
    except RuntimeError as e:  # the simulator stopped: an RTL assertion ($error), or a crash
        log = run_dir / "sim.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        found = [ln.strip() for ln in lines if "%Error" in ln or "ASSERT FAILED" in ln]
        raise CosimMismatchError(f"simulation stopped ({log}):\n" +
                                 "\n".join(found[:10] or lines[-20:])) from e


def replay(run_dir: Path, testcase: str = "run_program", waves: bool = False) -> RunResult:
    """The bench on a saved run image, outside pytest: build its config, simulate."""
    image = RunImage.load(run_dir)
    b = build_accel(image.config, waves=waves)
    res = simulate(b, run_dir, testcase, seed=image.options.seed, image=image)
    if res is None:
        raise CosimMismatchError(f"simulation produced no result (see {run_dir / 'sim.log'})")
    return res


def format_mismatches(mm: Sequence[Mismatch], limit: int = 8) -> str:
    lines = [f"  {m}" for m in mm[:limit]]
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
    back_to_back: bool = False,
    defines: Mapping[str, object] | None = None,
    write_log: bool = False,
    diagnose: bool = True,
    model_indices: Sequence[int] | None = None,
) -> CosimResult:
    """Run `inputs` (one model input per inference, as for vm.run) through the RTL.

    resets: inference indices before which the accelerator is cleared (clear_i) and the VM
    reset (state of streaming programs); inference 0 always starts from a clear.
    load: "backdoor" ($readmemh preload) or "port" (every word through the load port).
    gaps / backpressure: probability of an idle input cycle / a not-ready output cycle;
    clean_every: every n-th inference is driven back to back with no backpressure and its
    cycle count is checked exactly (1: all of them, which disables gaps and backpressure).
    beats=True: `inputs` are raw input beats ([n_in, B] uint16) instead of model inputs.
    back_to_back: offer every inference as soon as the accelerator takes it (no gaps, no
    backpressure): each latency and each interval between inferences must equal the
    program's (`interval_cycles_per_inference()`).
    defines: Verilog defines of the RTL build (its own cached build; e.g. the deliberately
    broken RILL_BREAK_ROUNDING of the divergence test).
    write_log: the bench logs every register-bank write (`result.write_log`; on the debug
    build, rill.cosim.divergence: a Python wake-up per cycle, so off by default).
    diagnose: on an output mismatch, find the first register write where RTL and VM differ
    and write FST waves around it (`result.divergence`, and in the error message): re-runs
    the inferences from the last clear up to the first mismatching one on the debug build
    with the write log on, then once more with waves of a window (rill.cosim.divergence).
    model_indices: a program of several models (rill.ProgramBuilder): the model of each
    inference (default all 0); the bench writes MODEL_SELECT before an inference whose model
    differs from the previous one's, a reset clears that inference's model (select, then
    clear_i) and inference 0 starts from a clear of every model. The outputs, cycle counts and
    intervals are each inference's model's (`result.expected_cycles_per_inference`; the
    first-divergence diagnosis runs for one-model programs only).
    Raises CosimMismatchError on any difference when check is True (see module docstring), and
    InvalidProgramError before any build when the program does not fit its config.
    """
    for what, p in (("gaps", gaps), ("backpressure", backpressure)):
        if not 0.0 <= p < 1.0:  # 1: no input beat (output beat) would ever be taken
            raise ValueError(f"{what}={p!r}: a probability per cycle, 0 <= p < 1")
    if back_to_back:
        gaps, backpressure = 0.0, 0.0
    # the bench loads the image through Program.load, which validates: a program built by hand
    # (rill.Program(...)) that does not fit its config fails here, named, before any build
    validate_program(program, f"program {program.name!r}")
    image = make_image(program, inputs, resets=resets, beats=beats, load=load, gaps=gaps,
                       backpressure=backpressure, clean_every=clean_every, seed=seed,
                       back_to_back=back_to_back, write_log=write_log,
                       model_indices=model_indices)
    mi = image.model_indices
    t0 = time.monotonic()
    b = build_accel(program.config, waves=waves, defines=defines, debug=write_log)
    build_s = time.monotonic() - t0
    run_dir = image.save(_run_dir(b, name or program.name))
    t1 = time.monotonic()
    res = simulate(b, run_dir, seed=seed, image=image, waves=waves)
    sim_s = time.monotonic() - t1
    if res is None:
        log = run_dir / "sim.log"
        tail = log.read_text()[-3000:] if log.exists() else "(no log)"
        raise CosimMismatchError(f"simulation produced no result (see {run_dir}):\n{tail}")
    # rill.cosim.coverage: the static bins of every model run
    used = sorted(set(mi))
    coverage.SESSION.add_run(program.model(used[0]), mi.count(used[0]), res.coverage)
    for m in used[1:]:
        coverage.SESSION.add_program(program.model(m), mi.count(m))
    got = [g[: image.model_of(k).n_out] for k, g in enumerate(res.out_beats)]
    wave_file = None
    if waves:
        found = sorted(run_dir.glob("*.fst")) + sorted(run_dir.glob("*.vcd"))
        wave_file = found[0] if found else None
    result = CosimResult(
        outputs=[program.output_from_beats(g, mi[k]) for k, g in enumerate(got)],
        cycles_per_inference=res.cycles,
        expected_cycles=image.expected_cycles,
        beats=got,
        expected_beats=[image.beats_expected(k) for k in range(image.n_inferences)],
        waves=wave_file,
        mismatches=res.mismatches,
        errors=res.errors,
        clean=res.clean,
        sim_cycles=res.sim_cycles,
        sim_seconds=sim_s,
        build_seconds=build_s,
        run_dir=run_dir,
        expected_cycles_per_inference=[image.expected_cycles_of(k)
                                       for k in range(image.n_inferences)],
    )
    if write_log and WriteLog.exists(run_dir):
        result.write_log = WriteLog.load(run_dir)
    if back_to_back:
        result.expected_interval = program.interval_cycles_per_inference()
        for k in range(1, len(res.starts)):
            if k in resets or min(res.starts[k - 1], res.starts[k]) < 0 or mi[k] != mi[k - 1]:
                continue  # none across a clear or a model select
            result.intervals.append(res.starts[k] - res.starts[k - 1])
            want = program.interval_cycles_per_inference(mi[k - 1])
            if result.intervals[-1] != want:
                result.errors.append(
                    f"inference {k} started {result.intervals[-1]} cycles after inference "
                    f"{k - 1}, program says {want} (back to back)")
    if result.mismatches and diagnose and program.num_models() > 1:
        result.divergence_error = "not available for a program of several models"
    elif result.mismatches and diagnose:
        from . import divergence

        first = min(m.inference for m in result.mismatches)
        try:
            result.divergence = divergence.diagnose(image, first, defines=defines,
                                                    run_dir=run_dir, log=result.write_log)
        except Interrupted:
            raise
        except Exception as e:  # the mismatch stands; say why there is no diagnosis
            result.divergence_error = f"{type(e).__name__}: {e}"
    if check and not result.ok:
        msg = [f"RTL vs VM: {program.name} on {program.config} ({run_dir})"]
        if result.mismatches:
            m = result.mismatches[0]
            msg.append(beat_mismatch(m.inference, m.beat, m.cycle,
                                     image.expected_beats[m.inference, m.beat],
                                     res.out_beats[m.inference, m.beat]))
            msg.append(f"{len(result.mismatches)} element mismatches:")
            msg.append(format_mismatches(result.mismatches))
        msg += [f"  {e}" for e in result.errors[:10]]
        if result.divergence is not None:
            msg.append(str(result.divergence))
        elif result.mismatches and diagnose:
            msg.append("no register write differs (the difference is on the way out)"
                       if result.divergence_error is None else
                       f"first-divergence diagnosis failed: {result.divergence_error}")
        err = CosimMismatchError("\n".join(msg))
        err.result = result  # the findings, structured (e.g. err.result.divergence)
        raise err
    # a passing run leaves nothing behind (rill cosim runs with check=False); a failing one
    # keeps its directory (image, result, log) for `python -m rill.cosim DIR`
    if not waves and result.ok and os.environ.get("RILL_KEEP_RUNS", "0") != "1":
        shutil.rmtree(run_dir, ignore_errors=True)
    return result
