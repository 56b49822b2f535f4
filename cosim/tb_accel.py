"""Whole-accelerator cocotb bench for rill_top: the parts of `rilltb` wired to its ports.

`AccelTB` composes a `LoadPort` driver, a `StreamSource` on the input stream, a `StreamSink`
on the output stream and an in-order `Scoreboard` against the VM's beats. The run comes from
the directory named by env RILL_RUN_DIR: a `rill.cosim.image.RunImage` (program, input beats,
the VM's expected output beats, clears, stimulus options); `run_program` writes a `RunResult`
there (with the run's dynamic coverage bins, `rill.cosim.coverage`) and fails on any
mismatch. Without an image (the status-error benches) only the config is known, from env
RILL_PARAMS (rill_top's parameters).

On its own, without pytest: `python -m rill.cosim.run RUN_DIR` builds the config of the image
in RUN_DIR and runs this bench on it (`rill cosim PROGRAM INPUTS.npy --save RUN_DIR` writes
one; so does any cosim run kept with RILL_KEEP_RUNS=1).
Timing: see `rilltb.clock` (everything at falling edges; cycle n follows the n-th rising edge).
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, Event, FallingEdge, with_timeout
from rilltb import (
    PERIOD_NS,
    LoadPort,
    Scoreboard,
    StreamBus,
    StreamSink,
    StreamSource,
    WriteLogMonitor,
    cycle,
    pack_lanes,
    pause_pattern,
    random_pauses,
    start_clock,
)

from rill.cosim import coverage, progress
from rill.cosim.image import RunImage, RunOptions, RunResult, config_from_rtl_parameters
from rill.hw import isa  # rill imports torch only when rill.fx is used
from rill.hw.config import Config

Status, LoadSel = isa.Status, isa.LoadSel  # status_o bits, load-port selects
LANE_BITS = 16  # bf16 lanes on both streams


class AccelTB:
    """Clock and reset, the parts on rill_top's ports, and a whole program run."""

    def __init__(self, dut, run_dir: Path, image: RunImage | None, config: Config):
        self.dut, self.log, self.run_dir = dut, dut._log, run_dir
        self.image, self.config = image, config
        self.options = image.options if image else RunOptions()
        self.rng = random.Random(self.options.seed)
        length = image.program.length if image else 0
        self.length = length
        self.load_port = LoadPort(dut, dut.clk_i)
        self.source = StreamSource(StreamBus.into(dut, "in"), dut.clk_i,
                                   stall_cycles=(length + config.rf_depth + 1000) * 4)
        self.sink = StreamSink(StreamBus.out_of(dut, "out"), dut.clk_i, self._on_beat)
        self.drained = Event()
        self.scoreboard = None if image is None else Scoreboard(
            image.expected_beats, LANE_BITS, self.log, on_frame=self._on_frame,
            frame_beats=[image.model_of(k).n_out for k in range(image.n_inferences)])
        self.model: int | None = None  # the selected model (MODEL_SELECT), as far as known
        self.first_in: dict[int, int] = {}  # inference -> cycle its first input beat was taken
        self.last_in: dict[int, int] = {}
        self.errors: list[str] = []
        self.clears: collections.Counter[str] = collections.Counter()  # by state (coverage)
        # every register-bank write, when the image asks (debug builds: rill.cosim.divergence)
        self.write_log = WriteLogMonitor(dut, dut.clk_i, config.num_banks, config.block_size,
                                         length) if image and self.options.write_log else None
        self._progress = os.environ.get("RILL_SIM_PROGRESS") == "1"  # rill.cosim.progress
        self._t0 = 0

    @classmethod
    def from_env(cls, dut) -> AccelTB:
        run_dir = Path(os.environ["RILL_RUN_DIR"])
        if RunImage.exists(run_dir):
            image = RunImage.load(run_dir)
            return cls(dut, run_dir, image, image.config)
        params = json.loads(os.environ["RILL_PARAMS"])
        return cls(dut, run_dir, None, config_from_rtl_parameters(params))

    def _on_beat(self, beat) -> None:
        self.scoreboard.compare(beat)

    def _on_frame(self, k: int) -> None:
        self.drained.set()
        if self._progress:
            progress.write_sim_progress(self.run_dir, k + 1, self.image.n_inferences,
                                        cycle() - self._t0)

    # -- basic ----------------------------------------------------------------------------
    async def start(self) -> None:
        d = self.dut
        start_clock(d.clk_i)
        d.rst_ni.value = 0
        d.clear_i.value = 0
        await ClockCycles(d.clk_i, 3)
        await FallingEdge(d.clk_i)
        d.rst_ni.value = 1
        await FallingEdge(d.clk_i)

    def status(self) -> int:
        return int(self.dut.status_o.value)

    def status_bit(self, bit: isa.Status) -> bool:
        return bool((self.status() >> bit) & 1)

    async def load_bundles(self, bundles: list[isa.Bundle], cores: int = 1) -> None:
        """A hand-made program into the imem of cores 0 .. cores-1, through the load port."""
        words = [int.from_bytes(bytes(r), "little") for r in isa.encode(bundles, self.config)]
        for core in range(cores):
            await self.load_port.write_words(LoadSel.IMEM, core, words)

    async def clear(self) -> None:
        """Pulse clear_i once the accelerator is idle; wait until the clear has finished."""
        d = self.dut
        for _ in range(self.length + 64):  # finish a running inference first
            if self.status_bit(Status.IDLE) or self.status_bit(Status.HALTED):
                break
            await FallingEdge(d.clk_i)
        self.clears["idle" if self.status_bit(Status.IDLE) else
                    "halted" if self.status_bit(Status.HALTED) else "run"] += 1
        d.clear_i.value = 1
        await FallingEdge(d.clk_i)
        d.clear_i.value = 0
        await ClockCycles(d.clk_i, self.config.rf_depth)
        await FallingEdge(d.clk_i)
        if self.status_bit(Status.CLEARING):
            raise TimeoutError(f"cycle {cycle()}: still clearing after rf_depth cycles")

    async def select(self, model: int, budget: int) -> None:
        """MODEL_SELECT `model` once the accelerator is idle (docs/isa.md, "Several models"):
        the previous inference has finished and no beat of the next one was sent."""
        for _ in range(budget):
            if self.status_bit(Status.IDLE):
                break
            await FallingEdge(self.dut.clk_i)
        else:
            raise TimeoutError(f"cycle {cycle()}: not idle for a model select "
                               f"(status_o=0x{self.status():02x})")
        await self.load_port.select(model)
        self.model = model

    async def send(self, k: int, beats: np.ndarray, idle=None) -> None:
        """Inference k's input beats ([n_in, B] lanes), with idle cycles from `idle` (a pause
        generator) unless None; records the cycles its first and last beats were taken."""
        self.source.set_pause_generator(idle)
        try:
            t0, t1 = await self.source.send([pack_lanes(b, LANE_BITS) for b in beats])
        except TimeoutError as e:
            raise TimeoutError(f"inference {k} input: {e} (status_o=0x{self.status():02x})") \
                from e
        self.first_in[k], self.last_in[k] = t0, t1

    async def wait_drained(self, upto: int, timeout_cycles: int) -> None:
        """Until all beats of inferences < upto were received (or the timeout)."""
        sb = self.scoreboard
        deadline = cycle() + timeout_cycles
        while sb.frames_done < upto:
            self.drained.clear()
            remaining = deadline - cycle()
            if remaining <= 0:
                raise TimeoutError(f"cycle {cycle()}: inference {sb.frames_done} incomplete: "
                                   f"{len(sb.received[sb.frames_done])} of "
                                   f"{sb.beats_per_frame} output beats")
            try:
                await with_timeout(self.drained.wait(), remaining * PERIOD_NS, "ns")
            except TimeoutError:  # SimTimeoutError: reported as a lost beat above
                continue
        await FallingEdge(self.dut.clk_i)

    # -- a whole program run --------------------------------------------------------------
    async def run_program(self, load: str | None = None) -> RunResult:
        """The image's inferences, input gaps and output backpressure from its options; every
        clean inference (options.is_clean) back to back and unthrottled, its cycles exact."""
        img, opts = self.image, self.options
        p = img.program
        budget = (self.config.rf_depth + p.length + p.n_in + p.n_out + 64) * 8 + 1000
        if (load or opts.load) == "port":
            await self.load_port.write_image(img)
        await self.load_port.write_models(p)  # PROG_LEN, N_IN, N_OUT of model 0 first
        models = img.model_indices
        pattern = pause_pattern(self.rng, opts.backpressure)  # drawn first, always
        backpressure = itertools.cycle(pattern)
        if opts.backpressure > 0:  # the sink takes a beat in `ready` cycles of the pattern's
            # period: a wait for outputs (the last wait: every inference's) may take that long
            beats = sum(img.model_of(k).n_out for k in range(img.n_inferences))
            budget += beats * len(pattern) // pattern.count(False) + 1
        idle = random_pauses(self.rng, opts.gaps) if opts.gaps > 0 else None
        throttled = backpressure if opts.backpressure > 0 else None
        self.sink.set_pause_generator(throttled)
        self.sink.start()
        if self.write_log is not None:
            self.write_log.start()
        t_start = self._t0 = cycle()
        try:
            for k in range(img.n_inferences):
                clean = opts.is_clean(k)
                if k in img.resets:
                    await self.wait_drained(k, budget)
                    # a clear zeroes the selected model's registers: before inference 0,
                    # every model's; later, inference k's model's
                    for m in (range(p.num_models()) if k == 0 else [models[k]]):
                        if m != self.model:
                            await self.select(m, budget)
                        await self.clear()
                if models[k] != self.model:  # between inferences only: after the last one
                    await self.wait_drained(k, budget)
                    await self.select(models[k], budget)
                if opts.back_to_back:  # offered at once: the accelerator sets the pace
                    await self.send(k, img.beats_in(k), None)
                    continue
                if clean:  # exact timing: nothing queued, no backpressure
                    await self.wait_drained(k, budget)
                    self.sink.clear_pause_generator()
                await self.send(k, img.beats_in(k), None if clean else idle)
                if clean:
                    await self.wait_drained(k + 1, budget)
                    self.sink.set_pause_generator(throttled)
            await self.wait_drained(img.n_inferences, budget)
            await ClockCycles(self.dut.clk_i, p.length + 16)  # an extra beat would show here
        except TimeoutError as e:
            self.errors.append(str(e))
        self.sink.stop()
        if self.write_log is not None:
            self.write_log.stop()
            from rill.cosim.divergence import WriteLog

            WriteLog.from_rows(self.write_log.rows, self.config.block_size,
                               self.write_log.starts).save(self.run_dir)
        st = self.status()
        if st & ((1 << Status.ILLEGAL) | (1 << Status.STREAM_ERR)):
            self.errors.append(f"status_o=0x{st:02x}: illegal/stream-error bit set")
        return self.finish(cycle() - t_start)

    def coverage(self) -> dict[str, int]:
        """The run's dynamic coverage bins (rill.cosim.coverage): counted per beat by the
        stream parts, the output FIFO's occupancy derived once here."""
        img, sb = self.image, self.scoreboard
        fifo = None
        if sb.frames_done == img.n_inferences and len(self.last_in) == img.n_inferences \
                and img.program.num_models() == 1:
            fifo = coverage.fifo_model(
                coverage.out_pcs(img.program), [self.last_in[k] for k in range(len(sb.received))],
                self.sink.taken, [b.cycle for got in sb.received for b in got],
                self.config.out_fifo_depth)
        return coverage.bench_bins(self.source.gaps, self.sink.stalls, self.clears, fifo,
                                   self.config.out_fifo_depth)

    def finish(self, sim_cycles: int) -> RunResult:
        img, sb = self.image, self.scoreboard
        cycles, clean = [], []
        for k, got in enumerate(sb.received):
            e = img.model_of(k)  # inference k's model
            n_in, n_out, expected = e.n_in, e.n_out, img.expected_cycles_of(k)
            clean.append(self.options.is_clean(k))
            if k >= sb.frames_done or k not in self.first_in:
                cycles.append(-1)
            elif clean[-1]:
                cycles.append(got[-1].cycle - self.first_in[k])
                if cycles[-1] != expected:
                    self.errors.append(f"inference {k}: {cycles[-1]} cycles from first input "
                                       f"beat to last output beat, program says {expected}")
            else:  # gaps/backpressure: the span from the last input beat
                cycles.append(got[-1].cycle - self.last_in[k] + n_in - 1)
            if len(got) != n_out:
                self.errors.append(f"inference {k}: received {len(got)} of {n_out} beats")
        errors = sb.errors + [f"output stream: {e}" for e in self.sink.errors] + self.errors
        result = RunResult(sb.frames(), cycles, clean, sb.mismatches, errors, sim_cycles,
                           self.coverage(),
                           [self.first_in.get(k, -1) for k in range(img.n_inferences)])
        result.save(self.run_dir)
        for m in result.mismatches[:8]:
            self.log.error("%s", m)
        for e in errors[:8]:
            self.log.error("%s", e)
        self.log.info("cycles per inference: %s (program: %s)", cycles,
                      sorted({img.expected_cycles_of(k) for k in range(img.n_inferences)}))
        return result


