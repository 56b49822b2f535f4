"""rill.cosim.coverage: the static bins of a program, merging, the summary and its holes."""

from __future__ import annotations

import numpy as np
import torch

import rill
from rill.cosim import coverage as cv
from rill.hw import isa


def _program(model, n_in: int, config: rill.Config) -> rill.Program:
    gm, _ = rill.fx.prepare_shape(model, torch.randn(n_in))
    return rill.fx.nnir.to_nnir(gm).to_program(config, name="cov")


def test_linear_relu_c1b8():
    """A compiled Linear -> ReLU: MACC chains over the three input blocks (accumulating the bias
    from the constant bank), a RELU reading the matrix result at the minimum distance, OUTs."""
    program = _program(torch.nn.Sequential(torch.nn.Linear(20, 12), torch.nn.ReLU()), 20,
                       rill.Config.c1b8())
    h = cv.analyze(program)
    assert h["op.m.MACC"] == 6 and h["op.v.RELU"] == 2 and h["op.v.OUT"] == 2
    assert h["op.m.NOP"] + h["op.m.MACC"] == program.length
    assert h["bank.c1.m_x.input"] == 6  # every MACC's x is an input beat
    assert h["bank.c1.m_acc.const"] == 2 and h["bank.c1.m_acc.M0"] == 4
    assert h["bank.c1.v_a.M0"] == 2 and h["bank.c1.v_a.V0"] == 2  # RELU of M0, OUT of V0
    assert h["dist.MAC>acc.min"] == 4  # chains at macc_distance
    assert h["dist.MAC>acc.fwd"] == 4  # each from the accumulator forward
    assert h["dist.RELU.min"] == 2 and h["dist.MAC.min"] == 2  # ASAP schedule
    assert h["chain.3"] == 2 and not any(h[f"chain.{n}"] for n in (1, 2, 4))
    assert not any(k.startswith("bank.c1.") and k.endswith(".const") and "m_acc" not in k
                   for k in h)


def test_linear_no_bias_hits_mac():
    program = _program(torch.nn.Linear(8, 8, bias=False), 8, rill.Config.c1b8())
    h = cv.analyze(program)
    assert h["op.m.MAC"] == 1 and h["chain.1"] == 1 and h["op.v.OUT"] == 1
    assert h["dist.MAC.min"] == 1  # the OUT reads the MAC's result at its write edge


def _hand(ops: dict[int, isa.Bundle], length: int, config: rill.Config) -> rill.Program:
    bundles = [ops.get(pc, isa.Bundle()) for pc in range(length)]
    b = config.block_size
    return rill.Program(config, length, 1, 1, [isa.encode(bundles, config)],
                        [np.zeros((1, b, b), np.uint16)], np.zeros((1, b), np.uint32), (b,),
                        (b,), t_last_out=length - 3)


def test_hand_program_distances_and_chain():
    """Each distance bin from the producer's write edge, a MACC chain of 4 (MAC + 3 MACCs,
    macc_distance apart, the last one late), a read before a write lands (the previous
    inference's value)."""
    c = rill.Config.c1b8()
    t = isa.Timing.of(c)
    a = lambda bank, idx: isa.make_addr(bank, idx, c)  # noqa: E731
    M, V, IN = isa.matrix_bank(0), isa.vector_bank(0), isa.BANK_INPUT
    ops = {0: isa.Bundle(m_op=isa.MOp.MAC, m_x=a(IN, 0), m_dst=0)}
    d = t.macc_distance
    for i, pc in enumerate((d, 2 * d, 3 * d + 4)):  # min, min, more (slack 4)
        ops[pc] = isa.Bundle(m_op=isa.MOp.MACC, m_x=a(IN, 0), m_acc=a(M, i), m_dst=i + 1)
    e = 3 * d + 4 + t.mac - 1  # M3 written (readable) here
    # MAC min+3: two cycles after the edge, the matrix forward making a cycle before it the min
    ops[e + 2] = isa.Bundle(v_op=isa.VOp.ADD, v_a=a(M, 3), v_b=a(V, 1), v_dst=0)
    # ADD min+2, twice (the forward makes a cycle before the edge the min); V1 read above: prev
    ops[e + 2 + t.add - 1 + 1] = isa.Bundle(v_op=isa.VOp.MUL, v_a=a(V, 0), v_b=a(V, 0), v_dst=1)
    p = e + 2 + t.add
    # MUL min+3: the OUT's read 2 cycles after the edge, the forward making a cycle before it
    # the min
    ops[p + t.mul - 1 + 2] = isa.Bundle(v_op=isa.VOp.OUT, v_a=a(V, 1))
    length = p + t.mul - 1 + 3 + 3
    h = cv.analyze(_hand(ops, length, c))
    assert h["dist.MAC>acc.min"] == 2 and h["dist.MAC>acc.more"] == 1
    assert h["dist.MAC>acc.fwd"] == 2  # the two at the minimum distance, a cycle before the edge
    assert h["dist.MAC.min+3"] == 1 and h["dist.MAC.fwd"] == 0
    assert h["dist.ADD.min+2"] == 2 and h["dist.MUL.min+3"] == 1 and h["dist.ADD.fwd"] == 0
    assert h["dist.MUL.fwd"] == 0 and h["fwd.acc"] == 2
    assert h["fwd.x"] == h["fwd.a"] == h["fwd.b"] == 0
    assert h["dist.MUL.prev"] == 1  # V1 is written later in the inference: streaming state
    assert h["chain.4"] == 1 and sum(v for k, v in h.items() if k.startswith("chain.")) == 1
    assert h["op.m.MAC"] == 1 and h["op.m.MACC"] == 3
    assert h["op.bundle.NOP"] == length - 7
    assert h["bank.c1.v_b.V0"] == 2 and h["bank.c1.v_b.M0"] == 0  # banks, not registers


