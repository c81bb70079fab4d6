"""Frames to model inputs: (N, H, W, 3) uint8 -> (N, 3, S, S) float in [0, 1] at the model's size."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(frames: np.ndarray, size: int) -> torch.Tensor:
    """Resize with area averaging when shrinking (no aliasing of small sprites), bilinear otherwise."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] == (size, size):
        return x
    if x.shape[-2] >= size and x.shape[-1] >= size:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def to_uint8(frames: np.ndarray, size: int, chunk: int = 1024) -> torch.Tensor:
    """A whole frame set at the model's size, kept as uint8 to save memory while training."""
    parts = [to_tensor(frames[i:i + chunk], size).mul_(255).round_().to(torch.uint8)
             for i in range(0, len(frames), chunk)]
    return torch.cat(parts)
