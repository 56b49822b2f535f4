"""The rill ISA, defined once: opcodes, bundle field layout, unit latencies.

`rtl/rill_pkg.sv` is generated from this module (`python -m rill gen-pkg`) and a test checks
the committed file matches, so the RTL cannot drift from the VM.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from ..errors import ProgramError
from .config import Config


class MOp(enum.IntEnum):
    """Matrix-slot opcodes."""

    NOP = 0
    MAC = 1  # dst = blocksum(W[w], bf16(rf[x]))
    MACC = 2  # dst = rf[acc] + blocksum(W[w], bf16(rf[x]))


class VOp(enum.IntEnum):
    """Vector-slot opcodes."""

    NOP = 0
    ADD = 1
    SUB = 2
    MUL = 3
    RELU = 4
    TANH = 5
    SIGMOID = 6
    OUT = 7  # push bf16(rf[a]) to the output stream
    MAX = 8  # IEEE 754-2019 maximum: NaN if either is NaN, -0 < +0 (docs/numerics.md)
    MIN = 9  # IEEE 754-2019 minimum (bit 0 tells MIN from MAX)
    ABS = 10  # clear the sign
    NEG = 11  # flip the sign (bit 0 tells NEG from ABS)
    PHI = 12  # the normal CDF (1 + erf(x/sqrt 2))/2: the activation unit's second table
    RECIP = 16  # function unit (v_op[4:2] = 100, v_op[1:0] = numerics.FN_* table select)
    RSQRT = 17
    EXP2 = 18
    LOG2 = 19  # its own, longer latency (a rounding at the end)
    GT = 20  # 1.0 if a > b else +0 (compare/select path)
    GE = 21  # 1.0 if a >= b else +0
    KEEP = 22  # rf[dst] = rf[a] != 0 ? rf[b] : +0 (a is the mask)
    DROP = 23  # rf[dst] = rf[a] != 0 ? +0 : rf[b]
    OR = 24  # bitwise OR of the two (canonical) operands: KEEP | DROP is torch.where
    RMAX = 25  # IEEE maximum over all lanes of a, in every lane


# the ops of the vector unit's compare/select path: one result register, one write-back tag
# (RELU, ABS, NEG: RELU_STAGES, Timing.relu; MAX, MIN: MINMAX_STAGES, Timing.minmax)
# (GT, GE: MINMAX_STAGES, the same compare; KEEP, DROP, OR: RELU_STAGES)
SIMPLE_VOPS = (VOp.RELU, VOp.MAX, VOp.MIN, VOp.ABS, VOp.NEG, VOp.GT, VOp.GE, VOp.KEEP,
               VOp.DROP, VOp.OR)
# the ops that read operand b
BINARY_VOPS = (VOp.ADD, VOp.SUB, VOp.MUL, VOp.MAX, VOp.MIN, VOp.GT, VOp.GE, VOp.KEEP,
               VOp.DROP, VOp.OR)
ACT_VOPS = (VOp.TANH, VOp.SIGMOID, VOp.PHI)
FN_VOPS = (VOp.RECIP, VOp.RSQRT, VOp.EXP2, VOp.LOG2)


M_OP_BITS = 2
V_OP_BITS = 5  # 13..15 and 26..31 are illegal (the VM refuses them, the RTL halts)

BANK_CONST = 0
BANK_INPUT = 1


# ---- load port (rill_top load_sel_i / load_addr_i / load_data_i), one word per cycle ----
class LoadSel(enum.IntEnum):
    """load_sel_i: which memory a load-port word goes to."""

    IMEM = 0  # imem of core load_core_i: addr = bundle index, data = bundle
    WMEM = 1  # wmem of core load_core_i: addr = block*B + row, data = row (col j at 16j)
    CONST = 2  # constant bank (bank 0) of every core: addr = idx, data = B fp32 lanes
    CTRL = 3  # control registers (CtrlReg), data[31:0]


LOAD_SEL_BITS = 2


class CtrlReg(enum.IntEnum):
    """Control-register addresses (load_sel_i = LoadSel.CTRL); only the low CTRL_ADDR_BITS
    address bits are decoded. The fields below PROG_LEN .. REG_HI are model 0's entry of the
    model table; model m's entry is at `ctrl_addr(field, m)` = m << CTRL_FIELD_BITS | field
    (docs/isa.md, "Several models"). After reset every entry holds BASE 0, REG_LO 0,
    REG_HI rf_depth and model 0 is selected: a one-model program writes PROG_LEN, N_IN, N_OUT
    of model 0 as before."""

    PROG_LEN = 0  # P, bundles per inference
    N_IN = 1  # input beats per inference
    N_OUT = 2  # output beats per inference
    BASE = 3  # instruction-memory address of the model's first bundle
    REG_LO = 4  # the model's register range [REG_LO, REG_HI) in banks 1..: what clear zeroes
    REG_HI = 5
    MODEL_SELECT = 7  # data = the model the next inferences run (only while idle)


MAX_MODELS = 4  # entries of the model table
CTRL_FIELD_BITS = 3
CTRL_MODEL_BITS = 2  # log2(MAX_MODELS)
CTRL_ADDR_BITS = CTRL_FIELD_BITS + CTRL_MODEL_BITS
CTRL_DATA_BITS = 32
# a MODEL_SELECT write holds in_ready low this many cycles after it (rill_ctrl refreshes the
# cores' copy of the selected model's first bundle from the instruction memory)
SELECT_CYCLES = 2


def ctrl_addr(reg: CtrlReg, model: int = 0) -> int:
    """The control-register address of `reg` in model `model`'s table entry."""
    if reg == CtrlReg.MODEL_SELECT:
        return int(reg)
    if not 0 <= model < MAX_MODELS:
        raise ValueError(f"model {model}: the table has {MAX_MODELS} entries")
    return (model << CTRL_FIELD_BITS) | int(reg)


