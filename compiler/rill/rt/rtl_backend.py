"""`rill.rt` on the RTL: one persistent Verilator simulation of the accelerator.

The config is verilated once (`rill.cosim.run.build_accel`, cached under build/); the program
is loaded once when the simulation starts (the `$readmemh` backdoor or the load port, then
the control registers and a clear_i); then every `run` streams one inference's beats into
the simulated hardware and reads its output beats back, the state staying in the simulated
register banks between calls. Cycles are measured as the accelerator bench measures them:
first input beat accepted -> last output beat first valid, inputs back to back, no output
backpressure (so every inference is "clean" and must take exactly the program's count).

check=True runs the VM in lockstep: the first inference whose output bits or cycle count
differ raises `CosimMismatchError` (inference, beat, element, expected vs actual hex). Status
errors (the sticky illegal / stream-error bits) and protocol findings raise whatever `check`
says; a dead or silent simulator raises `SimulatorError` (a CosimMismatchError) with its log.
"""

from __future__ import annotations

import os
import shutil
import time
import weakref
from collections.abc import Mapping

import numpy as np

from ..compile.program import Program
from ..cosim.image import Mismatch, RunImage, RunOptions, beat_mismatch
from ..cosim.run import CosimMismatchError, _run_dir, build_accel, format_mismatches
from . import protocol
from .base import Runtime
from .sim import Simulation


class RTLRuntime(Runtime):
    backend = "rtl"

    def __init__(self, program: Program, *, check: bool = True, waves: bool = False,
                 load: str = "backdoor", defines: Mapping[str, object] | None = None,
                 timeout: float = 120.0, startup_timeout: float = 600.0,
                 name: str | None = None, keep: bool | None = None):
        """check: the VM in lockstep (bits and cycles of every inference). waves: an FST of
        the whole session in run_dir (written when the runtime closes). load: "backdoor"
        ($readmemh) or "port" (every word through the load port). defines: Verilog defines of
        the build. timeout: seconds of wall time any one request may take; startup_timeout:
        the simulator's start and the program's load. keep: keep run_dir (image, sim.log)
        after a clean close (default: env RILL_KEEP_RUNS=1; always after a failure)."""
        super().__init__(program)
        if load not in ("backdoor", "port"):
            raise ValueError(f"load={load!r}: 'backdoor' or 'port'")
        self.check, self.waves_enabled, self.timeout = check, waves, timeout
        self.vm = program.to_vm() if check else None  # also rejects an illegal program
        self.failed = False  # a mismatch or an error was raised: keep run_dir
        self._keep = (os.environ.get("RILL_KEEP_RUNS", "0") == "1") if keep is None else keep
        t0 = time.monotonic()
        self.build = build_accel(program.config, waves=waves, defines=defines)
        self.build_seconds = time.monotonic() - t0
        c = program.config
        image = RunImage(program, np.zeros((0, program.n_in, c.block_size), np.uint16),
                         np.zeros((0, program.n_out, c.block_size), np.uint16),
                         options=RunOptions(load=load))
        self.run_dir = image.save(_run_dir(self.build, name or f"rt-{program.name}"))
        self._sim = Simulation(self.build, self.run_dir, image, waves=waves, timeout=timeout,
                               startup_timeout=startup_timeout)
        self._finalizer = weakref.finalize(self, self._sim.kill)  # forgotten close(), exit
        self._sim_cycle = int(self._sim.hello.get("cycle", 0))
        self._status = int(self._sim.hello.get("status", 0))
        self._since_reset = 0

    # -- what the RTL adds to the interface -----------------------------------------------
    @property
    def pid(self) -> int | None:
        """The simulator's process id (also its process group)."""
        return self._sim.pid

    @property
    def sim_cycle(self) -> int:
        """The simulated cycle after the last request (the bench's clock, `rilltb.cycle`)."""
        return self._sim_cycle

    @property
    def status(self) -> int:
        """rill_top's status_o after the last request (bits: `rill.hw.isa.Status`)."""
        return self._status

    @property
    def log(self):
        return self._sim.log

    @property
    def waves(self):
        """The FST of the session (complete once closed), or None."""
        found = sorted(self.run_dir.glob("*.fst")) if self.waves_enabled else []
        return found[0] if found else None

    def read_status(self) -> int:
        """status_o now."""
        self._check_open()
        reply, _ = self._request({"op": "status"})
        return self._status

    # -- backend --------------------------------------------------------------------------
    def _request(self, header: dict, payload: bytes = b"") -> tuple[dict, bytes]:
        try:
            reply, out = self._sim.request(header, payload)
        except CosimMismatchError:
            self.failed = True
            raise
        self._sim_cycle = int(reply.get("cycle", self._sim_cycle))
        self._status = int(reply.get("status", self._status))
        return reply, out

    def _infer(self, beats: np.ndarray, model_index: int) -> np.ndarray:
        k, step = len(self.cycles), self._since_reset
        expected = self.vm.run_beats(beats, model_index=model_index) if self.check else None
        # the bench selects the model (MODEL_SELECT, docs/isa.md "Several models") when it is
        # not the selected one: between inferences, off the measured cycles
        reply, payload = self._request({"op": "infer", "k": k, "model": model_index},
                                       protocol.beats_bytes(beats))
        self._since_reset += 1
        p = self.program.model(model_index)
        out = protocol.bytes_beats(payload, p.B).reshape(p.n_out, p.B)
        cycles = int(reply["cycles"])
        self.cycles.append(cycles)
        errors = list(reply.get("errors", []))
        want = self.program.cycle_count_per_inference(model_index)
        if self.check and cycles != want and not errors:
            errors.append(f"inference {k}: {cycles} cycles from first input beat to last "
                          f"output beat, program says {want}")
        mism: list[Mismatch] = []
        if expected is not None:
            bc = reply.get("beat_cycles", [])
            for n, e in zip(*np.nonzero(out != expected), strict=True):
                mism.append(Mismatch(k, int(n), int(e), int(expected[n, e]), int(out[n, e]),
                                     int(bc[n]) if n < len(bc) else -1))
        if errors or mism:
            self.failed = True
            msg = [f"RTL vs VM (rill.rt): {self.program.name} on {self.program.config}, "
                   f"inference {k} ({step} since the last reset; {self.run_dir})"]
            if mism:
                m = mism[0]
                msg.append(beat_mismatch(k, m.beat, m.cycle, expected[m.beat], out[m.beat]))
                msg.append(f"{len(mism)} element mismatches:")
                msg.append(format_mismatches(mism))
            msg += [f"  {e}" for e in errors[:10]]
            err = CosimMismatchError("\n".join(msg))
            err.inference, err.mismatches, err.errors = k, mism, errors
            err.expected, err.actual = expected, out
            raise err
        return out

    def _reset(self, model_index: int | None) -> None:
        self._request({"op": "clear", "model": model_index})  # None: every model's registers
        if self.vm is not None:
            if model_index is None or self.program.num_models() == 1:
                self.vm.reset()
            else:
                self.vm.reset(model_index)
        self._since_reset = 0

    def _close(self) -> None:
        self._sim.close()
        self._finalizer.detach()
        if not (self.failed or self._keep or self.waves_enabled or self._sim.error):
            shutil.rmtree(self.run_dir, ignore_errors=True)
