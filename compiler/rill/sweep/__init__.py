"""Design-space sweeps on Dask: `rill sweep` (cli), the grid and the per-point evaluation
(core), the models (models), the executor (executor) and the outputs (report)."""

from .core import config_label, evaluate, grid, load_grid, run
from .executor import Executor

__all__ = ["Executor", "config_label", "evaluate", "grid", "load_grid", "run"]