class Status(enum.IntEnum):
    """Bits of rill_top status_o."""

    ILLEGAL = 0  # sticky: an illegal bundle was issued
    STREAM_ERR = 1  # sticky: IN_LAST_ERR | OUT_OVERFLOW | two OUTs in one cycle
    BUSY = 2  # not idle, or clearing
    IDLE = 3  # idle and not clearing: in_ready
    CLEARING = 4  # clear_i sequence running
    HALTED = 5  # stopped after an illegal bundle, until clear_i
    IN_LAST_ERR = 6  # sticky: in_last on the wrong beat
    OUT_OVERFLOW = 7  # sticky: output FIFO overflow


STATUS_BITS = 8


def matrix_bank(core: int) -> int:
    return 2 + 2 * core


def vector_bank(core: int) -> int:
    return 3 + 2 * core


# Register stages of each pipelined unit (docs/architecture.md, "Pipeline depths"). The RTL
# builds exactly these (rill_pkg.sv carries them) and every latency below derives from them.
ADD_STAGES = 4  # rill_fp32_add
MUL_STAGES = 3  # rill_fp32_mul
ACT_STAGES = 5  # rill_act
RELU_STAGES = 1  # rill_vector_unit, one compare/select: RELU, ABS, NEG
MINMAX_STAGES = 2  # rill_vector_unit: MAX/MIN/GT/GE, the magnitude compare, then the pick
FN_STAGES = 7  # rill_fn: RECIP, RSQRT, EXP2
FN_LOG_STAGES = 11  # rill_fn: LOG2 (FN_STAGES, then the integer sum, normalise and round)
# rill_core: a MACC's accumulator read takes a matrix result from its accumulate add's last
# stage, this many cycles before the result is written (docs/architecture.md)
MACC_FORWARD = 1
# rill_core: a vector op's a/b read and a matrix op's x read take an ADD/SUB, MUL or activation
# result from its unit's last stage, this many cycles before the result is written
VECTOR_FORWARD = 1
# the vector results the vector forward carries (one channel: they never write back together)
VECTOR_FORWARD_OPS = frozenset({VOp.ADD, VOp.SUB, VOp.MUL, VOp.TANH, VOp.SIGMOID, VOp.PHI})
# the read ports a vector result can be forwarded to (the matrix unit's x, the vector op's a, b)
VECTOR_FORWARD_PORTS = ("x", "a", "b")


def read_port(matrix: bool, operand: int) -> str:
    """The register-file read port (rtl/rill_regfile.sv) of a matrix (MAC/MACC) or vector op's
    operand `operand`, as `Timing.read_ahead` names it: a matrix op reads x (0) and acc (1), a
    vector op a (0) and b (1)."""
    if matrix:
        return "acc" if operand == 1 else "x"
    return "a" if operand == 0 else "b"


def rmax_stages(block_size: int) -> int:
    """rill_vector_unit's RMAX tree: log2(B) levels of a compare stage and a pick stage."""
    return 2 * (block_size.bit_length() - 1)


