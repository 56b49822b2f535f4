"""Models that found defects, kept as named regressions (used by tests/ and cosim/).

Padding stress (issue 8 item 13): ops run on whole blocks, so lanes past a tensor's last
feature are computed too; these models make the padded lanes large, inf or NaN, where a dot
product's zero-weight rule (docs/numerics.md, "Specials") must keep them out of real lanes.
Each takes a (5,) input (Lstm13: (T, 5)) and fits every config.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class GrowPadded(nn.Module):
    """Real lanes of the sigmoid are ~2e-9 and square away to 0; the 5 padded lanes of the
    block (3 features on B = 8) are 0.5, then 1, 2, 4, ... and inf after 8 squarings."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 3)
        self.out = nn.Linear(3, 2)
        with torch.no_grad():
            self.fc.bias.fill_(-20.0)

    def forward(self, x):
        s = torch.sigmoid(self.fc(x))
        v = (s + s) + (s + s)
        for _ in range(8):
            v = v * v
        return self.out(v)


class InfThroughTanh(nn.Module):
    """An inf input lane: the first Linear's padded rows face it with zero weights; tanh
    saturates the real rows to +-1, so torch's output is finite."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(torch.tanh(self.fc(x)))


class Lstm13(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 13)
        self.fc = nn.Linear(13, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y)


def grow_input() -> torch.Tensor:
    return torch.randn(5)


def inf_input() -> torch.Tensor:
    x = torch.randn(5)
    x[2] = float("inf")
    return x
