"""The bench clock, and time in cycles.

Everything is driven and sampled on the FALLING clock edge; cycle n is the interval after the
n-th rising edge, so a value sampled at the falling edge of cycle n is what the rising edge
ending cycle n sees.
"""

from __future__ import annotations

from cocotb.clock import Clock
from cocotb.utils import get_sim_time

PERIOD_NS = 10


def start_clock(clk) -> None:
    """The GPI clock: 5-8x faster than a clock toggled from Python."""
    Clock(clk, PERIOD_NS, unit="ns", impl="gpi").start()


def cycle() -> int:
    return int(get_sim_time("ns")) // PERIOD_NS
