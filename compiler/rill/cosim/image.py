"""What the parent process hands the accelerator bench, and what the bench hands back.

`RunImage` (program, input beats, the VM's expected beats, clears, stimulus options) and
`RunResult` (received beats, measured cycles, findings, dynamic coverage bins) are the only
contract between `rill.cosim.run` and the cocotb bench `tb_accel.py`, which runs in the
simulator's Python.
Each is written and read here and nowhere else: one `.npz` file per run directory
(`image.npz`, `result.npz`), arrays as arrays and the rest as one JSON string, no pickles.
The `$readmemh` files of the simulation backdoor are derived from the image
(`RunImage.write_backdoor`), not part of it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..compile.program import ModelEntry, Program
from ..hw import isa
from ..hw.config import Config

IMAGE_FILE = "image.npz"
RESULT_FILE = "result.npz"
LOADS = ("backdoor", "port")


def _save(path: Path, meta: dict, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")  # never leave a half-written file behind
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def _load(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def config_from_rtl_parameters(params: dict[str, int]) -> Config:
    """The inverse of `Config.rtl_parameters()` (a bench run without a program image)."""
    return Config(params["NUM_CORES"], params["B"], weight_depth=params["WEIGHT_DEPTH"],
                  rf_depth=params["RF_DEPTH"], instr_depth=params["INSTR_DEPTH"],
                  out_fifo_depth=params["OUT_FIFO_DEPTH"])


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the bench drives the run (see `rill.cosim.run.run`)."""

    load: str = "backdoor"  # "backdoor" ($readmemh preload) or "port" (the load port)
    gaps: float = 0.0  # probability of an idle input cycle before a beat
    backpressure: float = 0.0  # probability of a not-ready output cycle
    clean_every: int = 1  # every n-th inference back to back, unthrottled, cycle-checked
    seed: int = 1
    # every inference's beats offered as soon as the accelerator takes them (no gaps, no
    # backpressure, no waiting for outputs): the interval between inferences, measured
    back_to_back: bool = False
    # the bench logs every register-bank write (rilltb.WriteLogMonitor; needs the debug build,
    # rill.cosim.divergence) into the run directory
    write_log: bool = False

    def __post_init__(self) -> None:
        if self.load not in LOADS:
            raise ValueError(f"load={self.load!r}: 'backdoor' or 'port'")

    def is_clean(self, k: int) -> bool:
        return self.back_to_back or k % max(1, self.clean_every) == 0


@dataclasses.dataclass
class RunImage:
    """A program run: everything the bench needs, and nothing it has to re-derive."""

    program: Program
    # [n_inf, n_in, B] uint16, raw input beats; a program of several models: [n_inf, the
    # largest n_in, B], inference k's beats are the first n_in(k) (`beats_in(k)`)
    in_beats: np.ndarray
    expected_beats: np.ndarray  # [n_inf, n_out, B] uint16, the VM's output beats (likewise)
    # inferences preceded by clear_i (and a VM reset): of inference k's model (select + clear);
    # before inference 0, of every model
    resets: tuple[int, ...] = (0,)
    options: RunOptions = RunOptions()
    # the model each inference runs (a program of several models); () = all model 0
    model_indices: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        p, n = self.program, len(self.in_beats)
        table = p.model_table()
        n_in, n_out = max(e.n_in for e in table), max(e.n_out for e in table)
        self.in_beats = np.asarray(self.in_beats, np.uint16).reshape(n, n_in, p.B)
        self.expected_beats = np.asarray(self.expected_beats, np.uint16).reshape(n, n_out, p.B)
        self.resets = tuple(sorted({0, *self.resets}))
        self.model_indices = tuple(int(m) for m in self.model_indices) or (0,) * n
        if len(self.model_indices) != n:
            raise ValueError(f"model_indices: {len(self.model_indices)} for {n} inferences")
        for m in set(self.model_indices):
            p.check_model_index(m)

    def model_of(self, k: int) -> ModelEntry:
        return self.program.model_table()[self.model_indices[k]]

    def beats_in(self, k: int) -> np.ndarray:
        """Inference k's input beats, [n_in of its model, B]."""
        return self.in_beats[k, : self.model_of(k).n_in]

    def beats_expected(self, k: int) -> np.ndarray:
        return self.expected_beats[k, : self.model_of(k).n_out]

    def expected_cycles_of(self, k: int) -> int:
        return self.program.cycle_count_per_inference(self.model_indices[k])

    @property
    def config(self) -> Config:
        return self.program.config

    @property
    def n_inferences(self) -> int:
        return len(self.in_beats)

    @property
    def expected_cycles(self) -> int:
        return self.program.cycle_count_per_inference()

    # load-port words (the bench's load-port driver and the backdoor files use the same) ------
    def imem_words(self, core: int) -> list[int]:
        """One bundle per word, the bundle's bytes as a little-endian integer."""
        return [int.from_bytes(bytes(r), "little") for r in self.program.bundles[core]]

    def wmem_words(self, core: int) -> list[int]:
        """One row of B bf16 per word (load-port order block*B + row), column j in [16j +: 16]."""
        w = np.asarray(self.program.weights[core], "<u2").reshape(-1, self.config.block_size)
        return [int.from_bytes(row.tobytes(), "little") for row in w]

    def const_words(self) -> list[int]:
        """One row of B fp32 per word, lane i in [32i +: 32]."""
        c = np.asarray(self.program.consts, "<u4").reshape(-1, self.config.block_size)
        return [int.from_bytes(row.tobytes(), "little") for row in c]

    def write_backdoor(self, run_dir: Path) -> list[str]:
        """Write the `$readmemh` files of the simulation backdoor; return their plusargs."""
        c = self.config
        digits = {"imem": (isa.bundle_bits(c) + 3) // 4, "wmem": 4 * c.block_size,
                  "const": 8 * c.block_size}
        files = {}
        for core in range(c.num_cores):
            files[f"rill_imem{core}"] = ("imem", self.imem_words(core))
            files[f"rill_wmem{core}"] = ("wmem", self.wmem_words(core))
        files["rill_const"] = ("const", self.const_words())
        args = []
        for plusarg, (kind, words) in files.items():
            if words:  # an empty memory keeps its reset contents
                f = run_dir / f"{plusarg}.hex"
                f.write_text("".join(f"{v:0{digits[kind]}x}\n" for v in words))
                args.append(f"+{plusarg}={f}")
        return args

    # the file --------------------------------------------------------------------------------
    def save(self, run_dir: Path) -> Path:
        run_dir.mkdir(parents=True, exist_ok=True)
        meta = {"resets": list(self.resets), "options": dataclasses.asdict(self.options),
                "model_indices": list(self.model_indices)}
        program = np.frombuffer(self.program.save_bytes(), np.uint8)
        _save(run_dir / IMAGE_FILE, meta, program=program, in_beats=self.in_beats,
              expected_beats=self.expected_beats)
        return run_dir

    @classmethod
    def exists(cls, run_dir: Path) -> bool:
        return (run_dir / IMAGE_FILE).is_file()

    @classmethod
    def load(cls, run_dir: Path) -> RunImage:
        meta, a = _load(run_dir / IMAGE_FILE)
        program = Program.load_bytes(a["program"].tobytes(), str(run_dir / IMAGE_FILE))
        return cls(program, a["in_beats"], a["expected_beats"], tuple(meta["resets"]),
                   RunOptions(**meta["options"]), tuple(meta.get("model_indices", ())))


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One output element whose bits differ from the VM's."""

    inference: int
    beat: int
    element: int
    expected: int
    actual: int
    cycle: int  # the cycle the beat was first valid

    def __str__(self) -> str:
        return (f"inference {self.inference} beat {self.beat} element {self.element}: expected "
                f"0x{self.expected:04x} actual 0x{self.actual:04x} (cycle {self.cycle})")


