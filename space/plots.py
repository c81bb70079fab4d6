"""Pictures of detections: boxes on training images (tensorboard) and an evaluation PNG grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from common.io import atomic_write

TRUE_COLOUR = (60, 220, 60)  # RGB
PRED_COLOUR = (240, 40, 40)


def draw_boxes(images: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor,
               z_pres: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """(N, 3, S, S) images with the boxes of cells whose presence exceeds ``threshold``."""
    size = images.shape[-1]
    out = []
    for image, c, s, p in zip(images, centre, scale, z_pres, strict=True):
        canvas = np.ascontiguousarray(image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)
        for (cx, cy), (w, h) in zip(c[p > threshold].tolist(), s[p > threshold].tolist(), strict=True):
            x, y = (cx + 1) / 2 * size, (cy + 1) / 2 * size
            _rectangle(canvas, x, y, w * size, h * size, PRED_COLOUR, 1)
        out.append(torch.from_numpy(canvas).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def detection_grid(frames: np.ndarray, predicted: Sequence[Sequence], true: Sequence[Sequence[dict]] | None,
                   columns: int = 4, zoom: int | None = None) -> np.ndarray:
    """Frames enlarged with true boxes (green) and predicted boxes (red), tiled into one image."""
    h, w = frames.shape[1:3]
    zoom = zoom or max(1, 256 // max(h, w))
    tiles = []
    for i, frame in enumerate(frames):
        tile = np.ascontiguousarray(cv2.resize(frame, (w * zoom, h * zoom), interpolation=cv2.INTER_NEAREST))
        for obj in (true[i] if true is not None else []):
            _rectangle(tile, obj["x"] * zoom, obj["y"] * zoom, obj["width"] * zoom, obj["height"] * zoom,
                       TRUE_COLOUR, 1)
        for d in predicted[i]:
            _rectangle(tile, d.x * zoom, d.y * zoom, d.width * zoom, d.height * zoom, PRED_COLOUR, 1)
            cv2.drawMarker(tile, (int(d.x * zoom), int(d.y * zoom)), PRED_COLOUR, cv2.MARKER_CROSS, 5, 1)
        tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], 1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, 0)


def write_png(path: Path, image: np.ndarray) -> Path:
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    return atomic_write(path, lambda tmp: tmp.write_bytes(data.tobytes()))


def _rectangle(canvas: np.ndarray, x: float, y: float, w: float, h: float,
               colour: tuple[int, int, int], thickness: int) -> None:
    top_left = (int(round(x - w / 2)), int(round(y - h / 2)))
    bottom_right = (int(round(x + w / 2)) - 1, int(round(y + h / 2)) - 1)
    cv2.rectangle(canvas, top_left, bottom_right, colour, thickness)
