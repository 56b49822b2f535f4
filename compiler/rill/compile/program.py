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
FORMAT_VERSION = 6  # 2 added the channels-first layout flags; 3 the 4-bit v_op; 4 the 5-bit
# v_op (isa.V_OP_BITS, vector unit v3); 5 the model table (several models in one program); 6
# the m_relu bit (a ReLU folded into its matrix-op readers), which moves the vector fields
OLD_BUNDLE_VERSIONS = {1: 3, 2: 3, 3: 4}  # version -> its v_op bits: refused (recompile)
NO_MODEL_TABLE_VERSIONS = (4,)  # the bundles of today, no model table: refused (recompile)
NO_M_RELU_VERSIONS = (5,)  # bundles without the m_relu bit: refused (recompile)


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


def as_sequence(x, axis) -> np.ndarray:
    """`x` as float32 for `run_timesteps(x, axis)` (the VM's and the runtime's): `axis` an
    axis of x with at least one element, else a VMInputError saying which."""
    x = as_float_array(x, "run_timesteps input")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -x.ndim <= axis < x.ndim:
        raise VMInputError(f"run_timesteps axis={axis!r}: input shape {x.shape} has axes "
                           f"{-x.ndim}..{x.ndim - 1}")
    if x.shape[axis] == 0:
        raise VMInputError(f"run_timesteps: input shape {x.shape} has no elements on axis "
                           f"{axis}: the sequence is empty")
    return x


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model of a program: its instruction segment, IO, timing and memory ranges.

    Model k's bundles are at pc [base, base + length) of every core's instruction memory (NOP
    bundles on cores it does not use); its registers are the indices [reg_lo, reg_hi) of every
    core bank (2..) and what a clear of this model zeroes; its weight blocks on core c are
    [weights[c][0], weights[c][0] + weights[c][1]), its constants [consts[0], consts[0] +
    consts[1]) of bank 0. The input bank (1) is shared: every inference writes its beats there
    from idx 0. docs/isa.md, "Several models"."""

    name: str
    base: int
    length: int
    n_in: int
    n_out: int
    t_last_out: int
    input_shape: tuple
    output_shape: tuple
    streaming_axis: int | None
    input_channels_first: bool
    output_channels_first: bool
    reg_lo: int
    reg_hi: int
    cores: tuple[int, ...]
    weights: tuple[tuple[int, int], ...]  # per core (first block, blocks)
    consts: tuple[int, int]  # (first row, rows)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("input_shape", "output_shape", "cores", "weights", "consts"):
            d[k] = _lists(getattr(self, k))
        return d

    @classmethod
    def from_json(cls, d: dict) -> ModelEntry:
        d = dict(d)
        d["input_shape"] = multi_io.as_shape(d["input_shape"])
        d["output_shape"] = multi_io.as_shape(d["output_shape"])
        d["cores"] = tuple(d["cores"])
        d["weights"] = tuple(tuple(w) for w in d["weights"])
        d["consts"] = tuple(d["consts"])
        return cls(**d)


def _lists(v):
    return [_lists(x) for x in v] if isinstance(v, (tuple, list)) else v


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
    # several models (rill.ProgramBuilder, compile/link.py): the model table. None: one model,
    # the fields above. With a table, `length` is the instruction memory used (every segment)
    # and the fields above are model 0's (`model(0)`).
    models: tuple[ModelEntry, ...] | None = None

    # models ----------------------------------------------------------------------------------
    def num_models(self) -> int:
        """Models in this program (`rill.ProgramBuilder` links several)."""
        return 1 if self.models is None else len(self.models)

    def model_table(self) -> tuple[ModelEntry, ...]:
        """Every model's entry; a one-model program's single entry covers the whole machine."""
        if self.models is not None:
            return self.models
        c = self.config
        return (ModelEntry(
            self.name, 0, self.length, self.n_in, self.n_out, self.t_last_out,
            self.input_shape, self.output_shape, self.streaming_axis,
            self.input_channels_first, self.output_channels_first, 0, c.rf_depth,
            tuple(range(c.num_cores)), tuple((0, int(w.shape[0])) for w in self.weights),
            (0, int(self.consts.shape[0]))),)

    def check_model_index(self, model_index) -> int:
        """model_index as an int in 0 .. num_models() - 1, else a VMInputError saying why."""
        n = self.num_models()
        if isinstance(model_index, bool) or not isinstance(model_index, (int, np.integer)):
            raise VMInputError(f"model_index={model_index!r}: an integer (0..{n - 1})")
        if not 0 <= model_index < n:
            if n == 1:
                raise VMInputError(f"model_index={model_index}: program {self.name!r} has "
                                   "only one model (model_index 0)")
            raise VMInputError(f"model_index={model_index}: program {self.name!r} has {n} "
                               f"models (0..{n - 1})")
        return int(model_index)

    def model(self, model_index: int = 0) -> Program:
        """Model `model_index` as a one-model program: its instruction segment, with the whole
        weight image and constant bank (its addresses are the linked ones). What the VM runs
        for that model; a one-model program is its own model 0."""
        k = self.check_model_index(model_index)
        if self.models is None:
            return self
        cache = self.__dict__.setdefault("_model_views", {})
        if k not in cache:
            e = self.models[k]
            debug = None if self.debug is None else DebugInfo(
                self.debug.nodes, self.debug.slots[:, e.base : e.base + e.length],
                self.debug.n_ops)
            cache[k] = Program(
                self.config, e.length, e.n_in, e.n_out,
                [b[e.base : e.base + e.length] for b in self.bundles], self.weights,
                self.consts, e.input_shape, e.output_shape, e.streaming_axis, e.t_last_out,
                e.name, e.input_channels_first, e.output_channels_first, debug=debug)
        return cache[k]

    # IO layout -------------------------------------------------------------------------------
    @property
    def B(self) -> int:
        return self.config.block_size

    def model_input_shape(self, model_index: int = 0) -> tuple[int, ...]:
        return self.model(model_index).input_shape

    def model_output_shape(self, model_index: int = 0) -> tuple[int, ...]:
        return self.model(model_index).output_shape

    def model_input_streaming_dim(self, model_index: int = 0) -> int | None:
        return self.model(model_index).streaming_axis

    def model_name(self, model_index: int = 0) -> str:
        return self.model(model_index).name

    def input_beats(self, x: np.ndarray, model_index: int = 0) -> np.ndarray:
        """One inference's input -> [n_in, B] bf16 bits, rows of feature blocks, zero padded."""
        if self.models is not None:
            return self.model(model_index).input_beats(x)
        self.check_model_index(model_index)
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

    def output_from_beats(self, beats: np.ndarray, model_index: int = 0) -> np.ndarray:
        if self.models is not None:
            return self.model(model_index).output_from_beats(beats)
        self.check_model_index(model_index)
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
    def cycle_count_per_inference(self, model_index: int = 0) -> int:
        """Cycles from the first input beat accepted to the last output beat valid (docs/isa.md)."""
        m = self.model(model_index)
        return m.n_in + m.t_last_out + isa.Timing.of(self.config).out

    def interval_cycles_per_inference(self, model_index: int = 0) -> int:
        """Cycles from one inference's first input beat accepted to the next one's, when
        inputs come as fast as they are taken and outputs are taken at once: the input stream
        is taken only while no program runs (docs/isa.md), so `n_in + P`. Its inverse is
        the throughput. Between inferences of different models add the MODEL_SELECT write's
        cycle and `isa.SELECT_CYCLES` (docs/isa.md, "Several models")."""
        m = self.model(model_index)
        return m.n_in + m.length

    def compute_duration_per_inference_us(self, clock_mhz: float | None = None,
                                          model_index: int = 0) -> float:
        if clock_mhz is None:
            clock_mhz = self.config.clock_mhz
        check_clock_mhz(clock_mhz, "clock_mhz")
        return self.cycle_count_per_inference(model_index) / clock_mhz

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
        models = []
        for k, e in enumerate(self.model_table()):
            models.append({
                "index": k, "name": e.name, "cores": list(e.cores),
                "cycles_per_inference": self.cycle_count_per_inference(k),
                "interval_cycles_per_inference": self.interval_cycles_per_inference(k),
                "program_length": e.length, "instr_base": e.base,
                "input_beats": e.n_in, "output_beats": e.n_out,
                "input_shape": _lists(e.input_shape), "output_shape": _lists(e.output_shape),
                "streaming_axis": e.streaming_axis,
                "weight_blocks_per_core": [n for _, n in e.weights],
                "constants": e.consts[1], "registers": [e.reg_lo, e.reg_hi],
            })
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
            # per model (a one-model program: one entry); the keys above are model 0's
            # cycles and the whole machine's memory
            "num_models": self.num_models(),
            "models": models,
        }

    def to_vm(self, bit_accurate: bool = True):
        from ..vm import VM  # lazy upward edge: compile -> vm

        if not bit_accurate:
            raise ValueError("rill's VM is always bit-accurate")
        if self.models is not None:
            from ..vm import MultiModelVM  # lazy upward edge: compile -> vm

            return MultiModelVM(self)
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
        header["models"] = [e.to_json() for e in self.model_table()]  # 5: the model table
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
        if version in NO_MODEL_TABLE_VERSIONS:
            raise LoadError(f"{origin}: format version {version} has no model table; this "
                            f"rill reads {FORMAT_VERSION}: recompile")
        if version in NO_M_RELU_VERSIONS:
            raise LoadError(f"{origin}: format version {version} has bundles without the "
                            f"m_relu bit; this rill reads {FORMAT_VERSION}: recompile")
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
            table = tuple(ModelEntry.from_json(e) for e in h["models"])
            if len(table) > 1:
                prog.models = table
            elif table != prog.model_table():
                raise LoadError(f"{origin}: the one-model table {table[0]} does not match the "
                                f"program's header")
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

