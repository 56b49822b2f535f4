"""Accelerator configuration: the sizes the compiler targets and the RTL is built for."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from ..errors import ConfigError, SaveError


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # True is an int to Python


def check_clock_mhz(v: object, what: str) -> None:
    """A clock frequency in MHz: a finite positive number (not a string, bool or None)."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    if not ok or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{what}={v!r}: must be a finite positive number of MHz")


@dataclasses.dataclass(frozen=True)
class Config:
    """One rill accelerator: `num_cores` cores, each with a block_size x block_size matrix unit.

    Memory depths count words: a weight word is a block_size x block_size bf16 block, a
    register-file word is block_size fp32 lanes; each register-file bank holds `rf_depth`.
    """

    num_cores: int
    block_size: int
    clock_mhz: float = 320.0
    weight_depth: int = 512
    rf_depth: int = 256
    instr_depth: int = 4096
    out_fifo_depth: int = 64

    def __post_init__(self) -> None:
        def pow2(name: str, lo: int, hi: int) -> None:
            v = getattr(self, name)
            if not _is_int(v) or v < lo or v > hi or v & (v - 1):
                raise ConfigError(f"Config.{name}={v!r}: must be a power of two in [{lo}, {hi}]")

        if not _is_int(self.num_cores) or not 1 <= self.num_cores <= 8:
            raise ConfigError(f"Config.num_cores={self.num_cores!r}: must be an int in [1, 8]")
        pow2("block_size", 4, 128)
        pow2("weight_depth", 2, 1 << 16)
        pow2("rf_depth", 4, 1 << 12)
        pow2("instr_depth", 4, 1 << 16)
        pow2("out_fifo_depth", 2, 1 << 12)
        check_clock_mhz(self.clock_mhz, "Config.clock_mhz")

    # presets ---------------------------------------------------------------------------------
    @classmethod
    def ia_840f_c3b64(cls) -> Config:
        return cls(num_cores=3, block_size=64)

    @classmethod
    def ia_420f_c6b32(cls) -> Config:
        return cls(num_cores=6, block_size=32)

    @classmethod
    def c1b8(cls) -> Config:
        """Smallest config, for fast RTL simulation."""
        return cls(num_cores=1, block_size=8, weight_depth=256, rf_depth=64, instr_depth=2048)

    @classmethod
    def c2b16(cls) -> Config:
        return cls(num_cores=2, block_size=16, weight_depth=256, rf_depth=64, instr_depth=1024)

    @classmethod
    def c3b16(cls) -> Config:
        return cls(num_cores=3, block_size=16, weight_depth=256, rf_depth=128, instr_depth=2048)

    # derived sizes ---------------------------------------------------------------------------
    @property
    def num_banks(self) -> int:
        """Register-file banks: constants, input stream, then matrix and vector bank per core."""
        return 2 + 2 * self.num_cores

    @property
    def bank_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.num_banks)))

    @property
    def idx_bits(self) -> int:
        return int(math.log2(self.rf_depth))

    @property
    def addr_bits(self) -> int:
        return self.bank_bits + self.idx_bits

    @property
    def waddr_bits(self) -> int:
        return max(1, int(math.log2(self.weight_depth)))

    @property
    def tree_stages(self) -> int:
        """Pipeline stages of a log2(block_size)-level tree at two levels per stage."""
        return math.ceil(int(math.log2(self.block_size)) / 2)

    @property
    def weights_per_core(self) -> int:
        return self.weight_depth * self.block_size**2

    def rtl_parameters(self) -> dict[str, int]:
        """rill_top's parameters for this config (the Verilator build and synthesis use them)."""
        return {
            "NUM_CORES": self.num_cores,
            "B": self.block_size,
            "WEIGHT_DEPTH": self.weight_depth,
            "RF_DEPTH": self.rf_depth,
            "INSTR_DEPTH": self.instr_depth,
            "OUT_FIFO_DEPTH": self.out_fifo_depth,
        }

    # persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        if not isinstance(d, dict):
            raise ConfigError(f"a Config is a JSON object of fields, got {type(d).__name__}")
        fields = dataclasses.fields(cls)
        unknown = set(d) - {f.name for f in fields}
        if unknown:
            raise ConfigError(f"unknown Config fields {sorted(unknown)}")
        missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in d]
        if missing:
            raise ConfigError(f"missing Config fields {missing}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        try:
            Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        except OSError as e:
            raise SaveError(f"cannot write config to {path}: {e}") from e

    @classmethod
    def load(cls, path: str | Path) -> Config:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from e
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read a Config from {path}: {e}") from e
