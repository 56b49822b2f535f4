"""Accelerator configuration: the sizes the compiler targets and the RTL is built for."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
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
    # The commercial SDK's boards, by name and size (cores x block size, clock, weight depth).
    # Each is a classmethod, so `Config.bittware_ia840f_c3b64()` reads as it does there;
    # `Config.presets()` lists them all and `Config.preset(name)` looks one up by name.
    @classmethod
    def bittware_ia840f_c3b64(cls) -> Config:
        """BittWare IA-840F: 3 cores x 64, 320 MHz, 512 weight blocks per core."""
        return cls(num_cores=3, block_size=64)

    @classmethod
    def bittware_ia420f_c6b32(cls) -> Config:
        """BittWare IA-420F: 6 cores x 32, 320 MHz, 512 weight blocks per core."""
        return cls(num_cores=6, block_size=32)

    @classmethod
    def bittware_ia840f_c2b64d(cls) -> Config:
        """BittWare IA-840F, deep: 2 cores x 64, 320 MHz, 1024 weight blocks per core."""
        return cls(num_cores=2, block_size=64, weight_depth=1024)

    @classmethod
    def napatech_nt400d11_c6b32(cls) -> Config:
        """Napatech NT400D11: 6 cores x 32, 320 MHz, 512 weight blocks per core."""
        return cls(num_cores=6, block_size=32)

    @classmethod
    def amd_v80_c6b32(cls) -> Config:
        """AMD V80: 6 cores x 32, 300 MHz, 4096 weight blocks per core."""
        return cls(num_cores=6, block_size=32, clock_mhz=300.0, weight_depth=4096)

    @classmethod
    def amd_v80ll_c6b32(cls) -> Config:
        """AMD V80 low latency: 6 cores x 32, 330 MHz, 4096 weight blocks per core."""
        return cls(num_cores=6, block_size=32, clock_mhz=330.0, weight_depth=4096)

    @classmethod
    def silicom_artena_c8b32(cls) -> Config:
        """Silicom Artena: 8 cores x 32, 250 MHz, 512 weight blocks per core."""
        return cls(num_cores=8, block_size=32, clock_mhz=250.0)

    @classmethod
    def ia_840f_c3b64(cls) -> Config:
        """The short name of `bittware_ia840f_c3b64` (kept: the demo, tests and docs use it)."""
        return cls.bittware_ia840f_c3b64()

    @classmethod
    def ia_420f_c6b32(cls) -> Config:
        """The short name of `bittware_ia420f_c6b32`."""
        return cls.bittware_ia420f_c6b32()

    @classmethod
    def c1b8(cls) -> Config:
        """Smallest config, for fast RTL simulation."""
        return cls(num_cores=1, block_size=8, weight_depth=256, rf_depth=64, instr_depth=2048)

    @classmethod
    def c2b16(cls) -> Config:
        """Small config for RTL simulation: 2 cores x 16."""
        return cls(num_cores=2, block_size=16, weight_depth=256, rf_depth=64, instr_depth=1024)

    @classmethod
    def c3b16(cls) -> Config:
        """Small config for RTL simulation: 3 cores x 16."""
        return cls(num_cores=3, block_size=16, weight_depth=256, rf_depth=128, instr_depth=2048)

    @staticmethod
    def presets() -> dict[str, Callable[[], Config]]:
        """Every preset: name -> factory (a fresh dict; the order of PRESET_NAMES)."""
        return {name: getattr(Config, name) for name in PRESET_NAMES}

    @staticmethod
    def preset(name: str) -> Config:
        """The preset called `name`; a ConfigError naming it and listing the known ones."""
        if not isinstance(name, str) or name not in PRESET_NAMES:
            raise ConfigError(f"unknown Config preset {name!r}; presets: "
                              f"{', '.join(PRESET_NAMES)}")
        return getattr(Config, name)()

    @staticmethod
    def preset_alias_of(name: str) -> str | None:
        """The board preset a short name stands for (`ia_840f_c3b64` ->
        `bittware_ia840f_c3b64`), or None."""
        return PRESET_ALIASES.get(name)

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
    def macs_per_cycle(self) -> int:
        """Multiply-accumulates the whole array issues per cycle: one block per core."""
        return self.num_cores * self.block_size**2

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
            raise ConfigError(f"unknown Config fields {sorted(map(str, unknown))}; the fields "
                              f"are {', '.join(f.name for f in fields)}")
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


# board presets first (the commercial names), then the short aliases, then rill's small configs
PRESET_NAMES: tuple[str, ...] = (
    "bittware_ia840f_c3b64", "bittware_ia420f_c6b32", "bittware_ia840f_c2b64d",
    "napatech_nt400d11_c6b32", "amd_v80_c6b32", "amd_v80ll_c6b32", "silicom_artena_c8b32",
    "ia_840f_c3b64", "ia_420f_c6b32", "c1b8", "c2b16", "c3b16",
)
PRESET_ALIASES: dict[str, str] = {
    "ia_840f_c3b64": "bittware_ia840f_c3b64",
    "ia_420f_c6b32": "bittware_ia420f_c6b32",
}
