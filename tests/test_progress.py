"""Progress on stderr (rill.cosim.progress, issue 14 item 4): off under pytest, off when stderr
is not a terminal, off with RILL_PROGRESS=0, on when forced with RILL_PROGRESS=1; the build
phases read from a build log, the simulation's from the bench's progress file."""

from __future__ import annotations

import io
import json
import sys
import threading
import time

import pytest

from rill.cosim import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_under_pytest_even_on_a_terminal(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    assert "PYTEST_CURRENT_TEST" in __import__("os").environ
    assert not progress.enabled(_Tty())
    st = progress.StatusLine("x", _Tty())
    st.update("hello", force=True)
    st.close("done")
    assert st.stream.getvalue() == ""


def test_quiet_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    assert not progress.enabled(io.StringIO())
    assert progress.enabled(_Tty())
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.enabled(_Tty())


def test_quiet_on_real_stderr_under_pytest(monkeypatch, capsys):
    """The default stream (sys.stderr): nothing is written while pytest runs."""
    monkeypatch.delenv(progress.ENV, raising=False)
    st = progress.StatusLine("rill_top")
    st.update("verilate", force=True)
    st.close("built")
    assert capsys.readouterr().err == ""


def test_forced_on(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.enabled(io.StringIO())  # not a terminal, under pytest: forced anyway
    st = progress.StatusLine("rill_top")
    st.update("verilate  0:01", force=True)
    st.close("built in 0:02")
    err = capsys.readouterr().err
    assert "rill_top: verilate  0:01" in err and err.endswith("\n")
    assert err.split("\r")[-1].rstrip() == "rill_top: built in 0:02"  # the line, rewritten


def test_build_phase_from_log():
    log = ("/x/verilator -cc --exe -Mdir /b --top-module rill_top ...\n"
           "- V e r i l a t i o n   R e p o r t: ...\n")
    assert progress.build_phase(log, "rill_top") == ("verilate", 0)
    log += ("ccache c++ -Os -I. -MMD -DVM_TRACE=0 -c -o verilated.o /v/verilated.cpp\n"
            "ccache c++ -Os -I. -MMD -DVM_TRACE=0 -c -o Vtop__ALL.o Vtop__ALL.cpp\n")
    assert progress.build_phase(log, "rill_top") == ("C++ compile", 2)
    log += "c++    verilator.o verilated.o Vtop__ALL.a   -Wl,-rpath,/l -o rill_top\n"
    assert progress.build_phase(log, "rill_top") == ("link", 2)


def test_build_status_follows_the_log(monkeypatch, tmp_path):
    monkeypatch.setattr(progress, "POLL_S", 0.02)
    log = tmp_path / "build.log"
    log.write_text("verilator -cc ...\n")
    out = _Tty()
    monkeypatch.setenv(progress.ENV, "1")
    with progress.build_status("rill_top", log, stream=out):
        time.sleep(0.1)
        with log.open("a") as fh:
            fh.write("ccache c++ -O1 -c -o a.o a.cpp\n")
        time.sleep(0.1)
        with log.open("a") as fh:
            fh.write("c++ a.o -o rill_top\n")
        time.sleep(0.1)
    text = out.getvalue()
    assert "verilate" in text and "C++ compile (1 objects)" in text and "link" in text
    assert text.endswith("\n") and "built in 0:00" in text


def test_build_status_off_starts_no_thread(monkeypatch, tmp_path):
    monkeypatch.delenv(progress.ENV, raising=False)
    before = threading.active_count()
    with progress.build_status("rill_top", tmp_path / "build.log", stream=_Tty()) as st:
        assert not st.on and threading.active_count() == before


def test_sim_status(monkeypatch, tmp_path):
    monkeypatch.setattr(progress, "POLL_S", 0.02)
    monkeypatch.setenv(progress.ENV, "1")
    out = _Tty()
    with progress.sim_status(tmp_path, 4, "cosim lstm", stream=out):
        progress.write_sim_progress(tmp_path, 1, 4, 5000)
        time.sleep(0.1)
        progress.write_sim_progress(tmp_path, 2, 4, 10000)
        time.sleep(0.1)
    text = out.getvalue()
    assert "cosim lstm: simulate  2/4 inferences" in text and "cycles/s" in text
    assert "ETA" in text
    assert json.loads((tmp_path / progress.SIM_PROGRESS_FILE).read_text())["done"] == 2


@pytest.mark.parametrize(("s", "want"), [(0, "0:00"), (61.5, "1:01"), (3725, "1:02:05")])
def test_fmt_seconds(s, want):
    assert progress.fmt_seconds(s) == want


def test_default_stream_is_stderr():
    assert progress.StatusLine("x").stream is sys.stderr