# rill_dot_row's compression: its B lanes, ceil(B / 6) negative-lane counts and a constant
# reduced to two rows by layers of 6:3 counters (each output bit a function of six input
# bits), the 1 to 5 rows left over by a 5:3 counter (5) or a 3:2 full adder (3 or 4). The
# first CMP stage also holds the alignment's two 8-way shift levels. Layers per CMP stage, as
# `rill synth rill_dot_row -b B` measured them (docs/architecture.md, "Matrix unit": B = 32
# in two stages 5.4 levels; B = 64 in two measured 6.25 with five layers in the second
# stage and 7 with two in the first, so it keeps three; B = 128 in three, 5.4). B = 4 is not
# measured: it keeps its one stage.
CMP_PLAN = {4: (2,), 8: (0, 3), 16: (0, 4), 32: (1, 4), 64: (1, 5), 128: (1, 3, 3)}


def cmp_rows_after(rows: int) -> int:
    """Rows out of one compression layer (rill_dot_row's `rows_after`)."""
    return 3 * (rows // 6) + (0, 1, 2, 2, 3, 3)[rows % 6]


def cmp_layers(block_size: int) -> int:
    """Compression layers from the rows entering CMP down to two."""
    rows, n = block_size + (block_size + 5) // 6 + 1, 0
    while rows > 2:
        rows, n = cmp_rows_after(rows), n + 1
    return n


def cmp_stages(block_size: int) -> int:
    """rill_dot_row's CMP stages (CMP_PLAN: B = 4: 1; 8 to 32: 2; 64 and 128: 3)."""
    return len(CMP_PLAN[block_size])


def dot_stages(block_size: int) -> int:
    """Register stages of rill_dot_row for B = `block_size` and T = Config.tree_stages: S1,
    T - 1 exponent-maximum stages, D (alignment), cmp_stages(B) compression stages, CPA (with
    the zero counts), NRM, R1, R2 (rtl/rill_dot_row.sv)."""
    return 5 + Config(1, block_size).tree_stages + cmp_stages(block_size)


@dataclasses.dataclass(frozen=True)
class Timing:
    """Latencies in cycles, from the register stages above.

    An op issued in cycle t reads the register file in cycle t (R) and its operands enter the
    unit in cycle t+1; a unit of S stages drives the write-back bus in cycle t+1+S and the
    banks capture it at the end of that cycle. Latency L = S + 2 names the cycle after: the
    write edge ends cycle t+L-1, and as banks are write-first a read in cycle t+L-1 already
    sees the value. A MAC passes the dot row and then the fp32 accumulate add.
    """

    mac: int
    mac_acc_read: int  # cycle offset at which a MACC reads its accumulator operand
    # a MACC's accumulator read sees matrix results this many cycles before they are written
    # (rtl/rill_core.sv: every core's accumulate-add R2 value is forwarded into the acc read
    # register), so MACC chains are macc_distance apart
    macc_forward: int = MACC_FORWARD
    # a vector op's operand reads (a, b) and a matrix op's x read see ADD/SUB, MUL and
    # TANH/SIGMOID/PHI results this many cycles early
    vector_forward: int = VECTOR_FORWARD
    add: int = ADD_STAGES + 2
    mul: int = MUL_STAGES + 2
    act: int = ACT_STAGES + 2
    relu: int = RELU_STAGES + 2
    minmax: int = MINMAX_STAGES + 2
    fn: int = FN_STAGES + 2
    fn_log: int = FN_LOG_STAGES + 2
    rmax: int = 0  # from the config (Timing.of)
    out: int = 2  # issue to the beat being valid on the output stream

    @classmethod
    def of(cls, config: Config) -> Timing:
        d = dot_stages(config.block_size)
        # x enters the dot row in cycle 1; the block sum leaves it (and acc enters the add,
        # read one cycle earlier) in cycle 1 + d; WB in cycle 1 + d + ADD_STAGES
        return cls(mac=d + ADD_STAGES + 2, mac_acc_read=d,
                   rmax=rmax_stages(config.block_size) + 2)

    @property
    def macc_distance(self) -> int:
        """Minimum cycles between two MACCs of one accumulation chain: the second reads the
        first's result at its acc-read offset, forwarded `macc_forward` cycles before the write
        edge (readable from mac - 1 for every other reader)."""
        return self.mac - 1 - self.mac_acc_read - self.macc_forward

    def read_ahead(self, port: str, writer: MOp | VOp) -> int:
        """Cycles before a write edge at which a read already sees the value (the forwards of
        docs/isa.md): `macc_forward` for any read of a MAC/MACC result (the accumulator
        forward on port "acc", the matrix forward on a vector op's "a" and "b" and a matrix
        op's "x"), `vector_forward` for a vector op's operand read (port "a" or "b") or a
        matrix op's vector operand read (port "x") of a result in `VECTOR_FORWARD_OPS`
        (ADD/SUB, MUL, TANH/SIGMOID/PHI), else 0."""
        if isinstance(writer, MOp) and (port == "acc" or port in VECTOR_FORWARD_PORTS):
            return self.macc_forward
        if port in VECTOR_FORWARD_PORTS and isinstance(writer, VOp) and \
                writer in VECTOR_FORWARD_OPS:
            return self.vector_forward
        return 0

    def max_read_ahead(self, port: str, matrix_bank: bool) -> int:
        """The most any write to a matrix (vector) bank can be seen ahead by a read on `port`:
        what a register's last read must count before another value may take the register."""
        return self.read_ahead(port, MOp.MAC if matrix_bank else VOp.ADD)

    def vop(self, op: VOp) -> int:
        return {
            VOp.ADD: self.add,
            VOp.SUB: self.add,
            VOp.MUL: self.mul,
            VOp.RELU: self.relu,
            VOp.TANH: self.act,
            VOp.SIGMOID: self.act,
            VOp.OUT: self.out,
            VOp.MAX: self.minmax,
            VOp.MIN: self.minmax,
            VOp.ABS: self.relu,
            VOp.NEG: self.relu,
            VOp.PHI: self.act,
            VOp.RECIP: self.fn,
            VOp.RSQRT: self.fn,
            VOp.EXP2: self.fn,
            VOp.LOG2: self.fn_log,
            VOp.GT: self.minmax,
            VOp.GE: self.minmax,
            VOp.KEEP: self.relu,
            VOp.DROP: self.relu,
            VOp.OR: self.relu,
            VOp.RMAX: self.rmax,
        }[op]


# Bundle layout, least significant first: (field, width kind). The kinds are the config-derived
# widths below; rtlgen turns the same table into the RTL's f_<field>_lsb/_bits functions.
FIELD_LAYOUT: tuple[tuple[str, str], ...] = (
    ("m_op", "m_op"),
    ("m_w", "waddr"),
    ("m_x", "addr"),
    ("m_acc", "addr"),
    ("m_dst", "idx"),
    ("m_relu", "flag"),
    ("v_op", "v_op"),
    ("v_a", "addr"),
    ("v_b", "addr"),
    ("v_dst", "idx"),
)


def field_width_kinds(config: Config) -> dict[str, int]:
    """The width of each FIELD_LAYOUT kind for `config`."""
    return {"m_op": M_OP_BITS, "v_op": V_OP_BITS, "flag": 1, "waddr": config.waddr_bits,
            "addr": config.addr_bits, "idx": config.idx_bits}


def fields(config: Config) -> list[tuple[str, int]]:
    """Bundle fields, least significant first: (name, width)."""
    w = field_width_kinds(config)
    return [(name, w[kind]) for name, kind in FIELD_LAYOUT]


def bundle_bits(config: Config) -> int:
    return sum(w for _, w in fields(config))


def bundle_bytes(config: Config) -> int:
    return (bundle_bits(config) + 7) // 8


@dataclasses.dataclass(frozen=True)
class Bundle:
    """One cycle of one core: a matrix-slot op and a vector-slot op."""

    m_op: int = 0
    m_w: int = 0
    m_x: int = 0
    m_acc: int = 0
    m_dst: int = 0
    m_relu: int = 0  # the matrix op reads RELU(bf16(rf[m_x])): a ReLU folded into its consumer
    v_op: int = 0
    v_a: int = 0
    v_b: int = 0
    v_dst: int = 0


def encode(bundles: list[Bundle], config: Config) -> np.ndarray:
    """Bundles -> [n, bundle_bytes] little-endian bytes."""
    layout = fields(config)
    nbytes = bundle_bytes(config)
    out = np.zeros((len(bundles), nbytes), dtype=np.uint8)
    for n, b in enumerate(bundles):
        word, pos = 0, 0
        for name, width in layout:
            v = getattr(b, name)
            if not 0 <= v < (1 << width):
                raise ProgramError(f"bundle {n}: field {name}={v} does not fit {width} bits")
            word |= v << pos
            pos += width
        out[n] = np.frombuffer(word.to_bytes(nbytes, "little"), dtype=np.uint8)
    return out


def decode(raw: np.ndarray, config: Config) -> list[Bundle]:
    layout = fields(config)
    bundles = []
    for row in raw:
        word = int.from_bytes(bytes(row), "little")
        vals = {}
        for name, width in layout:
            vals[name] = word & ((1 << width) - 1)
            word >>= width
        bundles.append(Bundle(**vals))
    return bundles


def split_addr(addr: int, config: Config) -> tuple[int, int]:
    return addr >> config.idx_bits, addr & ((1 << config.idx_bits) - 1)


def make_addr(bank: int, idx: int, config: Config) -> int:
    return (bank << config.idx_bits) | idx