# ---------------------------------------------------------------------------------------------
# tests


@cocotb.test()
async def run_program(dut):
    """The program image in RILL_RUN_DIR, against the VM's beats, bit and cycle exact."""
    tb = AccelTB.from_env(dut)
    await tb.start()
    res = await tb.run_program()
    assert res.ok, f"{len(res.mismatches)} mismatches, {res.errors}"


@cocotb.test()
async def load_port(dut):
    """Same, with every imem/wmem/const word written through the load port (no backdoor)."""
    tb = AccelTB.from_env(dut)
    await tb.start()
    res = await tb.run_program(load="port")
    assert res.ok, f"{len(res.mismatches)} mismatches, {res.errors}"


@cocotb.test(timeout_time=100, timeout_unit="us")
@cocotb.parametrize(kind=["m_op3", "bad_bank"])
async def illegal_instruction(dut, kind):
    """An illegal bundle at pc 3 raises status.illegal and halts; clear_i recovers."""
    tb = AccelTB.from_env(dut)
    c = tb.config
    if kind == "bad_bank" and c.num_banks == 1 << c.bank_bits:
        tb.log.info("config has no unused bank number: nothing to test for %s", kind)
        return
    await tb.start()
    bad_mop = max(isa.MOp) + 1  # no MOp
    assert bad_mop < 1 << isa.M_OP_BITS
    bad = (isa.Bundle(m_op=bad_mop) if kind == "m_op3" else
           isa.Bundle(v_op=isa.VOp.RELU, v_a=isa.make_addr(c.num_banks, 0, c)))
    prog = [isa.Bundle()] * 3 + [bad] + [isa.Bundle(v_op=isa.VOp.OUT)] * 4
    await tb.load_bundles(prog)
    await tb.load_port.write_ctrl(len(prog), 1, 4)
    dut.out_ready_i.value = 1
    await tb.send(0, np.zeros((1, c.block_size), np.uint16))
    await ClockCycles(dut.clk_i, len(prog) + 8)
    await FallingEdge(dut.clk_i)
    assert tb.status_bit(Status.ILLEGAL) and tb.status_bit(Status.HALTED), \
        f"status 0x{tb.status():02x}"
    assert not dut.out_valid_o.value, "bundles after the illegal one must not issue"
    assert not dut.in_ready_o.value, "a halted accelerator accepts no input"
    await tb.clear()
    assert tb.status_bit(Status.IDLE) and not tb.status_bit(Status.ILLEGAL), f"0x{tb.status():02x}"


