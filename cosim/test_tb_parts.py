"""The testbench parts that need no simulator: the scoreboard, lane packing, pause generators."""

from __future__ import annotations

import itertools
import logging
import random

import numpy as np
from rilltb import (
    Scoreboard,
    StreamBeat,
    cyclic_pauses,
    pack_lanes,
    pause_pattern,
    random_pauses,
    unpack_lanes,
)

from rill.cosim import Mismatch


def test_lanes_round_trip():
    lanes = np.array([0x0001, 0xFFFF, 0x7FC1, 0x8000], np.uint16)
    v = pack_lanes(lanes, 16)
    assert v == 0x8000_7FC1_FFFF_0001
    assert np.array_equal(unpack_lanes(v, 4, 16), lanes)
    assert pack_lanes(np.array([1, 2], np.uint32), 32) == 2 << 32 | 1


def test_pause_generators():
    rng = random.Random(3)
    ref = random.Random(3)
    assert list(itertools.islice(cyclic_pauses(rng, 0.3, period=5), 10)) == \
        [ref.random() < 0.3 for _ in range(5)] * 2
    assert not any(itertools.islice(random_pauses(rng, 0.0), 100))
    assert all(itertools.islice(random_pauses(rng, 1.0), 100))
    # a pattern of pauses alone would never take a beat: one slot is made ready
    assert pause_pattern(random.Random(1), 1.0, period=7).count(False) == 1
    assert pause_pattern(random.Random(1), 0.0, period=7) == [False] * 7


def _frames(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1 << 16, (2, 3, 4)).astype(np.uint16)


def _beat(frames: np.ndarray, k: int, n: int, cycle: int, last: bool | None = None) -> StreamBeat:
    return StreamBeat(pack_lanes(frames[k, n], 16), n == 2 if last is None else last, cycle)


def test_scoreboard_checks_last():
    """`last` on a frame's final beat only; a frame ends after its beats either way."""
    exp = _frames(0)
    done = []
    sb = Scoreboard(exp, 16, logging.getLogger("sb"), on_frame=done.append)
    lasts = {(0, 1): True, (1, 2): False}  # early in frame 0, missing in frame 1
    for k in range(2):
        for n in range(3):
            sb.compare(_beat(exp, k, n, 10 * k + n, lasts.get((k, n))))
    assert done == [0, 1] and not sb.mismatches
    assert sb.errors == ["inference 0 beat 1 (cycle 1): out_last=1, expected 0",
                         "inference 1 beat 2 (cycle 12): out_last=0, expected 1"]


def test_scoreboard_reports_the_first_mismatch(caplog):
    exp = _frames(1)
    got = exp.copy()
    got[1, 0, 2] ^= 0x0001
    got[1, 2, 3] ^= 0x8000
    sb = Scoreboard(exp, 16, logging.getLogger("sb"))
    with caplog.at_level(logging.ERROR):
        for k in range(2):
            for n in range(3):
                sb.compare(_beat(got, k, n, 10 * k + n))
        sb.compare(StreamBeat(0xABC, True, 99))
    assert sb.mismatches == [Mismatch(1, 0, 2, int(exp[1, 0, 2]), int(got[1, 0, 2]), 10),
                             Mismatch(1, 2, 3, int(exp[1, 2, 3]), int(got[1, 2, 3]), 12)]
    assert str(sb.mismatches[0]) == (f"inference 1 beat 0 element 2: expected "
                                     f"0x{exp[1, 0, 2]:04x} actual 0x{got[1, 0, 2]:04x} (cycle 10)")
    assert sb.errors == ["cycle 99: unexpected extra output beat 0xabc"]
    assert sb.frames_done == 2 and np.array_equal(sb.frames(), got)
    (first,) = [r.getMessage() for r in caplog.records]  # logged once, the whole beat
    assert first.startswith("first mismatch: inference 1 beat 0 (cycle 10), lanes [2]")
    assert f"expected 0x{pack_lanes(exp[1, 0], 16):016x}" in first
    assert f"actual   0x{pack_lanes(got[1, 0], 16):016x}" in first
