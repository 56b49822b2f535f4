"""`rill.fx.nnir.to_nnir`: re-export of `rill.frontend.convert` under its public name."""

from ..frontend.convert import source_line, to_nnir

__all__ = ["to_nnir", "source_line"]
