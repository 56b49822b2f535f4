"""What `rill synth` synthesises: the arithmetic units at a block size, and whole configs."""

from __future__ import annotations

from .. import manifest
from ..config import Config
from .flow import Unit


def unit(name: str, block_size: int = 8) -> Unit:
    if name not in manifest.MODULES:
        raise KeyError(f"unknown RTL module {name!r}; known: {', '.join(manifest.MODULES)}")
    params = (("B", block_size),) if manifest.MODULES[name].block_param else ()
    if name == "rill_vector_unit":
        params += (("IDX_BITS", 6),)
    return Unit(name=f"{name}" + (f"_b{block_size}" if params else ""), top=name,
                sources=tuple(manifest.names(name)), params=params)


def config_unit(name: str) -> Unit:
    """The whole accelerator (`rill_top`) for a preset config, e.g. `c1b8`."""
    config = getattr(Config, name)()
    return Unit(name=name, top="rill_top", sources=tuple(manifest.names("rill_top")),
                params=tuple(config.rtl_parameters().items()))


def default_units(block_size: int = 8) -> list[Unit]:
    return [unit(n, block_size) for n, m in manifest.MODULES.items() if m.unit]
