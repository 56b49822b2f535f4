"""The rill ISA, defined once: opcodes, bundle field layout, unit latencies.

`rtl/rill_pkg.sv` is generated from this module (`python -m rill gen-pkg`) and a test checks
the committed file matches, so the RTL cannot drift from the VM.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from .config import Config
from .errors import ProgramError


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


M_OP_BITS = 2
V_OP_BITS = 3

BANK_CONST = 0
BANK_INPUT = 1


def matrix_bank(core: int) -> int:
    return 2 + 2 * core


def vector_bank(core: int) -> int:
    return 3 + 2 * core


@dataclasses.dataclass(frozen=True)
class Timing:
    """Issue-to-readable latencies in cycles, from the pipeline depths in docs/architecture.md."""

    mac: int
    mac_acc_read: int  # cycle offset at which a MACC reads its accumulator operand
    add: int = 6
    mul: int = 5
    act: int = 7
    relu: int = 3
    out: int = 2  # issue to the beat being valid on the output stream

    @classmethod
    def of(cls, config: Config) -> Timing:
        t = config.tree_stages
        return cls(mac=11 + 2 * t, mac_acc_read=5 + 2 * t)

    def vop(self, op: VOp) -> int:
        return {
            VOp.ADD: self.add,
            VOp.SUB: self.add,
            VOp.MUL: self.mul,
            VOp.RELU: self.relu,
            VOp.TANH: self.act,
            VOp.SIGMOID: self.act,
            VOp.OUT: self.out,
        }[op]


def fields(config: Config) -> list[tuple[str, int]]:
    """Bundle fields, least significant first: (name, width)."""
    a, i = config.addr_bits, config.idx_bits
    return [
        ("m_op", M_OP_BITS),
        ("m_w", config.waddr_bits),
        ("m_x", a),
        ("m_acc", a),
        ("m_dst", i),
        ("v_op", V_OP_BITS),
        ("v_a", a),
        ("v_b", a),
        ("v_dst", i),
    ]


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
