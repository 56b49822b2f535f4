"""Whole-accelerator cocotb bench for rill_top (cocotbext-axi style: driver, monitor, scoreboard).

The program, input beats and the VM's expected output beats come from the run directory
written by `rill.cosim.run.write_image` (env RILL_RUN_DIR). Everything is driven and sampled on
the FALLING clock edge; cycle n is the interval after the n-th rising edge, so a value sampled
at the falling edge of cycle n is what the rising edge ending cycle n sees.

Results go to RILL_RUN_DIR/result.json and out_beats.npy; the test fails on any mismatch.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, RisingEdge, with_timeout
from cocotb.utils import get_sim_time

from rill.hw import isa  # rill imports torch only when rill.fx is used
from rill.hw.config import Config

PERIOD_NS = 10

Status, LoadSel, CtrlReg = isa.Status, isa.LoadSel, isa.CtrlReg  # status_o bits, load port


def cycle() -> int:
    return int(get_sim_time("ns")) // PERIOD_NS


def pack(words, width: int) -> int:
    """Lanes -> one integer, lane i in bits [i*width +: width]."""
    v = 0
    for i, w in enumerate(words):
        v |= int(w) << (i * width)
    return v


def unpack(v: int, n: int, width: int) -> np.ndarray:
    mask = (1 << width) - 1
    return np.array([(v >> (i * width)) & mask for i in range(n)], dtype=np.uint64)


class AccelTB:
    """Clock, reset, load driver, input driver, output monitor with backpressure, scoreboard."""

    def __init__(self, dut, run_dir: Path | None = None):
        self.dut = dut
        self.log = dut._log
        self.run_dir = Path(run_dir or os.environ["RILL_RUN_DIR"])
        meta_file = self.run_dir / "image.json"
        self.meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        if self.meta:
            self.config = Config.from_dict(self.meta["config"])
        else:  # a bench without a program image (illegal-instruction test): params only
            p = json.loads(os.environ["RILL_PARAMS"])
            self.config = Config(p["NUM_CORES"], p["B"], weight_depth=p["WEIGHT_DEPTH"],
                                 rf_depth=p["RF_DEPTH"], instr_depth=p["INSTR_DEPTH"],
                                 out_fifo_depth=p["OUT_FIFO_DEPTH"])
        self.B = self.config.block_size
        opts = self.meta.get("options", {})
        self.rng = random.Random(opts.get("seed", 1))
        self.gaps = float(opts.get("gaps", 0.0))
        self.backpressure = float(opts.get("backpressure", 0.0))
        self.clean_every = max(1, int(opts.get("clean_every", 1)))
        # scoreboard state
        self.received: list[list[tuple[np.ndarray, int]]] = []  # per inference: (beat, cycle)
        self.first_in: dict[int, int] = {}
        self.last_in: dict[int, int] = {}
        self.last_out_valid: dict[int, int] = {}
        self.mismatches: list[dict] = []
        self.errors: list[str] = []
        self.expect_idx = 0  # next inference the monitor expects beats of
        self.expected: np.ndarray | None = None
        self.n_out = self.meta.get("n_out", 0)
        self.drained = Event()
        self.stall_ns = (self.meta.get("length", 0) + self.config.rf_depth + 1000) * 4 * PERIOD_NS
        self.force_ready = False

    # -- basic ----------------------------------------------------------------------------
    async def start(self) -> None:
        d = self.dut
        Clock(d.clk_i, PERIOD_NS, unit="ns", impl="gpi").start()
        d.rst_ni.value = 0
        d.in_valid_i.value = 0
        d.in_data_i.value = 0
        d.in_last_i.value = 0
        d.out_ready_i.value = 0
        d.load_valid_i.value = 0
        d.load_sel_i.value = LoadSel.IMEM
        d.load_core_i.value = 0
        d.load_addr_i.value = 0
        d.load_data_i.value = 0
        d.clear_i.value = 0
        await ClockCycles(d.clk_i, 3)
        await FallingEdge(d.clk_i)
        d.rst_ni.value = 1
        await FallingEdge(d.clk_i)

    def status(self) -> int:
        return int(self.dut.status_o.value)

    def status_bit(self, bit: isa.Status) -> bool:
        return bool((self.status() >> bit) & 1)

    async def load(self, sel: isa.LoadSel, core: int, addr: int, data: int) -> None:
        """One load-port word (we are at a falling edge; returns at the next one)."""
        d = self.dut
        d.load_valid_i.value = 1
        d.load_sel_i.value = sel
        d.load_core_i.value = core
        d.load_addr_i.value = addr
        d.load_data_i.value = data
        await FallingEdge(d.clk_i)
        d.load_valid_i.value = 0

    async def load_ctrl(self, length: int, n_in: int, n_out: int) -> None:
        regs = {CtrlReg.PROG_LEN: length, CtrlReg.N_IN: n_in, CtrlReg.N_OUT: n_out}
        for a, v in regs.items():
            await self.load(LoadSel.CTRL, 0, a, v)

    async def load_image_port(self) -> None:
        """Everything through the load port: imem, wmem rows, constants, control registers."""
        c, rd = self.config, self.run_dir
        for core in range(c.num_cores):
            for a, line in enumerate((rd / f"imem_c{core}.hex").read_text().split()):
                await self.load(LoadSel.IMEM, core, a, int(line, 16))
            wf = rd / f"wmem_c{core}.hex"
            if wf.exists():
                for a, line in enumerate(wf.read_text().split()):
                    await self.load(LoadSel.WMEM, core, a, int(line, 16))
        cf = rd / "const.hex"
        if cf.exists():
            for a, line in enumerate(cf.read_text().split()):
                await self.load(LoadSel.CONST, 0, a, int(line, 16))

    async def clear(self) -> None:
        """Pulse clear_i once the accelerator is idle; wait until the clear has finished."""
        d = self.dut
        for _ in range(self.meta.get("length", 0) + 64):  # finish a running inference first
            if self.status_bit(Status.IDLE) or self.status_bit(Status.HALTED):
                break
            await FallingEdge(d.clk_i)
        d.clear_i.value = 1
        await FallingEdge(d.clk_i)
        d.clear_i.value = 0
        await ClockCycles(d.clk_i, self.config.rf_depth)
        await FallingEdge(d.clk_i)
        if self.status_bit(Status.CLEARING):
            raise TimeoutError(f"cycle {cycle()}: still clearing after rf_depth cycles")

    # -- input driver ---------------------------------------------------------------------
    def is_clean(self, k: int) -> bool:
        return k % self.clean_every == 0

    async def send(self, k: int, beats: np.ndarray) -> None:
        """Drive one inference's input beats; records accept cycles of first and last beat."""
        d = self.dut
        clean = self.is_clean(k)
        n = len(beats)
        for i, beat in enumerate(beats):
            if not clean:
                while self.rng.random() < self.gaps:
                    d.in_valid_i.value = 0
                    await FallingEdge(d.clk_i)
            d.in_valid_i.value = 1
            d.in_data_i.value = pack(beat, 16)
            d.in_last_i.value = int(i == n - 1)
            while not d.in_ready_o.value:  # in_ready only changes at rising edges
                try:
                    await with_timeout(RisingEdge(d.in_ready_o), self.stall_ns, "ns")
                except Exception as e:  # SimTimeoutError
                    raise TimeoutError(f"cycle {cycle()}: inference {k} input beat {i} not "
                                       f"accepted (status_o=0x{self.status():02x})") from e
                await FallingEdge(d.clk_i)
            t = cycle()  # accepted at the rising edge ending this cycle
            if i == 0:
                self.first_in[k] = t
            self.last_in[k] = t
            await FallingEdge(d.clk_i)
        d.in_valid_i.value = 0
        d.in_last_i.value = 0

    # -- output monitor + backpressure + scoreboard ---------------------------------------
    async def monitor(self) -> None:
        d = self.dut
        pattern = itertools.cycle([self.rng.random() >= self.backpressure for _ in range(61)])
        held = None  # (data, last) of a beat seen valid but not taken
        first_valid = 0
        while True:
            if not d.out_valid_o.value:
                if held is not None:
                    self.errors.append(f"cycle {cycle()}: out_valid dropped before the beat "
                                       "was taken")
                    held = None
                d.out_ready_i.value = 1 if self.backpressure == 0 else d.out_ready_i.value
                await RisingEdge(d.out_valid_o)
                await FallingEdge(d.clk_i)
            ready = self.force_ready or self.backpressure == 0 or next(pattern)
            d.out_ready_i.value = int(ready)
            data = int(d.out_data_o.value)
            last = int(d.out_last_o.value)
            now = cycle()
            if held is None:
                first_valid = now
            elif held != (data, last):
                self.errors.append(f"cycle {now}: output data/last changed while valid & !ready")
            if not ready:
                held = (data, last)
                await FallingEdge(d.clk_i)
                continue
            held = None
            self.score(data, last, first_valid)
            await FallingEdge(d.clk_i)

    def score(self, data: int, last: int, t_valid: int) -> None:
        k = self.expect_idx
        if self.expected is None or k >= len(self.expected):
            self.errors.append(f"cycle {t_valid}: unexpected extra output beat 0x{data:x}")
            return
        got = self.received[k]
        n = len(got)
        beat = unpack(data, self.B, 16).astype(np.uint16)
        got.append((beat, t_valid))
        exp = self.expected[k, n]
        for e in np.nonzero(beat != exp)[0]:
            self.mismatches.append({"inference": k, "beat": n, "element": int(e),
                                    "expected": int(exp[e]), "actual": int(beat[e]),
                                    "cycle": t_valid})
        want_last = n == self.n_out - 1
        if bool(last) != want_last:
            self.errors.append(f"inference {k} beat {n} (cycle {t_valid}): out_last={last}, "
                               f"expected {int(want_last)}")
        if want_last:
            self.last_out_valid[k] = t_valid
            self.expect_idx += 1
            self.drained.set()

    async def wait_drained(self, upto: int, timeout_cycles: int) -> None:
        """Until all beats of inferences < upto were received (or the timeout)."""
        d = self.dut
        deadline = cycle() + timeout_cycles
        while self.expect_idx < upto:
            self.drained.clear()
            remaining = deadline - cycle()
            if remaining <= 0:
                raise TimeoutError(f"cycle {cycle()}: inference {self.expect_idx} incomplete: "
                                   f"{len(self.received[self.expect_idx])} of {self.n_out} "
                                   f"output beats")
            try:
                await with_timeout(self.drained.wait(), remaining * PERIOD_NS, "ns")
            except Exception:  # SimTimeoutError: report as a lost beat below
                continue
        await FallingEdge(d.clk_i)

    # -- a whole program run --------------------------------------------------------------
    async def run_program(self, load: str | None = None) -> None:
        meta, d = self.meta, self.dut
        load = load or meta["options"].get("load", "backdoor")
        ins = np.load(self.run_dir / "in_beats.npy")
        self.expected = np.load(self.run_dir / "expected_beats.npy")
        n_inf = len(ins)
        self.received = [[] for _ in range(n_inf)]
        resets = set(meta["resets"])
        P = meta["length"]
        budget = (self.config.rf_depth + P + meta["n_in"] + meta["n_out"] + 64) * 8 + 1000
        if load == "port":
            await self.load_image_port()
        await self.load_ctrl(P, meta["n_in"], meta["n_out"])
        mon = cocotb.start_soon(self.monitor())
        t_start = cycle()
        try:
            for k in range(n_inf):
                if k in resets:
                    await self.wait_drained(k, budget)
                    await self.clear()
                if self.is_clean(k):  # exact timing: nothing queued, no backpressure
                    await self.wait_drained(k, budget)
                    self.force_ready = True
                await self.send(k, ins[k])
                if self.is_clean(k):
                    await self.wait_drained(k + 1, budget)
                    self.force_ready = False
            await self.wait_drained(n_inf, budget)
            await ClockCycles(d.clk_i, P + 16)  # any extra beat would show up here
        except TimeoutError as e:
            self.errors.append(str(e))
        mon.cancel()
        st = self.status()
        if st & ((1 << Status.ILLEGAL) | (1 << Status.STREAM_ERR)):
            self.errors.append(f"status_o=0x{st:02x}: illegal/stream-error bit set")
        self.finish(n_inf, cycle() - t_start)

    def finish(self, n_inf: int, sim_cycles: int) -> None:
        meta = self.meta
        n_in, expected_cycles = meta["n_in"], meta["expected_cycles"]
        cycles, clean = [], []
        for k in range(n_inf):
            if k in self.last_out_valid and k in self.first_in:
                if self.is_clean(k):
                    c = self.last_out_valid[k] - self.first_in[k]
                    if c != expected_cycles:
                        self.errors.append(f"inference {k}: {c} cycles from first input beat "
                                           f"to last output beat, program says "
                                           f"{expected_cycles}")
                else:  # gaps/backpressure: the span from the last input beat
                    c = self.last_out_valid[k] - self.last_in[k] + n_in - 1
                cycles.append(int(c))
            else:
                cycles.append(-1)
            clean.append(self.is_clean(k))
        B, n_out = self.B, self.n_out
        out = np.zeros((n_inf, n_out, B), np.uint16)
        for k, got in enumerate(self.received):
            for n, (beat, _) in enumerate(got[:n_out]):
                out[k, n] = beat
            if len(got) != n_out:
                self.errors.append(f"inference {k}: received {len(got)} of {n_out} beats")
        np.save(self.run_dir / "out_beats.npy", out)
        result = {"cycles": cycles, "clean": clean, "mismatches": self.mismatches,
                  "errors": self.errors, "sim_cycles": sim_cycles}
        (self.run_dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
        for m in self.mismatches[:8]:
            self.log.error("inference %d beat %d element %d: expected 0x%04x actual 0x%04x "
                           "(cycle %d)", m["inference"], m["beat"], m["element"],
                           m["expected"], m["actual"], m["cycle"])
        for e in self.errors[:8]:
            self.log.error("%s", e)
        self.log.info("cycles per inference: %s (program: %d)", cycles, expected_cycles)


# ---------------------------------------------------------------------------------------------
# tests


@cocotb.test()
async def run_program(dut):
    """The program image in RILL_RUN_DIR, against the VM's beats, bit and cycle exact."""
    tb = AccelTB(dut)
    await tb.start()
    await tb.run_program()
    assert not tb.mismatches and not tb.errors, f"{len(tb.mismatches)} mismatches, {tb.errors}"


@cocotb.test()
async def load_port(dut):
    """Same, with every imem/wmem/const word written through the load port (no backdoor)."""
    tb = AccelTB(dut)
    await tb.start()
    await tb.run_program(load="port")
    assert not tb.mismatches and not tb.errors, f"{len(tb.mismatches)} mismatches, {tb.errors}"


@cocotb.test(timeout_time=100, timeout_unit="us")
@cocotb.parametrize(kind=["m_op3", "bad_bank"])
async def illegal_instruction(dut, kind):
    """An illegal bundle at pc 3 raises status.illegal and halts; clear_i recovers."""
    tb = AccelTB(dut)
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
    for a, row in enumerate(isa.encode(prog, c)):
        await tb.load(LoadSel.IMEM, 0, a, int.from_bytes(bytes(row), "little"))
    await tb.load_ctrl(len(prog), 1, 4)
    tb.dut.out_ready_i.value = 1
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
    tb = AccelTB(dut)
    c = tb.config
    await tb.start()
    outs = 7 if kind == "out_overflow" else 1
    prog = [isa.Bundle(v_op=isa.VOp.OUT)] * outs + [isa.Bundle()] * 2
    for a, row in enumerate(isa.encode(prog, c)):
        await tb.load(LoadSel.IMEM, 0, a, int.from_bytes(bytes(row), "little"))
    n_in = 1 if kind == "out_overflow" else 3
    await tb.load_ctrl(len(prog), n_in, 1)  # n_out = 1: the room check lets every run start
    # nothing drains: with n_out = 1 the run that starts with one free entry pushes 7 beats and
    # overflows (a later run would wait for room forever)
    dut.out_ready_i.value = 0
    runs = c.out_fifo_depth // outs + 1 if kind == "out_overflow" else 1
    for _ in range(runs):
        for i in range(n_in):
            dut.in_valid_i.value = 1
            dut.in_data_i.value = 0
            last = {"in_last_early": i == 1, "in_last_missing": False}.get(kind, i == n_in - 1)
            dut.in_last_i.value = int(last)
            while not dut.in_ready_o.value:
                await RisingEdge(dut.in_ready_o)
                await FallingEdge(dut.clk_i)
            await FallingEdge(dut.clk_i)
        dut.in_valid_i.value = 0
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
    tb = AccelTB(dut)
    c = tb.config
    if c.num_cores == 1:
        tb.log.info("one core: no two OUTs in one cycle to test")
        return
    await tb.start()
    prog = [isa.Bundle(v_op=isa.VOp.OUT)] + [isa.Bundle()] * 3
    for core in range(c.num_cores):
        for a, row in enumerate(isa.encode(prog, c)):
            await tb.load(LoadSel.IMEM, core, a, int.from_bytes(bytes(row), "little"))
    await tb.load_ctrl(len(prog), 1, 1)
    dut.out_ready_i.value = 1
    await tb.send(0, np.zeros((1, c.block_size), np.uint16))
    await ClockCycles(dut.clk_i, len(prog) + 4)
    await FallingEdge(dut.clk_i)
    st = tb.status()
    assert st >> Status.STREAM_ERR & 1, f"status 0x{st:02x}"
    assert not st >> Status.ILLEGAL & 1 and not st >> Status.OUT_OVERFLOW & 1, f"status 0x{st:02x}"
