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
        colour_index = np.searchsorted(values, packed)
        foreground = far[colour_index]
        foreground &= ~self._scenery(colour_index, np.flatnonzero(far), counts, h, w)
        # parts closer than merge_gap pixels are one sprite (a raw Atari sprite's pixels need not touch)
        labels = self._group(foreground)
        n_labels = int(labels.max()) + 1
        areas = np.bincount(labels.ravel(), minlength=n_labels)
        # a region's sums over the foreground pixels: most regions are one colour and are never cut
        pixel = np.flatnonzero(labels)
        owner = labels.ravel()[pixel]
        colour_sums = np.stack([np.bincount(owner, channel.ravel()[pixel].astype(np.float64), n_labels)
                                for channel in np.moveaxis(frame, -1, 0)], -1)
        centroid_sums = None
        if self.cfg.position == "centroid":
            centroid_sums = np.stack([np.bincount(owner, (pixel // w).astype(np.float64), n_labels),
                                      np.bincount(owner, (pixel % w).astype(np.float64), n_labels)], -1)
        dominant = np.zeros((n_labels, 1), dtype=bool)  # (region, colour): one of its sprites' colours
        if self.cfg.split_colours:
            dominant = self._dominant_colours(owner, colour_index.ravel()[pixel], areas, len(values))
        may_split = dominant.sum(axis=1) >= 2
        detections = []
        for index, window in enumerate(ndimage.find_objects(labels), start=1):
            if window is None or areas[index] < self.cfg.min_area:
                continue
            if not may_split[index]:  # the whole region, from the sums
                rows, cols = window
                position = None
                if centroid_sums is not None:  # summed in the window, as ``_add`` does: the same floats
                    origin = np.array([rows.start, cols.start])
                    position = origin + ((centroid_sums[index] - areas[index] * origin) / areas[index] + 0.5)
                self._append(detections, int(areas[index]), rows.start, cols.start, rows.stop - rows.start,
                             cols.stop - cols.start, colour_sums[index] / areas[index], position, h, w)
                continue
            region = labels[window] == index
            for part in self._split_by_colour(region, packed[window], values[dominant[index]], bg_rgb):
                self._add(detections, part, frame[window], (window[0].start, window[1].start), h, w)
        return detections

    @staticmethod
    def _dominant_colours(labels: np.ndarray, colour_index: np.ndarray, areas: np.ndarray, n_colours: int
                          ) -> np.ndarray:
        """(region, colour) True where the colour holds at least 3 of the region's pixels and 2 % of
        them (``labels`` and ``colour_index`` of its pixels): the colours ``_split_by_colour`` weighs;
        a region with fewer than two is one sprite."""
        counts = np.bincount(labels * n_colours + colour_index, minlength=len(areas) * n_colours)
        return counts.reshape(len(areas), n_colours) >= np.maximum(3, 0.02 * areas)[:, None]

    def _group(self, mask: np.ndarray) -> np.ndarray:
        """Labels of ``mask``'s objects: 4-connected parts, with parts up to ``merge_gap`` pixels
        apart joined (labels are 0 off the mask)."""
        if not self.cfg.merge_gap:
            return ndimage.label(mask, FOUR_CONNECTED)[0]
        grown = ndimage.binary_dilation(mask, FOUR_CONNECTED, iterations=-(-self.cfg.merge_gap // 2))
        labels = ndimage.label(grown, FOUR_CONNECTED)[0]
        labels[~mask] = 0
        return labels

    def _scenery(self, colour_index: np.ndarray, candidates: np.ndarray, counts: np.ndarray, h: int, w: int
                 ) -> np.ndarray:
        """Pixels of one-colour regions wider or taller than ``max_size`` of the frame (walls, bars,
        road edges), removed before grouping so that a sprite touching them stays a sprite. Only the
        ``candidates`` (indices into the frame's colours) with pixels enough, and rows or columns
        unbroken for long enough, to span that far are labelled."""
        scenery = np.zeros(colour_index.shape, dtype=bool)
        span_w, span_h = self.cfg.max_size * w, self.cfg.max_size * h
        for colour in candidates[counts[candidates] > min(span_w, span_h)]:
            mask = colour_index == colour
            # a 4-connected part fills every row and column of its box, so a part that spans that
            # far needs as long an unbroken run of rows (or columns) holding the colour
            if _longest_run(mask.any(axis=1)) <= span_h and _longest_run(mask.any(axis=0)) <= span_w:
                continue
            labels, _ = ndimage.label(mask, FOUR_CONNECTED)
            for index, window in enumerate(ndimage.find_objects(labels), start=1):
                rows, cols = window
                if rows.stop - rows.start > span_h or cols.stop - cols.start > span_w:
                    scenery[window] |= labels[window] == index
        return scenery

    def _split_by_colour(self, region: np.ndarray, packed: np.ndarray, dominant: np.ndarray,
                         background: np.ndarray) -> Iterator[np.ndarray]:
        """The region itself, or one connected part per sprite colour (same window); ``dominant``
        are the region's packed colours that count (``_dominant_colours``), two or more.

        Colours are compared by their direction away from the background, so the blends that
        resizing leaves along a sprite's edge stay with the sprite.
        """
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
        """One part of a region cut by colour: its box, mean colour and centroid from its mask."""
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        position = None
        if self.cfg.position == "centroid":
            ys, xs = np.nonzero(mask)
            position = np.array(origin) + (np.array([ys.mean(), xs.mean()]) + 0.5)
        self._append(detections, int(mask.sum()), origin[0] + rows[0], origin[1] + cols[0],
                     rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1, pixels[mask].mean(0), position, h, w)

    def _append(self, detections: list[Detection], area: int, top: int, left: int, height: int, width: int,
                colour: np.ndarray, position: np.ndarray | None, h: int, w: int) -> None:
        """A detection unless it is too small or too large; ``position`` is the (y, x) centroid, or
        None for the box's centre."""
        if area < self.cfg.min_area or width > self.cfg.max_size * w or height > self.cfg.max_size * h:
            return
        embedding = np.concatenate([colour / 255.0, [width / w, height / h]]).astype(np.float32)
        y, x = (top + height / 2, left + width / 2) if position is None else position
        detections.append(Detection(x=float(x), y=float(y), width=float(width), height=float(height),
                                    score=1.0, embedding=embedding))


def _longest_run(flags: np.ndarray) -> int:
    """The length of the longest unbroken run of True in a 1-D array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    return int((edges[1::2] - edges[::2]).max(initial=0))


def _unpack(packed: np.ndarray | np.integer) -> np.ndarray:
    """24-bit packed colours -> (..., 3) int RGB."""
    packed = np.asarray(packed)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)
