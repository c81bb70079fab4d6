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

import cv2
import numpy as np

from space.config import SegmentConfig
from space.detection import Detection

MAX_PALETTE = 1024  # colours kept between frames; beyond, a frame starts again from its own


class SegmentSource:
    def __init__(self, cfg: SegmentConfig):
        self.cfg = cfg
        # OpenCV's parallel labelling takes twice the CPU on a screen and more wall time than one thread
        cv2.setNumThreads(1)
        self._palette = np.zeros(1, dtype=np.int32)  # sorted packed colours of the frames seen so far

    def _colours(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sorted colours (a superset of the frame's), each pixel's index into them and each
        colour's pixel count. A game's screens share a few dozen colours, so the colours of earlier
        frames are kept and looked up rather than sorting every frame's pixels; the results do not
        depend on which colours are kept (absent ones count 0 pixels), only the time does."""
        palette = self._palette
        index = np.minimum(np.searchsorted(palette, packed), len(palette) - 1)
        if not np.array_equal(palette[index], packed):
            fresh = np.unique(packed)
            palette = np.union1d(palette, fresh) if len(palette) + len(fresh) <= MAX_PALETTE else fresh
            self._palette = palette
            index = np.searchsorted(palette, packed)
        return palette, index, np.bincount(index.ravel(), minlength=len(palette))

    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list[list[Detection]]:
        return [self.detect_frame(frame) for frame in np.asarray(frames)]

    def detect_frame(self, frame: np.ndarray) -> list[Detection]:
        h, w = frame.shape[:2]
        rgb = frame.astype(np.int32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        values, colour_index, counts = self._colours(packed)
        bg_rgb = _unpack(values[np.argmax(counts)])
        # decided once per colour, not per pixel: a screen holds a few dozen colours at most
        far = np.abs(_unpack(values) - bg_rgb).max(-1) > self.cfg.colour_tolerance  # foreground colours
        foreground = far[colour_index]
        foreground &= ~self._scenery(colour_index, np.flatnonzero(far), counts, h, w)
        # parts closer than merge_gap pixels are one sprite (a raw Atari sprite's pixels need not touch)
        labels, boxes = self._group(foreground)
        # a region's sums over the foreground pixels: most regions are one colour and are never cut
        sums = _Sums(labels, len(boxes), frame, self.cfg.position == "centroid")
        dominant = np.zeros((len(boxes) + 1, 1), dtype=bool)  # (region, colour): one of its sprites' colours
        if self.cfg.split_colours:
            dominant = self._dominant_colours(sums.owner, colour_index.ravel()[sums.pixel], sums.areas,
                                              len(values))
        may_split = dominant.sum(axis=1) >= 2
        detections: list[Detection] = []
        for index, window in enumerate(boxes, start=1):
            if sums.areas[index] < self.cfg.min_area:
                continue
            if not may_split[index]:  # the whole region; its centroid summed relative to its box's corner
                self._add(detections, sums, index, window, (0, 0), (window[0].start, window[1].start), h, w)
                continue
            parts, part_boxes = self._split_by_colour(labels[window] == index, packed[window],
                                                      values[dominant[index]], bg_rgb)
            part_sums = _Sums(parts, len(part_boxes), frame[window], sums.centroids is not None)
            origin = (window[0].start, window[1].start)
            for part, box in enumerate(part_boxes, start=1):  # centroids relative to the region's corner
                self._add(detections, part_sums, part, box, origin, (0, 0), h, w)
        return detections

    @staticmethod
    def _dominant_colours(labels: np.ndarray, colour_index: np.ndarray, areas: np.ndarray, n_colours: int
                          ) -> np.ndarray:
        """(region, colour) True where the colour holds at least 3 of the region's pixels and 2 % of
        them (``labels`` and ``colour_index`` of its pixels): the colours ``_split_by_colour`` weighs;
        a region with fewer than two is one sprite."""
        counts = np.bincount(labels * n_colours + colour_index, minlength=len(areas) * n_colours)
        return counts.reshape(len(areas), n_colours) >= np.maximum(3, 0.02 * areas)[:, None]

    def _group(self, mask: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
        """``mask``'s objects, as ``_parts`` gives them: 4-connected parts, with parts up to
        ``merge_gap`` pixels apart joined (labels are 0 off the mask, boxes hold its pixels only)."""
        if not self.cfg.merge_gap:
            return _parts(mask)
        labels, grown_boxes = _parts(_dilate(mask, -(-self.cfg.merge_gap // 2)))
        labels[~mask] = 0
        return labels, _boxes(labels, len(grown_boxes))

    def _scenery(self, colour_index: np.ndarray, candidates: np.ndarray, counts: np.ndarray, h: int, w: int
                 ) -> np.ndarray:
        """Pixels of one-colour regions wider or taller than ``max_size`` of the frame (walls, bars,
        road edges), removed before grouping so that a sprite touching them stays a sprite. Only the
        ``candidates`` (indices into the frame's colours) with pixels enough, and rows or columns
        unbroken for long enough, to span that far are labelled."""
        scenery = np.zeros(colour_index.shape, dtype=bool)
        span_w, span_h = self.cfg.max_size * w, self.cfg.max_size * h
        big = candidates[counts[candidates] > min(span_w, span_h)]
        if not len(big):
            return scenery
        # a 4-connected part fills every row and column of its box, so a part that spans that far
        # needs as long an unbroken run of rows (or columns) holding its colour
        held = colour_index == big[:, None, None]  # (candidate, row, column)
        spanning = (_longest_runs(held.any(axis=2).T) > span_h) | (_longest_runs(held.any(axis=1).T) > span_w)
        for k in np.flatnonzero(spanning):
            labels, boxes = _parts(held[k])
            for index, window in enumerate(boxes, start=1):
                rows, cols = window
                if rows.stop - rows.start > span_h or cols.stop - cols.start > span_w:
                    scenery[window] |= labels[window] == index
        return scenery

    def _split_by_colour(self, region: np.ndarray, packed: np.ndarray, dominant: np.ndarray,
                         background: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
        """The region's parts in its window, as ``_parts`` gives them: the region itself, or one
        connected part per sprite colour, numbered colour by colour; ``dominant`` are the region's
        packed colours that count (``_dominant_colours``), two or more.

        Colours are compared by their direction away from the background, so the blends that
        resizing leaves along a sprite's edge stay with the sprite.
        """
        directions = _unit(_unpack(dominant) - background)
        groups = [directions[0]]
        for d in directions[1:]:
            if max(float(d @ g) for g in groups) < self.cfg.same_sprite:
                groups.append(d)
        if len(groups) < 2:
            return region.astype(np.int32), [(slice(0, region.shape[0]), slice(0, region.shape[1]))]
        nearest = (_unit(_unpack(packed) - background) @ np.stack(groups).T).argmax(-1)
        parts, boxes = np.zeros(region.shape, dtype=np.int32), []
        for k in range(len(groups)):
            labels, group_boxes = self._group(region & (nearest == k))
            parts += np.where(labels > 0, labels + len(boxes), 0).astype(np.int32)
            boxes += group_boxes
        return parts, boxes

    def _add(self, detections: list[Detection], sums: _Sums, index: int, box: tuple[slice, slice],
             origin: tuple[int, int], anchor: tuple[int, int], h: int, w: int) -> None:
        """Region ``index`` of ``sums``, with its ``box`` in the summed array, which lies at ``origin``
        in the frame; its centroid is taken relative to ``anchor`` (in the summed array), so that a
        region's floats do not depend on how far from the frame's corner it was summed."""
        rows, cols = box
        area = sums.areas[index]
        position = None
        if sums.centroids is not None:
            corner = np.array(anchor)
            position = np.array(origin) + corner + ((sums.centroids[index] - area * corner) / area + 0.5)
        top, left = origin[0] + rows.start, origin[1] + cols.start
        self._append(detections, int(area), top, left, rows.stop - rows.start, cols.stop - cols.start,
                     sums.colours[index] / area, position, h, w)

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


class _Sums:
    """Per label of a labelled array (0: none): its pixel count, colour sums and, for centroids, the
    sums of its pixels' rows and columns in the array; exact (integers in float64), so a mean is
    the same float whichever way it is summed. ``pixel`` and ``owner``: the labelled pixels' flat
    indices and labels."""

    def __init__(self, labels: np.ndarray, n: int, pixels: np.ndarray, centroids: bool):
        self.pixel = pixel = np.flatnonzero(labels)
        self.owner = owner = labels.ravel()[pixel]
        self.areas = np.bincount(owner, minlength=n + 1)
        self.colours = np.stack([np.bincount(owner, channel.ravel()[pixel].astype(np.float64), n + 1)
                                 for channel in np.moveaxis(pixels, -1, 0)], -1)
        self.centroids = None
        if centroids:
            rows, cols = np.divmod(pixel, labels.shape[1])
            self.centroids = np.stack([np.bincount(owner, rows.astype(np.float64), n + 1),
                                       np.bincount(owner, cols.astype(np.float64), n + 1)], -1)


def _parts(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """The 4-connected parts of a boolean mask: labels (0 off it; 1, 2, ... in the raster order of
    each part's first pixel) and each part's box as slices, exactly as ``ndimage.label`` and
    ``ndimage.find_objects`` give them, in one OpenCV call at about half their time."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(mask).view(np.uint8),
                                                           connectivity=4, ltype=cv2.CV_32S)
    return labels, [(slice(top, top + height), slice(left, left + width))
                    for left, top, width, height, _ in stats[1:].tolist()]


def _boxes(labels: np.ndarray, n: int) -> list[tuple[slice, slice]]:
    """The box of each of labels 1..n (each present), as ``ndimage.find_objects`` gives it, from
    its pixels' rows and columns: several times faster on a screen's few thousand labelled pixels."""
    if not n:
        return []
    pixel = np.flatnonzero(labels)
    owner = labels.ravel()[pixel]
    order = np.argsort(owner, kind="stable")  # each label's pixels, in raster order
    rows, cols = np.divmod(pixel[order], labels.shape[1])
    starts = np.searchsorted(owner[order], np.arange(1, n + 1))
    ends = np.append(starts[1:], len(order))
    left, right = np.minimum.reduceat(cols, starts), np.maximum.reduceat(cols, starts)
    return [(slice(top, bottom + 1), slice(first, last + 1)) for top, bottom, first, last in
            zip(rows[starts].tolist(), rows[ends - 1].tolist(), left.tolist(), right.tolist(), strict=True)]


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` grown by ``steps`` 4-connected steps (every pixel within that city-block distance),
    as ``ndimage.binary_dilation`` with the cross and ``iterations=steps`` gives, by shifted ors:
    several times faster on a screen."""
    grown = mask
    for _ in range(steps):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown


def _longest_runs(flags: np.ndarray) -> np.ndarray:
    """Per column of a 2-D boolean array, the length of its longest unbroken run of True."""
    steps = np.arange(1, len(flags) + 1)[:, None]
    last_false = np.maximum.accumulate(np.where(flags, 0, steps), axis=0)  # 0: none yet
    return (steps - last_false).max(axis=0)


def _unpack(packed: np.ndarray | np.integer) -> np.ndarray:
    """24-bit packed colours -> (..., 3) int RGB."""
    packed = np.asarray(packed)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)
