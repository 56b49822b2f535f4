"""The committed rtl/rill_pkg.sv and rtl/rill_act_table.svh match isa.py / numerics.py."""

from rill import isa, numerics, rtlgen
from rill.config import Config


def test_committed_package_matches_generator():
    assert rtlgen.check() == []


def test_package_carries_contract_values():
    text = rtlgen.gen_pkg()
    for op in isa.VOp:
        assert f"V_{op.name} = {isa.V_OP_BITS}'d{int(op)}" in text
    for op in isa.MOp:
        assert f"M_{op.name} = {isa.M_OP_BITS}'d{int(op)}" in text
    tm = isa.Timing.of(Config(1, 64))
    assert tm.mac == 11 + 2 * 3 and "return 11 + 2 * t;" in text
    assert tm.mac_acc_read == 5 + 2 * 3 and "return 5 + 2 * t;" in text
    assert f"F_ALIGN = {numerics.F_ALIGN};" in text


def test_act_table_entries():
    c0, c1 = numerics.activation_table()
    text = rtlgen.gen_act_table()
    body = text.split("'{", 1)[1]
    vals = [int(tok.split("'h")[1], 16) for tok in body.replace("};", "").split(",") if "'h" in tok]
    assert len(vals) == len(c0) == 1024
    for k in (0, 1, 511, 1023):
        assert vals[k] == (int(c0[k]) << 10) | int(c1[k])
