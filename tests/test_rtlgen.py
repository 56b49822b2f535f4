"""The committed rtl/rill_pkg.sv and rtl/rill_act_table.svh match isa.py / numerics.py."""

from rill.hw import isa, numerics, rtlgen
from rill.hw.config import Config


def test_committed_package_matches_generator():
    assert rtlgen.check() == []


def test_package_carries_contract_values():
    text = rtlgen.gen_pkg()
    for op in isa.VOp:
        assert f"V_{op.name} = {isa.V_OP_BITS}'d{int(op)}" in text
    for op in isa.MOp:
        assert f"M_{op.name} = {isa.M_OP_BITS}'d{int(op)}" in text
    # B = 64: the MAC is the dot row then the fp32 accumulate add (docs/architecture.md)
    tm = isa.Timing.of(Config(1, 64))
    d = isa.dot_stages(64)
    assert (d, tm.mac, tm.mac_acc_read) == (10, d + isa.ADD_STAGES + 2, d)
    assert "return 5 + tree_stages(b) + cmp_stages(b);" in text
    for b in rtlgen.BLOCK_SIZES:
        assert f"      {b}: return {isa.cmp_stages(b)};" in text
    assert f"ADD_STAGES = {isa.ADD_STAGES};" in text and f"LAT_ADD = {tm.add};" in text
    assert f"F_ALIGN = {numerics.F_ALIGN};" in text


def test_act_table_entries():
    c0, c1 = numerics.activation_table()
    text = rtlgen.gen_act_table()
    body = text.split("'{", 1)[1].split("};", 1)[0]  # ACT_TABLE, then ACT_PHI_TABLE
    vals = [int(tok.split("'h")[1], 16) for tok in body.replace("};", "").split(",") if "'h" in tok]
    assert len(vals) == len(c0) == 1024
    for k in (0, 1, 511, 1023):
        assert vals[k] == (int(c0[k]) << 10) | int(c1[k])


def test_fn_table_entries():
    c0, c1 = numerics.fn_table()
    body = rtlgen.gen_fn_table().split("'{", 1)[1].split("};", 1)[0]
    vals = [int(tok.split("'h")[1], 16) for tok in body.split(",") if "'h" in tok]
    assert len(vals) == len(c0) == 1 << numerics.FN_ADDR_BITS
    for k in (0, 255, 256 * 2 + 7, 256 * 3 + 255, 1536):
        c1_bits = numerics.FN_C1_BITS
        assert vals[k] >> c1_bits == int(c0[k])
        assert (vals[k] & ((1 << c1_bits) - 1)) == int(c1[k]) % (1 << c1_bits)  # two's compl.


def test_package_carries_load_port_status_and_fields():
    text = rtlgen.gen_pkg()
    for sel in isa.LoadSel:
        assert f"LOAD_{sel.name} = {isa.LOAD_SEL_BITS}'d{int(sel)}" in text
    for reg in isa.CtrlReg:
        assert f"CTRL_{reg.name} = {isa.CTRL_ADDR_BITS}'d{int(reg)}" in text
    for bit in isa.Status:
        assert f"logic {bit.name.lower()};  // bit {int(bit)}" in text
    for name, _ in isa.fields(Config(1, 8)):
        assert f"function automatic int unsigned f_{name}_lsb(" in text
        assert f"function automatic int unsigned f_{name}_bits(" in text


def test_compression_plan():
    """The dot row's compression layers (6:3 counters, the rest by a 5:3 counter, a 3:2 adder
    or as they are) and the CMP stages isa.CMP_PLAN spreads them over (docs/architecture.md)."""
    assert [isa.cmp_rows_after(r) for r in range(12)] == [0, 1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 6]
    # B = 64: 64 lanes, 11 counts and a constant: 76 -> 39 -> 20 -> 11 -> 6 -> 3 -> 2
    assert isa.cmp_layers(64) == 6
    for b in rtlgen.BLOCK_SIZES:  # the plan takes every layer
        assert sum(isa.CMP_PLAN[b]) == isa.cmp_layers(b) and min(isa.CMP_PLAN[b][1:], default=1) > 0
    # the 3:2 layers took T stages: B = 32 and 128 gain one, the others none; B = 64 one more
    # with the level-weighted mapper (its five-layer second stage measured 6.25 before it)
    assert [isa.cmp_stages(1 << k) for k in range(2, 8)] == [1, 2, 2, 2, 2, 3]
    assert [isa.dot_stages(1 << k) for k in range(2, 8)] == [7, 9, 9, 10, 10, 12]
    text = rtlgen.gen_pkg()
    assert "      32: case (c)\n        0: return 1;\n        1: return 4;" in text
