"""`rill.nn`: modules for streaming models, as in the commercial SDK (`vollo_torch.nn`).

`PaddedConv1d` is the streamable convolution: an `nn.Conv1d` with `(k - 1) * dilation` zeros of
LEFT padding, so the output has the input's length and output `t` sees inputs `<= t` only.
Streamed (`streaming_transform` on the time axis), each inference takes one time step and the
program keeps the partial sums of future outputs on chip; `vm.reset()` / the RTL's `clear`
zero them, which is exactly this padding's zeros (docs/architecture.md, "Convolutions").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["PaddedConv1d"]


class PaddedConv1d(torch.nn.Conv1d):
    """`nn.Conv1d(in_channels, out_channels, kernel_size, dilation=, groups=, bias=)` with
    causal (left) zero padding of `(kernel_size - 1) * dilation`: input `(N, C, L)` or `(C, L)`,
    output `(N, C_out, L)` or `(C_out, L)`. Stride 1, zero padding only."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                 groups: int = 1, bias: bool = True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0,
                         dilation=dilation, groups=groups, bias=bias, device=device, dtype=dtype)
        self.left_pad = (self.kernel_size[0] - 1) * self.dilation[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(F.pad(x, (self.left_pad, 0)), self.weight, self.bias, 1, 0,
                        self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", left_pad={self.left_pad}"
