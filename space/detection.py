"""What every object source returns: detections in frame pixels, and the source interface.

Kept apart from ``space.sources`` (which builds the sources) so that the sources themselves can
import it without a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Detection:
    """One object in frame pixels: centre, size, confidence and the embedding typed later."""

    x: float
    y: float
    width: float
    height: float
    score: float
    embedding: np.ndarray = field(repr=False)
    type: int | None = None  # only the oracle knows it


class ObjectSource(Protocol):
    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list[list[Detection]]:
        """``frames`` (N, H, W, 3) uint8 -> the detections of each frame."""
        ...
