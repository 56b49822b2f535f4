"""Program: instruction streams + weight image + constants + IO layout; a versioned file format.

Layering: the VM (`rill.vm`) sits above this module and imports `Program`; `Program.to_vm()`
imports the VM lazily inside the method, the documented upward edge (tests/test_layers.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import LoadError, SaveError, VMInputError
from ..hw import isa
from ..hw.config import Config, check_clock_mhz
from ..hw.numerics import bf16_bits_to_f32, f32_to_bf16_bits
from . import multi_io
from .debuginfo import DebugInfo
from .validate import validate_program

MAGIC = b"RILL"
FORMAT_VERSION = 4  # 2 added the channels-first layout flags; 3 the 4-bit v_op; 4 the 5-bit
# v_op (isa.V_OP_BITS, vector unit v3)
OLD_BUNDLE_VERSIONS = {1: 3, 2: 3, 3: 4}  # version -> its v_op bits: refused (recompile)


_TORCH_FLOATS = ("torch.float32", "torch.float64", "torch.float16", "torch.bfloat16")


def as_float_array(x, what: str) -> np.ndarray:
    """`x` as a native-endian float32 array: numpy floats of any width or byte order, torch
    float tensors (bf16 included, converted exactly); anything else is a VMInputError."""
    if hasattr(x, "detach") and hasattr(x, "dtype"):  # a torch tensor (no torch import here)
        if str(x.dtype) not in _TORCH_FLOATS:
            raise VMInputError(f"{what} dtype {x.dtype}: expected a float tensor (float32)")
        x = x.detach().cpu().float().numpy()
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise VMInputError(f"{what}: not an array of floats ({e})") from e
    if x.dtype.kind != "f":
        raise VMInputError(f"{what} dtype {x.dtype}: expected a float array (float32)")
    return x.astype(np.float32)  # also to native byte order


@dataclasses.dataclass
class Program:
    config: Config
    length: int  # P: bundles per core
    n_in: int
    n_out: int
    bundles: list[np.ndarray]  # per core [P, bundle_bytes] uint8
    weights: list[np.ndarray]  # per core [n_blocks, B, B] uint16 bf16 bits
    consts: np.ndarray  # [n_const, B] uint32 fp32 bits
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    streaming_axis: int | None = None  # input axis removed by streaming_transform
    t_last_out: int = 0
    name: str = "program"
    # the torch tensor is (*lead, C, L) and the beats carry it as (*lead, L, C): time steps as
    # rows, channels as features (a convolution's layout; docs/architecture.md, "Convolutions")
    input_channels_first: bool = False
    output_channels_first: bool = False
    # optional provenance: the NNIR node of every bundle slot (compile/debuginfo.py); runs
    # without it, saved as an optional header key, None for a file that has none
    debug: DebugInfo | None = dataclasses.field(default=None, compare=False, repr=False)

    # IO layout -------------------------------------------------------------------------------
    @property
    def B(self) -> int:
        return self.config.block_size

    def model_input_shape(self) -> tuple[int, ...]:
        return self.input_shape

    def model_output_shape(self) -> tuple[int, ...]:
        return self.output_shape

    def model_input_streaming_dim(self) -> int | None:
        return self.streaming_axis

    def input_beats(self, x: np.ndarray) -> np.ndarray:
        """One inference's input -> [n_in, B] bf16 bits, rows of feature blocks, zero padded."""
        if multi_io.is_multi(self.input_shape):  # a tuple of inputs, beats one after another
            return multi_io.input_beats(x, self.input_shape, self.B, as_float_array)
        x = as_float_array(x, "input")
        if tuple(x.shape) != tuple(self.input_shape):
            raise VMInputError(
                f"input shape {tuple(x.shape)} does not match the program's "
                f"{tuple(self.input_shape)}"
                + (" (a streaming program takes one sequence element per run)"
                   if self.streaming_axis is not None else "")
            )
        if self.input_channels_first:
            x = np.swapaxes(x, -1, -2)
        feats = x.shape[-1]
        rows = x.reshape(-1, feats)
        padded = np.zeros((rows.shape[0], self.n_in // rows.shape[0] * self.B), np.float32)
        padded[:, :feats] = rows
        return f32_to_bf16_bits(padded.reshape(self.n_in, self.B))

    def output_from_beats(self, beats: np.ndarray) -> np.ndarray:
        if multi_io.is_multi(self.output_shape):  # a tuple of outputs
            return multi_io.outputs_from_beats(beats, self.output_shape, self.B)
        shape = tuple(self.output_shape)
        if self.output_channels_first:
            shape = shape[:-2] + (shape[-1], shape[-2])
        feats = shape[-1]
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        vals = bf16_bits_to_f32(beats).reshape(rows, -1)[:, :feats].reshape(shape)
        if self.output_channels_first:
            vals = np.swapaxes(vals, -1, -2)
        return np.ascontiguousarray(vals, np.float32)

    # timing ----------------------------------------------------------------------------------
    def cycle_count_per_inference(self) -> int:
        """Cycles from the first input beat accepted to the last output beat valid (docs/isa.md)."""
        return self.n_in + self.t_last_out + isa.Timing.of(self.config).out

    def interval_cycles_per_inference(self) -> int:
        """Cycles from one inference's first input beat accepted to the next one's, when
        inputs come as fast as they are taken and outputs are taken at once: the input stream
        is taken only while no program runs (docs/isa.md), so `n_in + P`. Its inverse is
        the throughput."""
        return self.n_in + self.length

    def compute_duration_per_inference_us(self, clock_mhz: float | None = None) -> float:
        if clock_mhz is None:
            clock_mhz = self.config.clock_mhz
        check_clock_mhz(clock_mhz, "clock_mhz")
        return self.cycle_count_per_inference() / clock_mhz

    def num_models(self) -> int:
        """Models in this program (one NNIR per program for now)."""
        return 1

    def metrics(self) -> dict:
        """Memory used vs available and op counts, for the whole array and per core.

        `per_core[i]`: weight blocks, instruction bundles (issuing / the program's length),
        MAC and vector ops (OUT included, as in `vector_ops`), and the register-file words
        the program touches (read or written) in the core's matrix and vector banks.
        `registers`: the same per bank for every bank (constants, input, then per core)."""
        c = self.config
        decoded = [isa.decode(b, c) for b in self.bundles]
        touched: list[set[int]] = [set() for _ in range(c.num_banks)]

        def touch(addr: int) -> None:
            bank, idx = isa.split_addr(addr, c)
            if bank < c.num_banks:
                touched[bank].add(idx)

        for core, bundles in enumerate(decoded):
            for b in bundles:
                if b.m_op != isa.MOp.NOP:
                    touch(b.m_x)
                    if b.m_op == isa.MOp.MACC:
                        touch(b.m_acc)
                    touched[isa.matrix_bank(core)].add(b.m_dst)
                if b.v_op != isa.VOp.NOP:
                    touch(b.v_a)
                    if b.v_op in isa.BINARY_VOPS:
                        touch(b.v_b)
                    if b.v_op != isa.VOp.OUT:
                        touched[isa.vector_bank(core)].add(b.v_dst)

        def regs(bank: int) -> dict:
            return {"used": len(touched[bank]), "available": c.rf_depth}

        per_core = []
        for core, bundles in enumerate(decoded):
            per_core.append({
                "core": core,
                "weight_blocks": {"used": int(self.weights[core].shape[0]),
                                  "available": c.weight_depth},
                "instructions": {"used": self.length, "available": c.instr_depth,
                                 "issuing": sum(b.m_op != 0 or b.v_op != 0 for b in bundles)},
                "mac_ops": sum(b.m_op != 0 for b in bundles),
                "vector_ops": sum(b.v_op != 0 for b in bundles),
                "out_ops": sum(b.v_op == isa.VOp.OUT for b in bundles),
                "registers": {"matrix_bank": regs(isa.matrix_bank(core)),
                              "vector_bank": regs(isa.vector_bank(core))},
            })
        bank_names = ["constants", "input"] + [f"core{k}_{kind}" for k in range(c.num_cores)
                                               for kind in ("matrix", "vector")]
        return {
            "cycles_per_inference": self.cycle_count_per_inference(),
            "interval_cycles_per_inference": self.interval_cycles_per_inference(),
            "program_length": self.length,
            "instr_memory": {"used": self.length, "available": c.instr_depth},
            "weight_blocks_per_core": [int(w.shape[0]) for w in self.weights],
            "weight_memory_blocks_available": c.weight_depth,
            "constants": {"used": int(self.consts.shape[0]), "available": c.rf_depth},
            "mac_ops": sum(d["mac_ops"] for d in per_core),
            "vector_ops": sum(d["vector_ops"] for d in per_core),
            "input_beats": self.n_in,
            "output_beats": self.n_out,
            "registers": {name: regs(bank) for bank, name in enumerate(bank_names)},
            "per_core": per_core,
        }

    def to_vm(self, bit_accurate: bool = True):
        from ..vm import VM  # lazy upward edge: compile -> vm

        if not bit_accurate:
            raise ValueError("rill's VM is always bit-accurate")
        if multi_io.is_multi(self.input_shape):
            return multi_io.multi_vm(VM, self)  # vm.run(x, y)
        return VM(self)

    # file format -----------------------------------------------------------------------------
    def save_bytes(self) -> bytes:
        header = {
            "config": self.config.to_dict(),
            "length": self.length,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "blocks_per_core": [int(w.shape[0]) for w in self.weights],
            "n_consts": int(self.consts.shape[0]),
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "streaming_axis": self.streaming_axis,
            "t_last_out": self.t_last_out,
            "name": self.name,
        }
        # version 3 always: older readers would misread the bundles' wider v_op field
        header["input_channels_first"] = self.input_channels_first
        header["output_channels_first"] = self.output_channels_first
        version = FORMAT_VERSION
        if self.debug is not None:  # optional: readers without it ignore the key
            header["debug"] = self.debug.to_json()
        hb = json.dumps(header).encode()
        parts = [MAGIC, struct.pack("<II", version, len(hb)), hb]
        for b, w in zip(self.bundles, self.weights, strict=True):
            parts.append(np.ascontiguousarray(b, np.uint8).tobytes())
            parts.append(np.ascontiguousarray(w, "<u2").tobytes())
        parts.append(np.ascontiguousarray(self.consts, "<u4").tobytes())
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))

    def save(self, path: str | Path) -> None:
        """Write atomically: a unique temporary file in the target's directory, then a rename,
        so neither a crash nor a concurrent save to the same path leaves a half-written file."""
        path = Path(path)
        data = self.save_bytes()
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".rill-", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the program private
            os.replace(tmp, path)
        except OSError as e:
            if tmp is not None:
                with contextlib.suppress(OSError):  # never hide the SaveError below
                    os.unlink(tmp)
            raise SaveError(f"cannot write program to {path}: {e}") from e

    @classmethod
    def load_bytes(cls, data: bytes, origin: str = "<bytes>") -> Program:
        if len(data) < 16 or data[:4] != MAGIC:
            raise LoadError(f"{origin}: not a rill program (bad magic or too short)")
        version, hlen = struct.unpack_from("<II", data, 4)
        if version in OLD_BUNDLE_VERSIONS:
            raise LoadError(f"{origin}: format version {version} encodes v_op in "
                            f"{OLD_BUNDLE_VERSIONS[version]} bits; this "
                            f"rill reads {FORMAT_VERSION} ({isa.V_OP_BITS}-bit v_op): recompile")
        if version != FORMAT_VERSION:
            raise LoadError(f"{origin}: format version {version}, this rill reads {FORMAT_VERSION}")
        body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
        if zlib.crc32(body) != crc:
            raise LoadError(f"{origin}: checksum mismatch (file corrupt or truncated)")
        try:
            h = json.loads(body[12 : 12 + hlen])
            config = Config.from_dict(h["config"])
            B, nb = config.block_size, isa.bundle_bytes(config)
            pos = 12 + hlen
            bundles, weights = [], []

            def take(n: int) -> bytes:
                nonlocal pos
                if pos + n > len(body):
                    raise LoadError(f"{origin}: truncated section")
                pos += n
                return body[pos - n : pos]

            for blocks in h["blocks_per_core"]:
                raw = take(h["length"] * nb)
                bundles.append(np.frombuffer(raw, np.uint8).reshape(h["length"], nb).copy())
                raw = take(blocks * B * B * 2)
                weights.append(np.frombuffer(raw, "<u2").reshape(blocks, B, B).astype(np.uint16))
            consts = np.frombuffer(take(h["n_consts"] * B * 4), "<u4").reshape(-1, B)
            if pos != len(body):
                raise LoadError(f"{origin}: {len(body) - pos} unexpected trailing bytes")
            prog = cls(config, h["length"], h["n_in"], h["n_out"], bundles, weights,
                       consts.astype(np.uint32), multi_io.as_shape(h["input_shape"]),
                       multi_io.as_shape(h["output_shape"]), h["streaming_axis"],
                       h["t_last_out"], h["name"],
                       h["input_channels_first"], h["output_channels_first"])
            if h.get("debug") is not None:
                prog.debug = DebugInfo.from_json(h["debug"])
        except LoadError:
            raise
        except (KeyError, ValueError, TypeError) as e:
            raise LoadError(f"{origin}: malformed header or sections: {e}") from e
        return validate_program(prog, origin)

    @classmethod
    def load(cls, path: str | Path) -> Program:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise LoadError(f"cannot read {path}: {e}") from e
        return cls.load_bytes(data, str(path))

