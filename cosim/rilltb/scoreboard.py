"""In-order scoreboard: output beats against the model's, raw bits, lane by lane.

Frames are inferences: frame k must be exactly `expected[k]` (beat by beat, every lane's bits),
with `last` on its final beat and nowhere else, and frames arrive in order. Every differing
lane is recorded as a `Mismatch`; the first differing beat is also logged whole, expected vs
actual in hex. No tolerance: NaN payloads, signed zeros and subnormals compare as bits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from rill.cosim.image import Mismatch, beat_mismatch

from .stream import StreamBeat, unpack_lanes


class Scoreboard:
    def __init__(self, expected: np.ndarray, lane_bits: int, log: logging.Logger,
                 on_frame: Callable[[int], None] | None = None,
                 frame_beats: list[int] | None = None):
        self.expected = np.asarray(expected)  # [frames, beats, lanes]
        # beats of each frame (frames of different lengths: a program of several models, the
        # expected array zero padded); default: every frame is expected.shape[1] beats
        self.frame_beats = frame_beats or [self.expected.shape[1]] * len(self.expected)
        self.lane_bits = lane_bits
        self.log = log
        self.on_frame = on_frame  # called with k when frame k is complete
        self.received: list[list[StreamBeat]] = [[] for _ in range(len(self.expected))]
        self.frames_done = 0
        self.mismatches: list[Mismatch] = []
        self.errors: list[str] = []

    @property
    def beats_per_frame(self) -> int:
        """Of the frame now being received."""
        k = min(self.frames_done, len(self.frame_beats) - 1)
        return self.frame_beats[k]

    def compare(self, beat: StreamBeat) -> None:
        k = self.frames_done
        if k >= len(self.expected):
            self.errors.append(f"cycle {beat.cycle}: unexpected extra output beat 0x{beat.data:x}")
            return
        got = self.received[k]
        n = len(got)
        got.append(beat)
        exp = self.expected[k, n]
        lanes = unpack_lanes(beat.data, len(exp), self.lane_bits)
        diff = np.nonzero(lanes != exp)[0]
        if diff.size and not self.mismatches:
            self.log.error("%s", beat_mismatch(k, n, beat.cycle, exp, lanes))
        self.mismatches += [Mismatch(k, n, int(e), int(exp[e]), int(lanes[e]), beat.cycle)
                            for e in diff]
        want_last = n == self.frame_beats[k] - 1
        if beat.last != want_last:
            self.errors.append(f"inference {k} beat {n} (cycle {beat.cycle}): "
                               f"out_last={int(beat.last)}, expected {int(want_last)}")
        if want_last:
            self.frames_done += 1
            if self.on_frame is not None:
                self.on_frame(k)

    def frames(self) -> np.ndarray:
        """What was received, shaped like `expected` (zeros where a beat is missing)."""
        out = np.zeros_like(self.expected)
        for k, got in enumerate(self.received):
            for n, beat in enumerate(got):
                out[k, n] = unpack_lanes(beat.data, self.expected.shape[2], self.lane_bits)
        return out
