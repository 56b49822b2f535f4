"""The persistent accelerator bench of `rill.rt` (its RTL backend): load once, then serve.

`serve` loads the program of the run image in RILL_RUN_DIR (the `$readmemh` backdoor or the
load port, then the control registers and a clear_i, as `tb_accel.run_program` does before
inference 0), connects to the unix socket named by RILL_RT_SOCKET and answers requests one at
a time (`rill.rt.protocol`: infer, clear, status, quit) until the parent quits or goes away.
Reading a request blocks the simulator: simulated time stands still between inferences.

Each inference is driven as tb_accel drives a clean one: its beats offered back to back, the
output never backpressured, nothing else in flight; its cycles are the same measure (first
input beat accepted -> last output beat first valid). After the last output beat the bench
waits until the accelerator is idle again and two cycles more, so a stray extra beat, a
wrong `last` or a sticky status bit is reported with the inference that caused it.
Timing: see `rilltb.clock`. The parts are tb_accel's (`AccelTB`).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, Event, FallingEdge, with_timeout
from rilltb import PERIOD_NS, StreamBeat, cycle, unpack_lanes
from tb_accel import LANE_BITS, AccelTB, Status

from rill.cosim.image import RunImage
from rill.rt import protocol


class RuntimeTB(AccelTB):
    """AccelTB whose output beats go to the current request instead of a scoreboard."""

    def __init__(self, dut, run_dir: Path, image: RunImage):
        super().__init__(dut, run_dir, image, image.config)
        p = image.program
        self.lanes = p.B
        self.n_in, self.n_out = p.n_in, p.n_out  # of the selected model (model 0 after load)
        self.budget = (self.config.rf_depth + p.length + p.n_in + p.n_out + 64) * 8 + 1000
        self.got: list[StreamBeat] = []
        self.complete = Event()
        self.stray: list[StreamBeat] = []  # beats that came while no inference was running

    def _on_beat(self, beat: StreamBeat) -> None:
        self.got.append(beat)
        if len(self.got) == self.n_out:
            self.complete.set()

    async def load(self) -> None:
        img = self.image
        if img.options.load == "port":
            await self.load_port.write_image(img)
        await self.load_port.write_models(img.program)  # the model table (one entry or more)
        self.sink.start()
        await self.clear_models(None)

    async def use(self, model: int) -> None:
        """Select `model` (MODEL_SELECT, docs/isa.md "Several models") unless it is."""
        if model != self.model:
            await self.select(model, self.budget)
            await FallingEdge(self.dut.clk_i)
        e = self.image.program.model_table()[model]
        self.n_in, self.n_out = e.n_in, e.n_out

    async def clear_models(self, model: int | None) -> None:
        """clear_i zeroes the selected model's registers: every model's (None, each selected
        in turn, then model 0 again) or one model's."""
        n = self.image.program.num_models()
        for m in (range(n) if model is None else [model]):
            if n > 1:
                await self.use(m)
            await self.clear()
        if model is None:
            if n > 1:
                await self.use(0)
            self.model = 0

    async def idle(self) -> None:
        """Until the running program (if any) has finished, then two cycles more (the output
        FIFO's last beat is out)."""
        for _ in range(self.length + 64):
            if self.status_bit(Status.IDLE) or self.status_bit(Status.HALTED):
                break
            await FallingEdge(self.dut.clk_i)
        await ClockCycles(self.dut.clk_i, 2)
        await FallingEdge(self.dut.clk_i)

    async def infer(self, k: int, beats: np.ndarray) -> tuple[dict, bytes]:
        errors = [f"output beat 0x{b.data:x} (cycle {b.cycle}) while no inference ran"
                  for b in self.got]  # stray beats since the previous request
        self.got = []
        self.complete.clear()
        try:
            await self.send(k, beats, None)
            remaining = self.budget
            if len(self.got) < self.n_out:
                await with_timeout(self.complete.wait(), remaining * PERIOD_NS, "ns")
        except TimeoutError as e:  # the input not taken, or too few output beats
            self.source.bus.valid.value = 0  # withdraw a beat left waiting: nothing stale
            self.source.bus.last.value = 0  # may enter after the clear that recovers
            errors.append(f"inference {k}: {e}; received {len(self.got)} of {self.n_out} "
                          f"output beats (status_o=0x{self.status():02x})")
        await self.idle()
        got, self.got = self.got, []
        out = np.zeros((self.n_out, self.lanes), np.uint16)
        for n, beat in enumerate(got[: self.n_out]):
            out[n] = unpack_lanes(beat.data, self.lanes, LANE_BITS)
            if beat.last != (n == self.n_out - 1):
                errors.append(f"inference {k} beat {n} (cycle {beat.cycle}): "
                              f"out_last={int(beat.last)}, expected {int(n == self.n_out - 1)}")
        if len(got) > self.n_out:
            errors.append(f"inference {k}: {len(got) - self.n_out} extra output beats "
                          f"(first at cycle {got[self.n_out].cycle})")
        st = self.status()
        if st & ((1 << Status.ILLEGAL) | (1 << Status.STREAM_ERR)):
            errors.append(f"status_o=0x{st:02x}: illegal/stream-error bit set")
        done = len(got) >= self.n_out and k in self.first_in
        header = {
            "op": "result", "k": k,
            "cycles": got[self.n_out - 1].cycle - self.first_in[k] if done else -1,
            "first_in": self.first_in.get(k, -1), "last_in": self.last_in.get(k, -1),
            "beat_cycles": [b.cycle for b in got], "status": st, "errors": errors,
            "cycle": cycle(),
        }
        return header, protocol.beats_bytes(out)

    async def handle(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        op = header.get("op")
        if op == "infer":
            beats = protocol.bytes_beats(payload, self.lanes)
            await self.use(int(header.get("model", 0)))
            if beats.shape != (self.n_in, self.lanes):
                raise ValueError(f"infer: {beats.shape} beats, model {self.model} takes "
                                 f"{(self.n_in, self.lanes)}")
            return await self.infer(int(header["k"]), beats)
        if op == "clear":
            m = header.get("model")
            await self.clear_models(None if m is None else int(m))
            return {"op": "cleared", "status": self.status(), "cycle": cycle()}, b""
        if op == "status":
            return {"op": "status", "status": self.status(), "cycle": cycle()}, b""
        raise ValueError(f"unknown request {op!r}")


@cocotb.test()
async def serve(dut):
    """Load the program once, then serve rill.rt's requests until it quits."""
    run_dir = Path(os.environ["RILL_RUN_DIR"])
    tb = RuntimeTB(dut, run_dir, RunImage.load(run_dir))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["RILL_RT_SOCKET"])
    try:
        await tb.start()
        await tb.load()
        protocol.send(sock, {"op": "hello", "pid": os.getpid(), "cycle": cycle(),
                             "status": tb.status(), "config": tb.config.rtl_parameters()})
        while True:
            try:
                header, payload = protocol.recv(sock)  # blocks: simulated time stands still
            except protocol.ChannelClosed:
                tb.log.info("rill.rt closed the channel: ending the simulation")
                return
            if header.get("op") == "quit":
                protocol.send(sock, {"op": "bye", "cycle": cycle()})
                return
            try:
                reply, out = await tb.handle(header, payload)
            except Exception as e:  # a request the bench could not serve: say so, go on
                tb.log.exception("request %s failed", header.get("op"))
                reply, out = {"op": "error", "message": f"{type(e).__name__}: {e}",
                              "cycle": cycle()}, b""
            protocol.send(sock, reply, out)
    finally:
        tb.sink.stop()
        sock.close()
