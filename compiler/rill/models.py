"""The reference models the demo, the benchmark and the tests share."""

from __future__ import annotations

import torch
import torch.nn as nn


class LstmNet(nn.Module):
    """The seed LSTM of the user flow: 128 -> LSTM 256 x 2 layers -> Linear 16."""

    def __init__(self, input_size=128, hidden_size=256, num_layers=2, output_size=16):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x, _ = self.lstm(x)
        return self.linear(x)


class GruNet(nn.Module):
    """The seed LSTM's sizes with a GRU: 128 -> GRU 256 x 2 layers -> Linear 16."""

    def __init__(self, input_size=128, hidden_size=256, num_layers=2, output_size=16):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers=num_layers)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x, _ = self.gru(x)
        return self.linear(x)


class Mlp(nn.Module):
    """The benchmark MLP: 784 -> 128 -> 128 (+ residual) -> 10."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 128), nn.Linear(128, 128), nn.Linear(128, 10)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h)) + h
        return self.fc3(h)


class CnnNet(nn.Module):
    """The commercial SDK's example-2 CNN: PaddedConv1d 32 -> 128 (k=3), ReLU, PaddedConv1d
    128 -> 1 (k=3), ReLU, on (1, 32, L); streamed on axis 2."""

    def __init__(self):
        from .nn import PaddedConv1d

        super().__init__()
        self.conv1 = PaddedConv1d(32, 128, 3)
        self.conv2 = PaddedConv1d(128, 1, 3)

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


class NormLinearGelu(nn.Module):
    """Reference block 1 of the op-set issue: LayerNorm(256) -> Linear(256, 256) -> GELU."""

    def __init__(self, d: int = 256):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.fc(self.ln(x)))


class PreNormFfn(nn.Module):
    """Reference block 2: the pre-norm residual feed-forward block
    x + Linear(256, 256)(GELU(Linear(256, 256)(LayerNorm(256)(x))))."""

    def __init__(self, d: int = 256):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, d)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(self.ln(x))))


class ReluMlp(nn.Module):
    """Linear layers of the given sizes with a ReLU between each two: the tests' MLP."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x
