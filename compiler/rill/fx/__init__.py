"""`rill.fx`: the Vollo-style public spelling of the torch frontend (`rill.frontend`).

`rill.fx.prepare_shape(model, x)` and `rill.fx.nnir.to_nnir(gm)`; imported on first use of
`rill.fx`, since it pulls in torch.
"""

from __future__ import annotations

from ..frontend import prepare_shape
from . import nnir

__all__ = ["prepare_shape", "nnir"]