def test_merge_summary_holes(tmp_path):
    program = _program(torch.nn.Sequential(torch.nn.Linear(20, 12), torch.nn.ReLU()), 20,
                       rill.Config.c1b8())
    a, b = cv.Coverage(), cv.Coverage()
    a.add_run(program, 3, {"in.gap.first": 2, "clear.idle": 1})
    b.add_run(program, 2, {"in.gap.first": 1, "fifo.peak.1": 1})
    c2 = rill.Config.c2b16()
    b.add_program(_program(torch.nn.Linear(20, 40), 20, c2))
    m = cv.Coverage().merge(a).merge(b)
    assert m.runs == 2 and m.inferences == 5
    assert m.hits["in.gap.first"] == 3 and m.hits["op.v.RELU"] == 5 * 2 + 0
    assert "bank.c2.m_x.M1" in m.defined and "bank.c1.m_x.input" in m.defined
    holes = m.holes()
    assert "clear.run" in holes and "op.v.TANH" in holes and "fifo.peak.full" in holes
    assert "in.gap.first" not in holes and "op.v.RELU" not in holes
    text = m.summary()
    assert f"HOLES ({len(holes)}):" in text and "note: clear.run" in text
    hole_lines = text.split("HOLES")[1]
    assert "v.TANH" in hole_lines and "v.RELU" not in hole_lines
    js, txt = m.write(tmp_path)
    back = cv.Coverage.from_dict(__import__("json").loads(js.read_text()))
    assert back.holes() == holes and back.hits == m.hits and txt.read_text().startswith("rill")


def test_fifo_model():
    """Two inferences of 3 OUTs (pcs 4, 5, 6) into a FIFO of 4: the second waits for room."""
    outs = [4, 5, 6]
    # inference 0 starts in cycle 11 (last input beat taken in 10): pushes at the edges ending
    # 16, 17, 18 (valid from 17); the sink takes nothing until cycle 40
    taken = [40, 41, 42, 50, 51, 52]
    # inference 1's input ends in cycle 20 with 3 beats queued > 4 - 3: pc 0 issues once the
    # pops at 40 and 41 have left one (cycle 42): pushes at 47, 48, 49
    valid = [17, 41, 42, 48, 51, 52]
    assert cv.fifo_model(outs, [10, 20], taken, valid, depth=4) == (3, 1, True)
    assert cv.fifo_model(outs, [10, 20], taken, [*valid[:3], 47, *valid[4:]], 4)[2] is False
    assert cv.fifo_model(outs, [10, 41], taken, valid, depth=4) == (3, 0, True)
    assert cv.fifo_level(3, 4) == ">=depth-2" and cv.fifo_level(64, 64) == "full"
    assert cv.fifo_level(1, 64) == "1" and cv.fifo_level(40, 64) == ">=half"


def test_fuzz_toward_holes():
    """No holes: case i as generated; holes: a candidate that can fill one is preferred."""
    from rill import fuzz

    assert fuzz.toward_holes(5, 3, ("c1b8",), set()) == fuzz.generate_case(5, 3, ("c1b8",))
    tanh = {"op": "act", "fn": "tanh", "src": 0, "form": "module"}
    desc = {**fuzz.generate_case(5, 3, ("c1b8",)), "nodes": [{"op": "input"}, tanh]}
    assert fuzz.hole_score(desc, {"op.v.TANH"}) > fuzz.hole_score(desc, {"op.v.SUB"})
    picked = [fuzz.toward_holes(7, i, ("c1b8", "c2b16"), {"bank.c2.m_x.M1"}) for i in range(6)]
    plain = [fuzz.generate_case(7, i, ("c1b8", "c2b16")) for i in range(6)]
    assert sum(d["config"] == "c2b16" for d in picked) >= sum(d["config"] == "c2b16"
                                                               for d in plain)
