"""One long-lived simulation of the accelerator bench `tb_rt.py`, and the channel to it.

The simulator is launched exactly as `rill.cosim.run.simulate` launches it (`run_bench`: the
same environment, plusargs, backdoor files, `procs.own_runner`), from a thread that blocks
until it exits; the bench connects to a unix socket the parent listens on (`protocol`). Every
wait has a deadline and watches that thread, so a simulator that dies ($fatal from an RTL
assertion, a crash) or stops answering raises `SimulatorError` with the tail of its log.
The simulator is a process group of its own (procs); `kill()` ends that group only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from .. import procs
from ..cosim import verilator as vl
from ..cosim.image import RunImage
from ..cosim.run import CosimMismatchError, run_bench
from . import protocol

TB_MODULE = "tb_rt"
TESTCASE = "serve"
SOCKET_NAME = "rt.sock"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


class SimulatorError(CosimMismatchError):
    """The RTL simulation died or stopped answering; `log` is its log file, `tail` the lines
    that tell why (RTL assertion messages, %Error lines, the end of the log)."""

    def __init__(self, message: str, log: Path | None = None, tail: str = ""):
        super().__init__(message)
        self.log, self.tail = log, tail


def log_tail(log: Path, n: int = 12) -> str:
    """What a simulator's log says about its end: its RTL assertion and %Error lines, then
    its last n lines."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
    found = list(dict.fromkeys(ln.strip() for ln in lines if "%Error" in ln
                               or "ASSERT FAILED" in ln or "%Fatal" in ln))
    # the end without cocotb's summary table: a bench's traceback ends just before it
    body = [ln for ln in lines if not ln.strip().startswith(("**", "- :0: Verilog $finish"))
            and not ln.rstrip().endswith("*" * 20)]
    return "\n".join([*found[:10], f"--- the end of {log.name}:", *body[-n:]])


class Simulation:
    """The bench running `image` (its program loaded, cleared) in run_dir on build b."""

    def __init__(self, b: vl.Build, run_dir: Path, image: RunImage, *, waves: bool,
                 timeout: float, startup_timeout: float):
        self.run_dir, self.timeout = run_dir, timeout
        self.log = run_dir / "sim.log"
        self.pid: int | None = None
        self.hello: dict = {}
        self.error: BaseException | None = None  # what run_bench raised, if anything
        self._sock_dir: Path | None = None
        path = run_dir / SOCKET_NAME
        if len(str(path)) > _MAX_SOCKET_PATH:
            self._sock_dir = Path(tempfile.mkdtemp(prefix="rill-rt-"))
            path = self._sock_dir / SOCKET_NAME
        self.socket_path = path
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(1)
        self._conn: socket.socket | None = None
        self._before = procs.owned_children()  # to find the simulator's group before hello
        self._thread = threading.Thread(
            target=self._main, args=(b, image, waves), daemon=True,
            name=f"rill.rt simulator {run_dir.name}")
        self._thread.start()
        try:
            self._connect(startup_timeout)
        except BaseException:
            self.kill()
            raise

    def _main(self, b: vl.Build, image: RunImage, waves: bool) -> None:
        try:
            run_bench(b, self.run_dir, test_module=TB_MODULE, testcase=TESTCASE, image=image,
                      waves=waves, extra_env={"RILL_RT_SOCKET": str(self.socket_path)})
        except BaseException as e:  # noqa: BLE001 (reported by the waits of the parent)
            self.error = e

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._listener.settimeout(0.1)
        while self._conn is None:
            try:
                self._conn, _ = self._listener.accept()
            except TimeoutError:
                if not self.alive():
                    raise self._died("exited before it connected") from None
                if time.monotonic() > deadline:
                    raise self._died(f"did not connect within {timeout:.0f} s") from None
        self._conn.settimeout(None)
        self.hello = self._recv(max(1.0, deadline - time.monotonic()), "load")
        self.pid = int(self.hello["pid"])

    def _died(self, what: str) -> SimulatorError:
        # the thread ends right after the simulator: let it record why
        self._thread.join(timeout=5.0)
        # run_bench's own error repeats the log's; another one (the launch failed) does not
        why = ("" if self.error is None or isinstance(self.error, (CosimMismatchError, SystemExit))
               else f"\n{type(self.error).__name__}: {self.error}")
        tail = log_tail(self.log)
        return SimulatorError(f"the RTL simulation {what} ({self.log}){why}\n{tail}", self.log,
                              tail)

    def _recv(self, timeout: float, doing: str) -> dict:
        header, self.payload = self._recv_frame(timeout, doing)
        if header.get("op") == "error":
            raise CosimMismatchError(f"the RTL bench failed {doing}: {header.get('message')} "
                                     f"({self.log})")
        return header

    def _recv_frame(self, timeout: float, doing: str) -> tuple[dict, bytes]:
        try:
            return protocol.recv(self._conn, timeout, self.alive)
        except protocol.ChannelClosed:
            raise self._died(f"ended during {doing!r}") from None
        except protocol.ChannelTimeout:
            self.kill()  # stuck: end it first, then say what its log shows
            raise self._died(f"did not answer within {timeout:g} s ({doing!r}; killed)"
                             ) from None

    def request(self, header: dict, payload: bytes = b"", timeout: float | None = None
                ) -> tuple[dict, bytes]:
        """Send one request, return the reply (header, payload)."""
        doing = header.get("op", "?")
        if self._conn is None or not self.alive():
            raise self._died(f"is not running ({doing!r})")
        try:
            protocol.send(self._conn, header, payload)
        except OSError:
            raise self._died(f"ended during {doing!r}") from None
        reply = self._recv(self.timeout if timeout is None else timeout, doing)
        return reply, self.payload

    def close(self, timeout: float = 30.0) -> None:
        """Ask the bench to finish (the simulator exits, writing its waves); kill it if it
        does not."""
        if self._conn is not None and self.alive():
            with contextlib.suppress(OSError, protocol.ChannelClosed, protocol.ChannelTimeout):
                protocol.send(self._conn, {"op": "quit"})
                protocol.recv(self._conn, timeout, self.alive)
        self._thread.join(timeout=timeout)
        self.kill()

    def kill(self) -> None:
        """End the simulator's process group (before it said hello: the groups this process
        started since the launch), and the channel."""
        if self._thread.is_alive():
            groups = ({self.pid} if self.pid is not None
                      else procs.owned_children() - self._before)
            for pgid in groups:
                procs.kill_group(pgid)
            self._thread.join(timeout=10.0)
        for s in (self._conn, self._listener):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self._conn = None
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
