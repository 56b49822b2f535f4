"""First-divergence triage on a deliberately broken RTL build (issue 14, item 2).

RILL_BREAK_ROUNDING (rtl/rill_fp32_round.sv) makes every fp32 rounding tie go up instead of to
even. The program computes (x + y) - x with x = 1.0 and y = 2^-24 in lane 0: the ADD is an exact
tie (1 + 2^-24 lies halfway between 1.0 and the next fp32), so the VM writes 1.0 and the broken
RTL 1.0 + 2^-23; the exact SUB then makes the error visible at the bf16 output (0 vs 2^-23),
where the ADD's own result would have rounded away. `rill.cosim.run` must name the ADD's write
as the first differing one, with the VM's expected bits, and leave FST waves around it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rill
from rill.cosim.divergence import PERIOD_NS
from rill.cosim.run import CosimMismatchError, run

BREAK = {"RILL_BREAK_ROUNDING": 1}


class TieAdd(torch.nn.Module):
    def forward(self, x, y):
        return (x + y) - x


def _program():
    x = torch.zeros(8)
    gm, _ = rill.fx.prepare_shape(TieAdd(), x, x)
    return rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c1b8(), name="tie-add")


def _inputs():
    """Inference 0 has no tie (the outputs agree); inference 1 has one in lane 0, inference 2
    in lanes 0 and 5; the lanes without one add 0.5 (exact)."""
    xs, ys = np.ones((3, 8), np.float32), np.full((3, 8), 0.5, np.float32)
    ys[1, 0] = ys[2, 0] = ys[2, 5] = 2.0 ** -24
    return [(xs[k], ys[k]) for k in range(3)]


def _vm_add(program, inference_inputs):
    """The VM's record of the ADD (the first op: its write is the first the RTL gets wrong)."""
    recs = []
    program.to_vm().run_beats(program.input_beats(inference_inputs), trace=recs.append)
    return next(r for r in recs if r["op"] == "ADD")


def test_first_divergence_on_broken_rounding():
    program = _program()
    inputs = _inputs()
    with pytest.raises(CosimMismatchError) as ei:
        run(program, inputs, defines=BREAK, name="tie-add-broken")
    msg = str(ei.value)
    assert "first differing register write" in msg, msg
    # the same findings, structured
    res = ei.value.result
    assert res is not None and not res.ok and res.divergence_error is None
    assert {m.inference for m in res.mismatches} == {1, 2}
    d = res.divergence
    assert d is not None, "no divergence found"
    add = _vm_add(program, inputs[1])
    assert (d.kind, d.inference, d.op, d.cycle, d.issue_cycle) == \
        ("value", 1, "ADD", add["write_cycle"], add["cycle"])
    assert (d.core, d.bank, d.idx) == (0, add["dst"]["bank"], add["dst"]["idx"])
    assert [(s["bank"], s["idx"]) for s in d.srcs] == \
        [(s["bank"], s["idx"]) for s in add["srcs"]]
    assert d.lanes == [0]
    assert d.expected == [int(add["value"][0], 16)] == [0x3F800000]  # round to even: 1.0
    assert d.actual == [0x3F800001]  # the broken tie: up
    assert d.nnir_op == "add" and d.source and "return (x + y) - x" in d.source
    for part in (f"inference 1, cycle {d.cycle}", "ADD", "lane 0: expected 0x3f800000 actual "
                 "0x3f800001", str(d.waves)):
        assert part in msg, (part, msg)
    assert d.waves is not None and d.waves.suffix == ".fst"
    assert d.waves.is_file() and d.waves.stat().st_size > 0
    lo, hi = d.wave_cycles
    assert lo <= d.abs_cycle <= hi
    # a window, not the whole run: the FST starts at its first cycle (header: block type 0,
    # length, start time, end time, big-endian; time unit 1 ps, rill.cosim.verilator)
    head = d.waves.read_bytes()[:25]
    assert head[0] == 0 and int.from_bytes(head[9:17], "big") == lo * PERIOD_NS * 1000 > 0


def test_write_log_and_diagnosis_from_it():
    """With the write log on from the start (run(write_log=True)): the log holds every write
    of the program's ops with the VM's value and cycle where the rounding is not at fault
    (inference 0 has no tie), and the diagnosis reads it instead of re-running for it."""
    from rill.cosim.divergence import vm_writes
    from rill.cosim.run import make_image

    program = _program()
    inputs = _inputs()
    res = run(program, inputs, defines=BREAK, write_log=True, check=False,
              name="tie-add-log")
    log = res.write_log
    assert log is not None and sorted(set(log.run.tolist()) - {-1}) == [0, 1, 2]
    img = make_image(program, inputs)
    want = vm_writes(img, 0, 0)[0]
    got = {(int(c), int(b), int(i)): log.lanes[n].tolist() for n, (r, c, b, i) in enumerate(
        zip(log.run, log.cycle, log.bank, log.idx, strict=True)) if r == 0 and b >= 2}
    assert len(want) == len(got) == 2  # the ADD and the SUB
    for rec in want:
        key = (rec["write_cycle"], rec["dst"]["bank"], rec["dst"]["idx"])
        assert got[key] == [int(h, 16) for h in rec["value"]], rec
    d = res.divergence
    assert d is not None and (d.inference, d.op, d.lanes, d.actual) == (1, "ADD", [0],
                                                                      [0x3F800001])
    assert not (res.run_dir / "diagnosis" / "writelog").exists()  # no re-run for the log
    assert d.waves is not None and d.waves.stat().st_size > 0
