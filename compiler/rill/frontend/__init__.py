"""Layer `frontend`: torch.fx model -> NNIR. The only layer that imports torch.

`prepare_shape` (prepare.py) traces the model and records shapes; `to_nnir` (convert.py) turns
the GraphModule into NNIR (`gru.py`: nn.GRU). Depends on `rill.ir` (and `rill.errors`) only. The
public spellings `rill.fx.prepare_shape` and `rill.fx.nnir.to_nnir` are re-exports in `rill/fx/`.
"""

from .convert import source_line, to_nnir
from .prepare import prepare_shape

__all__ = ["prepare_shape", "to_nnir", "source_line"]