@cocotb.test(timeout_time=100, timeout_unit="us")
@cocotb.parametrize(kind=["in_last_early", "in_last_missing", "out_overflow"])
async def stream_error(dut, kind):
    """status.stream_error: in_last on the wrong beat, or more OUT beats than the FIFO holds."""
    tb = AccelTB.from_env(dut)
    c = tb.config
    await tb.start()
    outs = 7 if kind == "out_overflow" else 1
    prog = [isa.Bundle(v_op=isa.VOp.OUT)] * outs + [isa.Bundle()] * 2
    await tb.load_bundles(prog)
    n_in = 1 if kind == "out_overflow" else 3
    await tb.load_port.write_ctrl(len(prog), n_in, 1)  # n_out = 1: every run may start
    # nothing drains: with n_out = 1 the run that starts with one free entry pushes 7 beats and
    # overflows (a later run would wait for room forever)
    dut.out_ready_i.value = 0
    runs = c.out_fifo_depth // outs + 1 if kind == "out_overflow" else 1
    last = {"in_last_early": [False, True, False], "in_last_missing": [False] * 3}.get(kind)
    for _ in range(runs):
        await tb.source.send([0] * n_in, last=last)
    await ClockCycles(dut.clk_i, len(prog) + 4)
    await FallingEdge(dut.clk_i)
    detail = Status.OUT_OVERFLOW if kind == "out_overflow" else Status.IN_LAST_ERR
    st = tb.status()
    assert st >> Status.STREAM_ERR & 1 and st >> detail & 1, f"status 0x{st:02x}"
    assert not st >> Status.ILLEGAL & 1, f"status 0x{st:02x}"
    await tb.clear()
    assert not tb.status_bit(Status.STREAM_ERR), f"status 0x{tb.status():02x}"


@cocotb.test(timeout_time=100, timeout_unit="us")
async def two_outs(dut):
    """A hand-made program with an OUT on every core in the same cycle (the compiler never emits
    this). Run with +rill_expect_errors the hardware flags it in status.stream_error; without,
    the RTL assertion OneOutPerCycle_A stops the simulation (test_accel.py checks both)."""
    tb = AccelTB.from_env(dut)
    c = tb.config
    if c.num_cores == 1:
        tb.log.info("one core: no two OUTs in one cycle to test")
        return
    await tb.start()
    prog = [isa.Bundle(v_op=isa.VOp.OUT)] + [isa.Bundle()] * 3
    await tb.load_bundles(prog, cores=c.num_cores)
    await tb.load_port.write_ctrl(len(prog), 1, 1)
    dut.out_ready_i.value = 1
    await tb.send(0, np.zeros((1, c.block_size), np.uint16))
    await ClockCycles(dut.clk_i, len(prog) + 4)
    await FallingEdge(dut.clk_i)
    st = tb.status()
    assert st >> Status.STREAM_ERR & 1, f"status 0x{st:02x}"
    assert not st >> Status.ILLEGAL & 1 and not st >> Status.OUT_OVERFLOW & 1, f"status 0x{st:02x}"
