"""valid/ready(+last) streams: a source that drives one into the DUT, a sink that takes one out.

Transfer on `valid & ready` at a rising edge; the source holds data and last while
`valid & !ready`, the sink checks that the DUT does. Both act at falling edges and wait on
edges of valid/ready rather than polling, to keep Python off the per-cycle path; so, unlike
cocotbext-axi's parts, the pause generators are advanced once per beat (the source: before
presenting a beat; the sink: in each cycle a beat is valid), not once per clock.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import random
from collections.abc import Callable, Iterator, Sequence

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, with_timeout

from .clock import PERIOD_NS, cycle


def random_pauses(rng: random.Random, p: float) -> Iterator[bool]:
    """Independent pauses with probability p (a geometric number of idle cycles per beat)."""
    while True:
        yield rng.random() < p


def pause_pattern(rng: random.Random, p: float, period: int = 61) -> list[bool]:
    """`period` pauses with probability p, at least one of them not a pause: a pattern of
    pauses alone would never take a beat (at p = 0.97 one in six patterns of 61)."""
    pattern = [rng.random() < p for _ in range(period)]
    if all(pattern):
        pattern[rng.randrange(period)] = False
    return pattern


def cyclic_pauses(rng: random.Random, p: float, period: int = 61) -> Iterator[bool]:
    """A random pattern of `period` pauses with probability p, repeated (drawn at once)."""
    return itertools.cycle(pause_pattern(rng, p, period))


def beat_positions(i: int, n: int) -> tuple[str, ...]:
    """Where beat i of an n-beat frame is: ("first",), ("last",), both, or ("middle",)."""
    pos = tuple(p for p, hit in (("first", i == 0), ("last", i == n - 1)) if hit)
    return pos or ("middle",)


def _lane_dtype(width: int) -> str:
    if width not in (8, 16, 32, 64):
        raise ValueError(f"lane width {width}: 8, 16, 32 or 64")
    return f"<u{width // 8}"


def pack_lanes(lanes: np.ndarray, width: int) -> int:
    """Lanes -> one integer, lane i in bits [i*width +: width]."""
    return int.from_bytes(np.asarray(lanes).astype(_lane_dtype(width)).tobytes(), "little")


def unpack_lanes(value: int, n: int, width: int) -> np.ndarray:
    """The inverse of `pack_lanes`: n lanes as unsigned integers of `width` bits."""
    raw = value.to_bytes(n * width // 8, "little")
    return np.frombuffer(raw, _lane_dtype(width)).astype(f"u{width // 8}")


@dataclasses.dataclass(frozen=True)
class StreamBus:
    """The four signals of a stream, named as the DUT sees them (`into`, `out_of`)."""

    valid: object
    ready: object
    data: object
    last: object

    @classmethod
    def into(cls, dut, prefix: str) -> StreamBus:
        """A DUT input stream: `<prefix>_valid_i`, `_ready_o`, `_data_i`, `_last_i`."""
        return cls(*(getattr(dut, f"{prefix}_{s}") for s in ("valid_i", "ready_o", "data_i",
                                                              "last_i")))

    @classmethod
    def out_of(cls, dut, prefix: str) -> StreamBus:
        """A DUT output stream: `<prefix>_valid_o`, `_ready_i`, `_data_o`, `_last_o`."""
        return cls(*(getattr(dut, f"{prefix}_{s}") for s in ("valid_o", "ready_i", "data_o",
                                                              "last_o")))


@dataclasses.dataclass(frozen=True)
class StreamBeat:
    data: int
    last: bool
    cycle: int  # the first cycle the beat was valid (not the cycle it was taken)


class StreamSource:
    """Drives frames of beats into the DUT; `send` returns when the frame's last beat is taken.

    A stall longer than `stall_cycles` raises TimeoutError (None: wait forever). `gaps`
    counts the beats preceded by idle cycles, by position in the frame (`beat_positions`)."""

    def __init__(self, bus: StreamBus, clk, stall_cycles: int | None = None):
        self.bus, self.clk, self.stall_cycles = bus, clk, stall_cycles
        self._pause: Iterator[bool] | None = None
        self.gaps: collections.Counter[str] = collections.Counter()
        bus.valid.value = 0
        bus.data.value = 0
        bus.last.value = 0

    def set_pause_generator(self, generator: Iterator[bool] | None = None) -> None:
        self._pause = generator

    def clear_pause_generator(self) -> None:
        self._pause = None

    async def send(self, beats: Sequence[int], last: Sequence[bool] | None = None
                   ) -> tuple[int, int]:
        """Drive `beats` (raw words), `last` on the final one unless given per beat; return the
        cycles in which the first and the last beat were accepted. Call at a falling edge;
        returns at one."""
        bus, fall = self.bus, FallingEdge(self.clk)
        n = len(beats)
        lasts = [i == n - 1 for i in range(n)] if last is None else list(last)
        t_first = t_last = -1
        for i, word in enumerate(beats):
            if self._pause is not None:
                paused = False
                while next(self._pause):
                    paused = True
                    bus.valid.value = 0
                    await fall
                if paused:
                    self.gaps.update(beat_positions(i, n))
            bus.valid.value = 1
            bus.data.value = word
            bus.last.value = int(lasts[i])
            while not bus.ready.value:  # ready changes only at rising edges
                await self._ready_rises(i)
                await fall
            t_last = cycle()  # accepted at the rising edge ending this cycle
            if i == 0:
                t_first = t_last
            await fall
        bus.valid.value = 0
        bus.last.value = 0
        return t_first, t_last

    async def _ready_rises(self, beat: int) -> None:
        if self.stall_cycles is None:
            await RisingEdge(self.bus.ready)
            return
        try:
            await with_timeout(RisingEdge(self.bus.ready), self.stall_cycles * PERIOD_NS, "ns")
        except TimeoutError as e:  # SimTimeoutError
            raise TimeoutError(f"cycle {cycle()}: beat {beat} not accepted in "
                               f"{self.stall_cycles} cycles") from e


class StreamSink:
    """Takes beats out of the DUT, checks that valid is held and data/last are stable while
    valid & !ready (findings in `errors`), and hands each beat to `callback`. `taken` holds the
    cycle each beat was taken; `stalls` counts the beats held back by !ready, by position in the
    frame (first, middle, last; frames end at `last`)."""

    def __init__(self, bus: StreamBus, clk, callback: Callable[[StreamBeat], None]):
        self.bus, self.clk, self.callback = bus, clk, callback
        self._pause: Iterator[bool] | None = None
        self.errors: list[str] = []
        self.taken: list[int] = []
        self.stalls: collections.Counter[str] = collections.Counter()
        self._frame_pos = 0  # beats of the current frame taken so far
        self._task = None
        bus.ready.value = 0

    def set_pause_generator(self, generator: Iterator[bool] | None = None) -> None:
        self._pause = generator

    def clear_pause_generator(self) -> None:
        self._pause = None

    def start(self) -> None:
        self._task = cocotb.start_soon(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        bus, fall = self.bus, FallingEdge(self.clk)
        held = None  # (data, last) of a beat seen valid but not taken
        first_valid = 0
        while True:
            if not bus.valid.value:
                if held is not None:
                    self.errors.append(f"cycle {cycle()}: valid dropped before the beat was "
                                       "taken")
                    held = None
                if self._pause is None:  # ready while idle: the DUT takes nothing anyway
                    bus.ready.value = 1
                await RisingEdge(bus.valid)
                await fall
            ready = self._pause is None or not next(self._pause)
            bus.ready.value = int(ready)
            data, last = int(bus.data.value), bool(bus.last.value)
            now = cycle()
            if held is None:
                first_valid = now
            elif held != (data, last):
                self.errors.append(f"cycle {now}: data/last changed while valid & !ready")
            if not ready:
                if held is None:
                    self.stalls.update(("first",) * (self._frame_pos == 0) + ("last",) * last
                                       or ("middle",))
                held = (data, last)
                await fall
                continue
            held = None
            self.taken.append(now)
            self._frame_pos = 0 if last else self._frame_pos + 1
            self.callback(StreamBeat(data, last, first_valid))
            await fall
