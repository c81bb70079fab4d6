"""Frames of the symbolic agent with its detected objects and chosen action drawn on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from common.io import atomic_write

PALETTE = [(255, 80, 80), (80, 200, 255), (255, 220, 60), (160, 255, 120), (230, 120, 255), (255, 160, 60)]


@dataclass
class Annotated:
    frame: np.ndarray  # (H, W, 3) uint8
    objects: list[dict]  # dataset schema: type, x_position, y_position, optional width, height
    action: str


def draw(item: Annotated, scale: int = 4, type_names: list[str] | None = None) -> Image.Image:
    """The frame enlarged ``scale`` times, a box per object coloured by type, the action below."""
    h, w = item.frame.shape[:2]
    image = Image.fromarray(item.frame).resize((w * scale, h * scale), Image.NEAREST)
    canvas = Image.new("RGB", (w * scale, h * scale + 14), (0, 0, 0))
    canvas.paste(image, (0, 0))
    pen = ImageDraw.Draw(canvas)
    for obj in item.objects:
        colour = PALETTE[int(obj["type"]) % len(PALETTE)]
        half_w = max(float(obj.get("width", 4)), 2) / 2 * scale
        half_h = max(float(obj.get("height", 4)), 2) / 2 * scale
        cx, cy = obj["x_position"] * scale, obj["y_position"] * scale
        pen.rectangle([cx - half_w - 1, cy - half_h - 1, cx + half_w + 1, cy + half_h + 1], outline=colour)
        if type_names:
            pen.text((cx + half_w + 2, cy - half_h - 2), type_names[int(obj["type"])], fill=colour)
    pen.text((3, h * scale + 1), f"action: {item.action}", fill=(255, 255, 255))
    return canvas


def write_gif(items: list[Annotated], path: Path, fps: int = 15, type_names: list[str] | None = None) -> Path:
    images = [draw(item, type_names=type_names) for item in items]

    def save(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)

    return atomic_write(path, save)
