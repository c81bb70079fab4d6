"""The learning-free object source: sprites are flat colours on a mostly plain background.

Per frame, the most common colour is the background; pixels farther from it than a tolerance are
foreground, and 4-connected foreground regions are objects. A region holding colours that point away
from the background in clearly different directions (the ball touching a paddle, a paddle touching a
wall) is split by colour; blends and frame-max ghosts of one sprite are not. One-colour regions
wider or taller than ``max_size`` of the frame are scenery (walls, bars, road edges) and are removed
first, so that a sprite touching them stays whole. On raw screens a sprite's pixels need not touch
(Space Invaders' aliens, Boxing's boxers): parts closer than ``merge_gap`` pixels are one object.
``split_colours: false`` keeps multi-coloured sprites whole (Freeway's cars). Regions that are still
wider or taller than ``max_size`` are dropped too. The embedding is the region's mean colour and its
size relative to the frame, which separates sprite types.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import ndimage

from space.config import SegmentConfig
from space.detection import Detection

FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


class SegmentSource:
    def __init__(self, cfg: SegmentConfig):
        self.cfg = cfg

    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list[list[Detection]]:
        return [self.detect_frame(frame) for frame in np.asarray(frames)]

    def detect_frame(self, frame: np.ndarray) -> list[Detection]:
        h, w = frame.shape[:2]
        rgb = frame.astype(np.int32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        values, counts = np.unique(packed, return_counts=True)
        bg_rgb = _unpack(values[np.argmax(counts)])
        far = np.abs(_unpack(values) - bg_rgb).max(-1) > self.cfg.colour_tolerance  # foreground colours
        # decided once per colour, not per pixel: a screen holds a few dozen colours at most
        foreground = far[np.searchsorted(values, packed)]
        foreground &= ~self._scenery(packed, values[far], counts[far], h, w)
        # parts closer than merge_gap pixels are one sprite (a raw Atari sprite's pixels need not touch)
        labels = self._group(foreground)
        areas = np.bincount(labels.ravel())  # regions smaller than min_area hold no object: skip early
        detections = []
        for index, window in enumerate(ndimage.find_objects(labels), start=1):
            if window is None or areas[index] < self.cfg.min_area:
                continue
            region = labels[window] == index
            parts = [region]
            if self.cfg.split_colours:
                parts = self._split_by_colour(region, packed[window], bg_rgb)
            for part in parts:
                self._add(detections, part, frame[window], (window[0].start, window[1].start), h, w)
        return detections

    def _group(self, mask: np.ndarray) -> np.ndarray:
        """Labels of ``mask``'s objects: 4-connected parts, with parts up to ``merge_gap`` pixels
        apart joined (labels are 0 off the mask)."""
        if not self.cfg.merge_gap:
            return ndimage.label(mask, FOUR_CONNECTED)[0]
        grown = ndimage.binary_dilation(mask, FOUR_CONNECTED, iterations=-(-self.cfg.merge_gap // 2))
        labels = ndimage.label(grown, FOUR_CONNECTED)[0]
        labels[~mask] = 0
        return labels

    def _scenery(self, packed: np.ndarray, values: np.ndarray, counts: np.ndarray, h: int, w: int
                 ) -> np.ndarray:
        """Pixels of one-colour regions wider or taller than ``max_size`` of the frame (walls, bars,
        road edges), removed before grouping so that a sprite touching them stays a sprite. Only
        colours with enough pixels to span that far are labelled."""
        scenery = np.zeros(packed.shape, dtype=bool)
        span_w, span_h = self.cfg.max_size * w, self.cfg.max_size * h
        for value in values[counts > min(span_w, span_h)]:
            labels, _ = ndimage.label(packed == value, FOUR_CONNECTED)
            for index, window in enumerate(ndimage.find_objects(labels), start=1):
                rows, cols = window
                if rows.stop - rows.start > span_h or cols.stop - cols.start > span_w:
                    scenery[window] |= labels[window] == index
        return scenery

    def _split_by_colour(self, region: np.ndarray, packed: np.ndarray, background: np.ndarray
                         ) -> Iterator[np.ndarray]:
        """The region itself, or one connected part per sprite colour (same window).

        Colours are compared by their direction away from the background, so the blends that
        resizing leaves along a sprite's edge stay with the sprite.
        """
        values, counts = np.unique(packed[region], return_counts=True)
        dominant = values[counts >= max(3, 0.02 * region.sum())]
        if len(dominant) < 2:
            yield region
            return
        directions = _unit(_unpack(dominant) - background)
        groups = [directions[0]]
        for d in directions[1:]:
            if max(float(d @ g) for g in groups) < self.cfg.same_sprite:
                groups.append(d)
        if len(groups) < 2:
            yield region
            return
        nearest = (_unit(_unpack(packed) - background) @ np.stack(groups).T).argmax(-1)
        for k in range(len(groups)):
            labels = self._group(region & (nearest == k))
            for index, window in enumerate(ndimage.find_objects(labels), start=1):
                if window is None:
                    continue
                part = np.zeros_like(region)
                part[window] = labels[window] == index
                yield part

    def _add(self, detections: list[Detection], mask: np.ndarray, pixels: np.ndarray,
             origin: tuple[int, int], h: int, w: int) -> None:
        area = int(mask.sum())
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        if area < self.cfg.min_area or width > self.cfg.max_size * w or height > self.cfg.max_size * h:
            return
        colour = pixels[mask].mean(0) / 255.0
        embedding = np.concatenate([colour, [width / w, height / h]]).astype(np.float32)
        if self.cfg.position == "centroid":
            ys, xs = np.nonzero(mask)
            x, y = xs.mean() + 0.5, ys.mean() + 0.5
        else:
            x, y = cols[0] + width / 2, rows[0] + height / 2
        detections.append(Detection(x=float(origin[1] + x), y=float(origin[0] + y), width=float(width),
                                    height=float(height), score=1.0, embedding=embedding))


def _unpack(packed: np.ndarray | np.integer) -> np.ndarray:
    """24-bit packed colours -> (..., 3) int RGB."""
    packed = np.asarray(packed)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)
