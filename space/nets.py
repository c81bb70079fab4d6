"""Small convolutional building blocks shared by SPACE's foreground and background."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal


def conv_block(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv, group norm, CELU: the unit every SPACE network is made of."""
    padding = (kernel - 1) // 2 if stride == 1 else 1
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding),
        nn.GroupNorm(min(4, c_out), c_out),
        nn.CELU(),
    )


def halvings(size: int) -> int:
    """How many times ``size`` halves evenly before reaching 4 or less (decoder stages)."""
    count = 0
    while size % 2 == 0 and size > 4:
        size //= 2
        count += 1
    return count


class DownEncoder(nn.Module):
    """(N, C, S, S) -> (N, out_dim): stride-2 convolutions, then a linear layer."""

    def __init__(self, c_in: int, size: int, channels: int, out_dim: int):
        super().__init__()
        layers, c = [], c_in
        for i in range(halvings(size)):
            width = min(channels * 2**i, channels * 4)
            layers.append(conv_block(c, width, 4, 2))
            c = width
        self.convs = nn.Sequential(*layers)
        side = size // 2 ** halvings(size)
        self.out = nn.Linear(c * side * side, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.convs(x).flatten(1))


class UpDecoder(nn.Module):
    """(N, z_dim) -> (N, out_channels, S, S) logits: a linear layer, then upsampling convolutions."""

    def __init__(self, z_dim: int, out_channels: int, size: int, channels: int):
        super().__init__()
        n_up = halvings(size)
        self.side = size // 2**n_up
        self.c0 = channels * 2 ** min(n_up, 2)
        self.inp = nn.Linear(z_dim, self.c0 * self.side * self.side)
        layers, c = [], self.c0
        for _ in range(n_up):
            width = max(c // 2, channels // 2)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), conv_block(c, width)]
            c = width
        layers.append(nn.Conv2d(c, out_channels, 1))
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.celu(self.inp(z)).view(-1, self.c0, self.side, self.side)
        return self.convs(h)


def gaussian(params: torch.Tensor) -> Normal:
    """Split the last dimension into mean and a softplus-positive standard deviation."""
    mean, raw = params.chunk(2, dim=-1)
    return Normal(mean, nn.functional.softplus(raw) + 1e-4)
