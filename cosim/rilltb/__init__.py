"""Reusable cocotb parts for rill's benches, in the manner of cocotbext-axi.

- `StreamSource` / `StreamSink`: a valid/ready/last stream into / out of the DUT, with pause
  generators (iterators of bools: True = an idle input cycle / a not-ready output cycle);
- `LoadPort`: rill_top's load port (instruction, weight and constant words, control registers);
- `Scoreboard`: received beats against expected ones, in order, raw bits;
- `WriteLogMonitor`: every register-bank write (cycle, bank, index, lanes; debug builds only).

These files are package data of rill (`rill/cosim/tb/rilltb`, a symlink to `cosim/rilltb` in
a checkout); the bench runner puts `rill/cosim/tb` on the simulator's Python path.
"""

from .clock import PERIOD_NS, cycle, start_clock
from .loadport import LoadPort
from .scoreboard import Scoreboard
from .stream import (
    StreamBeat,
    StreamBus,
    StreamSink,
    StreamSource,
    cyclic_pauses,
    pack_lanes,
    pause_pattern,
    random_pauses,
    unpack_lanes,
)
from .writelog import WriteLogMonitor

__all__ = [
    "PERIOD_NS", "cycle", "start_clock", "LoadPort", "Scoreboard", "StreamBeat", "StreamBus",
    "StreamSink", "StreamSource", "cyclic_pauses", "pause_pattern", "random_pauses", "pack_lanes",
    "unpack_lanes", "WriteLogMonitor",
]
