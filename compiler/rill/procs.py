"""One owner for every child process rill starts (Verilator, make, the compilers, the simulator,
yosys, nextpnr): `run()` starts each command in a process group of its own and kills the whole
group when the caller stops early.

Without it, SIGTERM killed Python and left make and the C++ compiler running (the next build
then failed on half-written precompiled headers), and orphaned simulators. Now:

- each command is a session (and process group) leader, so `killpg` reaches everything it
  started, and a terminal's Ctrl-C reaches only Python, which then kills the group;
- while a command runs, SIGTERM and SIGHUP to Python (left at their default action) raise
  `Interrupted(128 + signal)`, a SystemExit, so the group is killed (SIGTERM, then SIGKILL
  after GRACE_S) and
  the exception goes on to the caller;
- the child asks the kernel for SIGTERM when Python dies (`PR_SET_PDEATHSIG`, Linux), which
  covers even SIGKILL of Python: make passes SIGTERM on to its jobs.

`owned_children()` lists the groups alive right now (tests use it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

GRACE_S = 3.0  # from SIGTERM to SIGKILL of a group
_PR_SET_PDEATHSIG = 1

_live: set[int] = set()  # process group ids of running commands
_lock = threading.Lock()

try:
    _libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover
    _libc = None


def _child_setup() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def owned_children() -> set[int]:
    """Process group ids of the commands running now."""
    with _lock:
        return set(_live)


def kill_group(pgid: int, grace_s: float = GRACE_S) -> None:
    """SIGTERM the group, then SIGKILL what is left after grace_s."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


class Interrupted(SystemExit):
    """SIGTERM or SIGHUP arrived while a command ran (code: 128 + the signal). Callers that
    catch SystemExit from a tool (the cocotb runner exits on failures) must let this one go."""


def _raise_exit(signum: int, _frame: object) -> None:
    raise Interrupted(128 + signum)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP -> SystemExit for the duration, where they have their default action
    and we are on the main thread (signal handlers can only be set there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            old[sig] = signal.signal(sig, _raise_exit)
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def run(cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
    """subprocess.run(cmd, **kw) with the command in its own process group, killed whole if
    the caller is interrupted (exception, Ctrl-C, SIGTERM, timeout)."""
    timeout = kw.pop("timeout", None)
    check = kw.pop("check", False)
    kw.pop("start_new_session", None)
    if kw.pop("capture_output", False):
        kw["stdout"] = kw["stderr"] = subprocess.PIPE
    with _signals_raise():
        proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_child_setup, **kw)
        with _lock:
            _live.add(proc.pid)
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            with _lock:
                _live.discard(proc.pid)
    # the command is done; anything it left behind in its group goes too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check:
        res.check_returncode()
    return res


def own_runner(runner):
    """A cocotb_tools runner whose commands (verilator, make, the simulator) go through run()."""

    def _execute_cmds(cmds, cwd, stdout=None):
        for cmd in cmds:
            runner.log.info("Running command %s in directory %s", " ".join(map(str, cmd)), cwd)
            stderr = None if stdout is None else subprocess.STDOUT
            result = run(cmd, cwd=cwd, env=runner.env, stdout=stdout, stderr=stderr)
            if result.returncode != 0:
                raise RuntimeError(f"Command failed with return code: {result.returncode}")

    runner._execute_cmds = _execute_cmds
    return runner
