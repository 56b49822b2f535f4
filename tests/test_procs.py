"""rill.procs: every child rill starts dies with it (issue 8 item 3)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from rill import procs
from rill.cosim import verilator as vl

PY = sys.executable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def wait_for(cond, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def start_python(code: str) -> subprocess.Popen:
    return subprocess.Popen([PY, "-c", textwrap.dedent(code)])


def pids_in_file(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_sigterm_to_python_kills_the_whole_group(tmp_path):
    """A shell with two background jobs (as make runs compilers): SIGTERM to Python leaves
    none of them running, and Python exits with 128 + SIGTERM."""
    f = tmp_path / "pids"
    p = start_python(f"""
        from rill import procs
        procs.run(["sh", "-c", "sleep 300 & echo $! >> {f}; sleep 300 & echo $! >> {f}; "
                   "echo $$ >> {f}; wait"])
    """)
    assert wait_for(lambda: len(pids_in_file(f)) == 3)
    pids = pids_in_file(f)
    assert all(alive(q) for q in pids)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 128 + signal.SIGTERM
    assert wait_for(lambda: not any(alive(q) for q in pids)), pids


def test_exception_in_the_caller_kills_the_group(tmp_path):
    f = tmp_path / "pids"
    with pytest.raises(subprocess.TimeoutExpired):
        procs.run(["sh", "-c", f"sleep 300 & echo $! >> {f}; wait"], timeout=1.0)
    (pid,) = pids_in_file(f)
    assert wait_for(lambda: not alive(pid))
    assert not procs.owned_children()


def test_sigkill_of_python_still_stops_the_child(tmp_path):
    """Python killed outright cannot clean up: the kernel sends the child SIGTERM
    (PR_SET_PDEATHSIG)."""
    f = tmp_path / "pids"
    p = start_python(f"""
        from rill import procs
        procs.run(["sh", "-c", "echo $$ >> {f}; exec sleep 300"])
    """)
    assert wait_for(lambda: len(pids_in_file(f)) == 1)
    (pid,) = pids_in_file(f)
    p.kill()
    p.wait(timeout=20)
    assert wait_for(lambda: not alive(pid)), pid


def test_a_finished_command_leaves_nothing_behind(tmp_path):
    f = tmp_path / "pids"
    r = procs.run(["sh", "-c", f"sleep 300 >/dev/null 2>&1 & echo $! >> {f}; echo done"],
                  capture_output=True, text=True)
    assert r.returncode == 0
    (pid,) = pids_in_file(f)
    assert wait_for(lambda: not alive(pid))


def stat(pid: int) -> tuple[str, int, int] | None:
    """(command name, parent pid, session id) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    f = text[text.rindex(")") + 2 :].split()
    return (name, int(f[1]), int(f[3])) if f[0] != "Z" else None


def processes() -> dict[int, tuple[str, int, int]]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (st := stat(int(d.name))) is not None:
            out[int(d.name)] = st
    return out


def descendants(root: int) -> dict[int, tuple[str, int, int]]:
    ps = processes()
    found, grew = {root}, True
    while grew:
        new = {p for p, (_, ppid, _) in ps.items() if ppid in found} - found
        found |= new
        grew = bool(new)
    return {p: ps[p] for p in found - {root}}


def test_sigterm_during_a_verilator_build_then_a_clean_rebuild():
    """The defect as reported: SIGTERM in the middle of a Verilator build left make and the
    compiler running, and the next build failed on torn precompiled headers."""
    tag = f"RILL_PROCS_TEST_{uuid.uuid4().hex[:8]}"
    srcs = ["rill_lzc.sv", "rill_fp32_round.sv", "rill_fp32_add.sv"]
    p = start_python(f"""
        from rill.cosim import verilator as vl
        vl.build("rill_fp32_add", {srcs!r}, defines={{"{tag}": 1}}, hier_blocks=())
    """)
    sessions: set[int] = set()

    ours = {os.getsid(0), os.getsid(p.pid)}  # quick tool probes (--version) stay in ours

    def compiling() -> bool:
        kids = descendants(p.pid)
        sessions.update(sid for _, _, sid in kids.values() if sid not in ours)
        return any(name == "make" for name, _, _ in kids.values()) and \
            any(name not in ("make", "sh") for name, _, _ in kids.values())

    started = wait_for(compiling, 180)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    assert started, "the build never reached make"
    assert rc == 128 + signal.SIGTERM

    def left() -> list:
        return [(q, st) for q, st in processes().items() if st[2] in sessions]

    assert wait_for(lambda: not left(), 20), left()
    b = vl.build("rill_fp32_add", srcs, defines={tag: 1}, hier_blocks=())
    assert not b.cached and (b.build_dir / b.toplevel).exists()
    shutil.rmtree(b.build_dir, ignore_errors=True)