def beat_mismatch(inference: int, beat: int, cycle: int, expected: np.ndarray,
                  actual: np.ndarray) -> str:
    """A whole beat, expected vs actual, as hex (lane 0 in the low bits) and the lanes that
    differ: how the first mismatch of a run is reported."""
    exp = np.asarray(expected)
    dt = exp.dtype.newbyteorder("<")
    exp, act = exp.astype(dt), np.asarray(actual).astype(dt)
    lanes = np.nonzero(exp != act)[0].tolist()
    return (f"first mismatch: inference {inference} beat {beat} (cycle {cycle}), lanes {lanes}\n"
            f"  expected 0x{exp.tobytes()[::-1].hex()}\n"
            f"  actual   0x{act.tobytes()[::-1].hex()}")


@dataclasses.dataclass
class RunResult:
    """What the bench measured; `ok` only when every bit, cycle and protocol check held."""

    out_beats: np.ndarray  # [n_inf, n_out, B] uint16 received (zeros where a beat was lost)
    cycles: list[int]  # per inference (-1: incomplete); exact on clean inferences
    clean: list[bool]  # inferences driven back to back without backpressure
    mismatches: list[Mismatch]
    errors: list[str]  # protocol / status / timing findings
    sim_cycles: int
    # dynamic coverage bins the bench measured (rill.cosim.coverage: input gaps, output
    # backpressure by beat position, output FIFO high-water mark, clears), bin -> hits
    coverage: dict[str, int] = dataclasses.field(default_factory=dict)
    starts: list[int] = dataclasses.field(default_factory=list)  # first input beat's cycle

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.errors

    def save(self, run_dir: Path) -> Path:
        meta = {"cycles": self.cycles, "clean": self.clean, "errors": self.errors,
                "sim_cycles": self.sim_cycles, "coverage": self.coverage,
                "starts": self.starts,
                "mismatches": [dataclasses.asdict(m) for m in self.mismatches]}
        _save(run_dir / RESULT_FILE, meta, out_beats=np.asarray(self.out_beats, np.uint16))
        return run_dir

    @classmethod
    def exists(cls, run_dir: Path) -> bool:
        return (run_dir / RESULT_FILE).is_file()

    @classmethod
    def load(cls, run_dir: Path) -> RunResult:
        meta, a = _load(run_dir / RESULT_FILE)
        return cls(a["out_beats"], [int(c) for c in meta["cycles"]],
                   [bool(c) for c in meta["clean"]],
                   [Mismatch(**m) for m in meta["mismatches"]], list(meta["errors"]),
                   int(meta["sim_cycles"]),
                   {str(k): int(v) for k, v in meta.get("coverage", {}).items()},
                   [int(c) for c in meta.get("starts", [])])
