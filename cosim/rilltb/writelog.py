"""A monitor on the register-file write ports: every bank write the RTL makes, with its cycle.

`WriteLogMonitor` watches core 0's copy of every bank (rill_rf_bank's we_i / waddr_i /
wdata_i in gen_core[0].u_core.u_regfile.gen_bank[k].u_bank: the write buses are broadcast,
so one copy sees every write) and the core's issue_i (RUN). It samples at falling edges
(rilltb.clock): what it sees in cycle n is written at the rising edge ending cycle n, the
convention of the VM's `write_cycle` (issue + latency - 1, docs/isa.md). A RUN starts in the
cycle issue_i is high for the program's first bundle (every `length`-th issued cycle).

The signals are not VPI-visible in the normal build (only rill_top's ports are): the monitor
needs the debug build (`rill.cosim.run.build_accel(debug=True)`), and costs a Python wake-up
per cycle, so it is off unless the run image asks for it (`RunOptions.write_log`).
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge

from .clock import cycle
from .stream import unpack_lanes


def _sub(handle, name: str, index: int | None = None):
    """handle.name or handle.name[index], for a generate block or an instance."""
    h = getattr(handle, name)
    return h if index is None else h[index]


def bank_core(bank: int) -> int:
    """The core whose unit writes `bank` (2 + 2c matrix, 3 + 2c vector); -1 for banks 0, 1."""
    return (bank - 2) // 2 if bank >= 2 else -1


class WriteLogMonitor:
    """Records (run, cycle in run, absolute cycle, core, bank, idx, lanes) per write, in
    `rows`, and the cycle each RUN started in `starts`; `start()` / `stop()` around the
    run."""

    def __init__(self, dut, clk, num_banks: int, lanes: int, length: int, core: int = 0):
        self.clk, self.lanes, self.length = clk, lanes, max(1, length)
        c = _sub(dut, "gen_core", core)
        self.u_core = _sub(c, "u_core")
        rf = _sub(self.u_core, "u_regfile")
        self.banks = [_sub(_sub(rf, "gen_bank", k), "u_bank") for k in range(num_banks)]
        self.issue = _sub(self.u_core, "issue_i")
        self.rows: list[tuple] = []
        self.starts: list[int] = []  # the cycle each RUN started
        self.run = -1
        self.run_start = 0
        self._issued = 0
        self._task = None

    def start(self) -> None:
        self._task = cocotb.start_soon(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        fall = FallingEdge(self.clk)
        ports = [(k, b.we_i, b.waddr_i, b.wdata_i) for k, b in enumerate(self.banks)]
        while True:
            await fall
            now = cycle()
            if self.issue.value:
                if self._issued % self.length == 0:
                    self.run += 1
                    self.run_start = now
                    self.starts.append(now)
                self._issued += 1
            for k, we, waddr, wdata in ports:
                if we.value:
                    self.rows.append((self.run, now - self.run_start, now, bank_core(k), k,
                                      int(waddr.value),
                                      unpack_lanes(int(wdata.value), self.lanes, 32).tolist()))
