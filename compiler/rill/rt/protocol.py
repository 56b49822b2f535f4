"""The channel between `rill.rt`'s RTL backend and its bench (`cosim/tb_rt.py`).

A unix stream socket: the parent listens on `RUN_DIR/rt.sock` (a short temporary path when
that one is too long for a socket address), the bench connects once the program is loaded.
Every message is one frame:

    u32 header length, u32 payload length (little-endian), header (UTF-8 JSON), payload bytes

The header is a JSON object with an "op"; the payload carries beats as little-endian uint16,
[n, B] row-major (empty for the other ops). Requests and replies alternate, one at a time:

    bench -> parent   hello    {pid, cycle, config}                        (program loaded,
                                                                             cleared, ready)
    parent -> bench   infer    {k}            payload: [n_in, B] input beats
    bench -> parent   result   {k, cycles, first_in, last_in, beat_cycles, status, errors,
                                cycle}        payload: [n_out, B] output beats (zeros if lost)
    parent -> bench   clear    {}        ->   cleared {status, cycle}
    parent -> bench   status   {}        ->   status  {status, cycle}
    parent -> bench   quit     {}        ->   bye     {cycle}; the simulation ends
    bench -> parent   error    {message}      (a request the bench could not serve)

The bench reads with a blocking `recv` inside its cocotb coroutine: simulated time stands still
while the parent thinks. The parent waits for every reply with a deadline and watches the
simulator process, so a dead or stuck simulator is an error, never a hang. This module is
imported on both sides (the bench runs in the simulator's Python, with rill on its path).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time
from collections.abc import Callable

import numpy as np

_FRAME = struct.Struct("<II")
MAX_HEADER = 1 << 24


class ChannelClosed(EOFError):
    """The other end closed the channel (or died)."""


class ChannelTimeout(TimeoutError):
    """No complete message before the deadline."""


def beats_bytes(beats: np.ndarray) -> bytes:
    return np.ascontiguousarray(beats, "<u2").tobytes()


def bytes_beats(payload: bytes, lanes: int) -> np.ndarray:
    return np.frombuffer(payload, "<u2").reshape(-1, lanes).astype(np.uint16)


def send(sock: socket.socket, header: dict, payload: bytes = b"") -> None:
    h = json.dumps(header).encode()
    sock.sendall(_FRAME.pack(len(h), len(payload)) + h + payload)


def _read(sock: socket.socket, n: int, deadline: float | None,
          alive: Callable[[], bool] | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None or alive is not None:
            # poll in short slices: notice a dead peer process at once, not at the deadline
            while True:
                wait = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if wait <= 0:
                    raise ChannelTimeout(f"no reply within the deadline ({len(buf)} of {n} "
                                         "bytes of a frame)")
                if select.select([sock], [], [], wait)[0]:
                    break
                if alive is not None and not alive():
                    raise ChannelClosed("the simulator exited")
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except ConnectionError as e:  # reset by a peer that died
            raise ChannelClosed(f"the channel broke ({e})") from None
        if not chunk:
            raise ChannelClosed("the channel was closed")
        buf += chunk
    return bytes(buf)


def recv(sock: socket.socket, timeout: float | None = None,
         alive: Callable[[], bool] | None = None) -> tuple[dict, bytes]:
    """One message: (header, payload). Blocks (the bench) or waits at most `timeout` seconds
    while `alive()` holds (the parent)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    n_h, n_p = _FRAME.unpack(_read(sock, _FRAME.size, deadline, alive))
    if n_h > MAX_HEADER:
        raise ChannelClosed(f"corrupt frame (header of {n_h} bytes)")
    header = json.loads(_read(sock, n_h, deadline, alive))
    return header, _read(sock, n_p, deadline, alive) if n_p else b""
