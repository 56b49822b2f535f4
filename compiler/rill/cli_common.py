"""What the user-facing subcommands (`rill compile`, `run`, `info`, `presets`) share: the exit
codes, the usage error, and resolving a config spec, a model spec and an input file.

Exit codes of every rill subcommand: 0 ok; 1 a verification mismatch (cosim: RTL vs VM);
2 a usage or input error (bad arguments, a missing or malformed file, an unknown preset, a
model that cannot be imported or compiled: one line naming what was wrong); 3 an internal
error (an unexpected exception: a one-line message, the traceback only with `rill --debug` or
RILL_DEBUG=1).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from .errors import RillError
from .hw.config import PRESET_ALIASES, PRESET_NAMES, Config

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

EXIT_CODES_EPILOG = ("exit status: 0 ok; 1 verification mismatch (cosim); 2 usage or input "
                     "error; 3 internal error (traceback with rill --debug or RILL_DEBUG=1)")


class UsageError(RillError, ValueError):
    """A command line names something that does not exist or cannot be used (exit 2)."""


def resolve_config(spec: str | None, default: str = "bittware_ia840f_c3b64") -> Config:
    """`--config`: a preset name or a Config JSON file (Config.save)."""
    spec = default if spec is None else spec
    if spec in PRESET_NAMES:
        return Config.preset(spec)
    if spec.endswith(".json") or os.sep in spec or Path(spec).is_file():
        if not Path(spec).is_file():
            raise UsageError(f"--config {spec}: no such config file")
        return Config.load(spec)
    raise UsageError(f"--config {spec!r}: unknown preset (and not a .json file); presets: "
                     f"{', '.join(PRESET_NAMES)}")


def preset_name_of(config: Config) -> str | None:
    """The first preset equal to `config` (board names before their short aliases)."""
    for name, factory in Config.presets().items():
        if name not in PRESET_ALIASES and factory() == config:
            return name
    return None


def describe_config(config: Config) -> str:
    name = preset_name_of(config)
    cores = "core" if config.num_cores == 1 else "cores"
    size = (f"{config.num_cores} {cores} x {config.block_size}, {config.clock_mhz:g} MHz, "
            f"{config.weight_depth} weight blocks per core")
    return f"{name} ({size})" if name else f"custom config ({size})"


def load_model_factory(spec: str):
    """`module:factory` or `path/to/file.py:factory` -> the callable (not yet called)."""
    if ":" not in spec:
        raise UsageError(f"model {spec!r}: expected module:factory, path/to/file.py:factory or "
                         f"an .onnx file")
    where, name = spec.rsplit(":", 1)
    if not where or not name.isidentifier():
        raise UsageError(f"model {spec!r}: expected module:factory with a factory name")
    if where.endswith(".py") or os.sep in where:
        path = Path(where)
        if not path.is_file():
            raise UsageError(f"model {spec!r}: no such file {where}")
        mod_name = f"_rill_user_model_{path.stem}"
        try:
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module
            loader_spec.loader.exec_module(module)
        except Exception as e:  # the user's file: any failure is bad input
            raise UsageError(f"model {spec!r}: importing {where} failed: "
                             f"{type(e).__name__}: {e}") from e
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())  # as `python -m` does: modules next to the user
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as e:
            raise UsageError(f"model {spec!r}: no module named {e.name or where!r}") from e
        except Exception as e:
            raise UsageError(f"model {spec!r}: importing module {where!r} failed: "
                             f"{type(e).__name__}: {e}") from e
    factory = getattr(module, name, None)
    if factory is None:
        raise UsageError(f"model {spec!r}: {where} has no attribute {name!r}")
    if not callable(factory):
        raise UsageError(f"model {spec!r}: {where}.{name} is not callable")
    return factory


def load_array(path: str, what: str = "inputs") -> np.ndarray:
    """A .npy file as an array; an unreadable or non-array file is a UsageError."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} {path}: no such file")
    try:
        x = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"{what} {path}: not a .npy array ({e})") from e
    if not isinstance(x, np.ndarray):
        raise UsageError(f"{what} {path}: expected one .npy array, got a .npz archive")
    return x


def parse_shape(values: list[str]) -> tuple[int, ...]:
    """`--input-shape 20 128`, `--input-shape 20,128` or `--input-shape 20x128`."""
    dims = []
    for v in values:
        for part in v.replace("x", ",").split(","):
            if not part.strip():
                continue
            try:
                d = int(part)
            except ValueError:
                raise UsageError(f"--input-shape {' '.join(values)}: {part!r} is not an "
                                 f"integer") from None
            if d < 1:
                raise UsageError(f"--input-shape {' '.join(values)}: dimensions must be >= 1")
            dims.append(d)
    if not dims:
        raise UsageError("--input-shape: no dimensions given")
    return tuple(dims)


def fmt_shape(shape) -> str:
    if shape and isinstance(shape[0], (tuple, list)):  # several inputs or outputs
        return ", ".join(fmt_shape(s) for s in shape)
    dims = [str(int(d)) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
