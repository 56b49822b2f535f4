"""Progress of Verilator builds and long cosims on stderr: one status line, rewritten in place.

    rill_top c1b8: C++ compile (12 objects)  0:41
    rill_top c1b8: simulate  37/100 inferences  52,300 cycles/s  0:12  ETA 0:21

When: on when stderr is a terminal; off when it is not (CI logs, pipes), under pytest
(PYTEST_CURRENT_TEST is set) and with RILL_PROGRESS=0; RILL_PROGRESS=1 forces it on (even into
a pipe or under pytest). Off costs nothing: no thread, no file polling.

A build's phase (verilate, C++ compile, link) is read from the build log as the tools write
it (a thread polls it, `build_status`); a simulation's progress from a small JSON file the
bench rewrites once per finished inference (`sim_status`, `write_sim_progress`), since the
simulation runs in a child process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

ENV = "RILL_PROGRESS"
SIM_PROGRESS_FILE = "progress.json"  # in the run directory, written by the bench
POLL_S = 0.5


def enabled(stream: TextIO | None = None) -> bool:
    """Whether progress is shown on `stream` (default stderr); see the module docstring."""
    force = os.environ.get(ENV, "").strip().lower()
    if force in ("1", "true", "yes", "on"):
        return True
    if force in ("0", "false", "no", "off"):
        return False
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def fmt_seconds(s: float) -> str:
    s = max(0, int(s))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class StatusLine:
    """One line on a terminal, rewritten by `update` (at most every `min_interval` s unless
    forced) and ended by `close`. Inert when progress is off (`enabled`)."""

    def __init__(self, label: str, stream: TextIO | None = None, on: bool | None = None,
                 min_interval: float = 0.2):
        self.stream = sys.stderr if stream is None else stream
        self.on = enabled(self.stream) if on is None else on
        self.label = label
        self.t0 = time.monotonic()
        self.min_interval = min_interval
        self._last = 0.0
        self._width = 0
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def update(self, text: str, force: bool = False) -> None:
        if not self.on:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self.min_interval:
                return
            self._last = now
            line = f"{self.label}: {text}"
            pad = max(0, self._width - len(line))
            self._width = len(line)
            try:
                self.stream.write("\r" + line + " " * pad)
                self.stream.flush()
            except (OSError, ValueError):
                self.on = False

    def close(self, text: str | None = None) -> None:
        if not self.on:
            return
        if text is not None:
            self.update(text, force=True)
        with self._lock:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self.on = False


class _Poller:
    """Calls `tick` every POLL_S seconds in a daemon thread until stopped."""

    def __init__(self, tick) -> None:
        self._tick, self._stop = tick, threading.Event()
        self._thread = threading.Thread(target=self._run, name="rill-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            with contextlib.suppress(Exception):  # progress must never break a build
                self._tick()

    def __enter__(self) -> _Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * POLL_S)


# ---------------------------------------------------------------------------------------------
# builds

_COMPILE = re.compile(r"\s-c\s+-o\s+\S+\.o\b")


def build_phase(log_text: str, toplevel: str) -> tuple[str, int]:
    """The phase of a build from its log so far: ("verilate" | "C++ compile" | "link",
    objects compiled so far)."""
    objects = 0
    phase = "verilate"
    link = re.compile(rf"\s-o\s+\S*\b{re.escape(toplevel)}(\s|$)")
    for line in log_text.splitlines():
        if _COMPILE.search(line):
            objects += 1
            phase = "C++ compile"
        elif objects and link.search(line):
            phase = "link"
    return phase, objects


@contextlib.contextmanager
def build_status(toplevel: str, log: Path, label: str | None = None,
                 stream: TextIO | None = None) -> Iterator[StatusLine]:
    """Show a build's phase and elapsed time while the body runs (the body builds and writes
    `log`)."""
    st = StatusLine(label or f"verilator {toplevel}", stream)
    if not st.on:
        yield st
        return

    def tick() -> None:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            text = ""
        phase, n = build_phase(text, toplevel)
        what = f"{phase} ({n} objects)" if phase == "C++ compile" else phase
        st.update(f"{what}  {fmt_seconds(st.elapsed)}", force=True)

    ok = False
    st.update(f"verilate  {fmt_seconds(0)}", force=True)
    try:
        with _Poller(tick):
            yield st
        ok = True
    finally:
        st.close(f"{'built' if ok else 'stopped'} in {fmt_seconds(st.elapsed)}")


# ---------------------------------------------------------------------------------------------
# simulations


def write_sim_progress(run_dir: Path, done: int, total: int, cycles: int) -> None:
    """The bench's side: `done` of `total` inferences finished, `cycles` simulated so far."""
    tmp = run_dir / (SIM_PROGRESS_FILE + ".tmp")
    tmp.write_text(json.dumps({"done": done, "total": total, "cycles": cycles}))
    tmp.replace(run_dir / SIM_PROGRESS_FILE)


def sim_text(done: int, total: int, cycles: int, elapsed: float) -> str:
    rate = cycles / elapsed if elapsed > 0 else 0.0
    eta = ""
    if 0 < done < total:
        eta = f"  ETA {fmt_seconds(elapsed * (total - done) / done)}"
    return (f"simulate  {done}/{total} inferences  {rate:,.0f} cycles/s  "
            f"{fmt_seconds(elapsed)}{eta}")


@contextlib.contextmanager
def sim_status(run_dir: Path, total: int, label: str = "cosim",
               stream: TextIO | None = None) -> Iterator[StatusLine]:
    """Show a simulation's progress (inferences done, simulated cycles/s, ETA) from the file
    the bench writes into run_dir while the body runs the simulator."""
    st = StatusLine(label, stream)
    if not st.on:
        yield st
        return
    path = run_dir / SIM_PROGRESS_FILE
    path.unlink(missing_ok=True)
    state = {"done": 0, "total": total, "cycles": 0}

    def tick() -> None:
        with contextlib.suppress(OSError, ValueError):
            state.update(json.loads(path.read_text()))
        st.update(sim_text(state["done"], state["total"], state["cycles"], st.elapsed),
                  force=True)

    try:
        with _Poller(tick):
            yield st
    finally:
        tick()
        st.close()
