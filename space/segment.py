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

For speed a source keeps, from one frame to the next, the colours it has seen, each scenery colour's
pixels and what they held, and the regions it cut by colour; it reuses them only where the pixels
are the same, so a frame's detections never depend on the frames before it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import weakref
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from space.config import SegmentConfig
from space.detection import Detection

MAX_PALETTE = 1024  # colours kept between frames; beyond, a frame starts again from its own
MAX_SCENERY_COLOURS = 64  # scenery colours whose last pixels are kept
MIN_SHARE = 8  # frames per process below which a batch is not shared with workers
_WORKER_SOURCE: SegmentSource | None = None  # a worker process's own source


class SegmentSource:
    def __init__(self, cfg: SegmentConfig):
        self.cfg = cfg
        # OpenCV's parallel labelling takes twice the CPU on a screen and more wall time than one thread
        cv2.setNumThreads(1)
        self._palette = np.zeros(1, dtype=np.int32)  # sorted packed colours of the frames seen so far
        # (packed colour, frame size) -> its pixels and their scenery in the last frame that held it
        # spanning far: walls, bars and road edges rarely move, and labelling them took a third of a
        # frame's time; the result is the same as labelling them again
        self._scenery_seen: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        # (box, background) -> pixels, colours and detections of the last frame's regions cut by colour:
        # Breakout's wall of bricks is the same region frame after frame until a brick breaks
        self._cut_seen: dict[tuple, tuple[np.ndarray, np.ndarray, list[Detection]]] = {}
        self._pool: ProcessPoolExecutor | None = None  # started by the first batch shared with workers

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
        """Each frame's detections; with ``workers`` > 1, a batch is shared between this process
        and the workers (each with its own source: the detections do not depend on which saw what)."""
        frames = np.asarray(frames)
        # a daemonic process (a game copy's worker, which already has a core to itself) cannot start any
        if (self.cfg.workers <= 1 or len(frames) < MIN_SHARE * self.cfg.workers
                or multiprocessing.current_process().daemon):
            return [self.detect_frame(frame) for frame in frames]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.cfg.workers - 1, multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(self.cfg,))
            weakref.finalize(self, self._pool.shutdown, cancel_futures=True)
        shares = np.array_split(frames, self.cfg.workers)
        theirs = [self._pool.submit(_detect_in_worker, share) for share in shares[1:]]
        found = [self.detect_frame(frame) for frame in shares[0]]
        for share in theirs:
            found += share.result()
        return found

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pool": None}  # a copy in another process starts its own workers

    def detect_frame(self, frame: np.ndarray) -> list[Detection]:
        h, w = frame.shape[:2]
        rgb = frame.astype(np.int32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        values, colour_index, counts = self._colours(packed)
        bg_rgb = _unpack(values[np.argmax(counts)])
        # decided once per colour, not per pixel: a screen holds a few dozen colours at most
        far = np.abs(_unpack(values) - bg_rgb).max(-1) > self.cfg.colour_tolerance  # foreground colours
        foreground = far[colour_index]
        foreground &= ~self._scenery(values, colour_index, np.flatnonzero(far), counts, h, w)
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
        cut_now: dict[tuple, tuple[np.ndarray, np.ndarray, list[Detection]]] = {}
        big_enough = np.flatnonzero(sums.areas[1:] >= self.cfg.min_area)  # the scattered specks are many
        for index, box in zip((big_enough + 1).tolist(), boxes[big_enough].tolist(), strict=True):
            if not may_split[index]:  # the whole region; its centroid summed relative to its box's corner
                self._add(detections, sums, index, box, (0, 0), (box[0], box[1]), h, w)
                continue
            window = _window(box)
            region, colours, key = labels[window] == index, packed[window], (*box, *bg_rgb.tolist())
            seen = self._cut_seen.get(key)
            if seen is not None and np.array_equal(seen[0], region) and np.array_equal(seen[1], colours):
                cut_now[key] = seen
            else:
                cut = self._cut(region, colour_index[window], values, dominant[index], bg_rgb, frame[window],
                                (box[0], box[1]), (h, w))
                cut_now[key] = region, colours, cut
            detections += _copies(cut_now[key][2])  # the kept ones stay as they were made
        self._cut_seen = cut_now
        return detections

    def _cut(self, region: np.ndarray, colour_index: np.ndarray, values: np.ndarray, dominant: np.ndarray,
             background: np.ndarray, pixels: np.ndarray, origin: tuple[int, int], frame_size: tuple[int, int]
             ) -> list[Detection]:
        """The detections of a region that may hold sprites of several colours (its window's
        ``pixels`` at ``origin`` in a frame of ``frame_size``), its parts' centroids taken from the
        window's corner."""
        h, w = frame_size
        parts, boxes = self._split_by_colour(region, colour_index, values, dominant, background)
        sums = _Sums(parts, len(boxes), pixels, self.cfg.position == "centroid")
        detections: list[Detection] = []
        for part, box in enumerate(boxes.tolist(), start=1):
            self._add(detections, sums, part, box, origin, (0, 0), h, w)
        return detections

    @staticmethod
    def _dominant_colours(labels: np.ndarray, colour_index: np.ndarray, areas: np.ndarray, n_colours: int
                          ) -> np.ndarray:
        """(region, colour) True where the colour holds at least 3 of the region's pixels and 2 % of
        them (``labels`` and ``colour_index`` of its pixels): the colours ``_split_by_colour`` weighs;
        a region with fewer than two is one sprite."""
        counts = np.bincount(labels * n_colours + colour_index, minlength=len(areas) * n_colours)
        return counts.reshape(len(areas), n_colours) >= np.maximum(3, 0.02 * areas)[:, None]

    def _group(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``mask``'s objects, as ``_parts`` gives them: 4-connected parts, with parts up to
        ``merge_gap`` pixels apart joined (labels are 0 off the mask, boxes hold its pixels only)."""
        if not self.cfg.merge_gap:
            return _parts(mask)
        labels, grown_boxes = _parts(_dilate(mask, -(-self.cfg.merge_gap // 2)))
        labels[~mask] = 0
        return labels, _boxes(labels, len(grown_boxes))

    def _scenery(self, values: np.ndarray, colour_index: np.ndarray, candidates: np.ndarray,
                 counts: np.ndarray, h: int, w: int) -> np.ndarray:
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
            key, mask = (int(values[big[k]]), h, w), held[k]
            seen = self._scenery_seen.get(key)
            if seen is None or not np.array_equal(seen[0], mask):
                if seen is not None and _same_spanning_parts(seen[1], mask, span_h, span_w):
                    seen = mask.copy(), seen[1]
                else:
                    seen = mask.copy(), self._spanning_parts(mask, span_h, span_w)
                if len(self._scenery_seen) >= MAX_SCENERY_COLOURS:
                    self._scenery_seen.clear()
                self._scenery_seen[key] = seen
            scenery |= seen[1]
        return scenery

    @staticmethod
    def _spanning_parts(mask: np.ndarray, span_h: float, span_w: float) -> np.ndarray:
        """The pixels of ``mask``'s 4-connected parts taller than ``span_h`` or wider than ``span_w``."""
        spanning = np.zeros(mask.shape, dtype=bool)
        labels, boxes = _parts(mask)
        wide = (boxes[:, 2] - boxes[:, 0] > span_h) | (boxes[:, 3] - boxes[:, 1] > span_w)
        for index, box in zip((np.flatnonzero(wide) + 1).tolist(), boxes[wide].tolist(), strict=True):
            window = _window(box)
            spanning[window] |= labels[window] == index
        return spanning

    def _split_by_colour(self, region: np.ndarray, colour_index: np.ndarray, values: np.ndarray,
                         dominant: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The region's parts in its window, as ``_parts`` gives them: the region itself, or one
        connected part per sprite colour, numbered colour by colour. ``colour_index``: the window's
        pixels' indices into the frame's colours ``values``; ``dominant`` (over ``values``) marks the
        region's colours that count (``_dominant_colours``), two or more.

        Colours are compared by their direction away from the background, so the blends that
        resizing leaves along a sprite's edge stay with the sprite.
        """
        directions = _unit(_unpack(values[dominant]) - background)
        groups = [directions[0]]
        for d in directions[1:]:
            if max(float(d @ g) for g in groups) < self.cfg.same_sprite:
                groups.append(d)
        if len(groups) < 2:
            return region.astype(np.int32), np.array([[0, 0, *region.shape]])
        # the group nearest each colour, then each pixel's: a screen has far fewer colours than pixels
        nearest = (_unit(_unpack(values) - background) @ np.stack(groups).T).argmax(-1)[colour_index]
        parts, boxes = np.zeros(region.shape, dtype=np.int32), []
        for k in range(len(groups)):
            labels, group_boxes = self._group(region & (nearest == k))
            parts += np.where(labels > 0, labels + sum(map(len, boxes)), 0).astype(np.int32)
            boxes.append(group_boxes)
        return parts, np.concatenate(boxes)

    def _add(self, detections: list[Detection], sums: _Sums, index: int, box: list[int],
             origin: tuple[int, int], anchor: tuple[int, int], h: int, w: int) -> None:
        """Region ``index`` of ``sums``, with its ``box`` in the summed array, which lies at ``origin``
        in the frame; its centroid is taken relative to ``anchor`` (in the summed array), so that a
        region's floats do not depend on how far from the frame's corner it was summed."""
        top, left, bottom, right = box
        area = sums.areas[index]
        position = None
        if sums.centroids is not None:
            corner = np.array(anchor)
            position = np.array(origin) + corner + ((sums.centroids[index] - area * corner) / area + 0.5)
        self._append(detections, int(area), origin[0] + top, origin[1] + left, bottom - top, right - left,
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
        colours = pixels.reshape(-1, pixels.shape[-1])[pixel].astype(np.float64)  # (pixel, channel)
        self.colours = np.stack([np.bincount(owner, channel, n + 1) for channel in colours.T], -1)
        self.centroids = None
        if centroids:
            rows, cols = np.divmod(pixel, labels.shape[1])
            self.centroids = np.stack([np.bincount(owner, rows.astype(np.float64), n + 1),
                                       np.bincount(owner, cols.astype(np.float64), n + 1)], -1)


def _start_worker(cfg: SegmentConfig) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = SegmentSource(dataclasses.replace(cfg, workers=1))


def _detect_in_worker(frames: np.ndarray) -> list[list[Detection]]:
    return _WORKER_SOURCE.detect(frames)


def _same_spanning_parts(spanning: np.ndarray, mask: np.ndarray, span_h: float, span_w: float) -> bool:
    """Whether ``mask``'s parts taller than ``span_h`` or wider than ``span_w`` are ``spanning`` (an
    earlier frame's): they are when those pixels are all still there, nothing else touches them, and
    no unbroken run of the rest's rows or columns is that long (Boxing's black ropes stay while a
    black boxer moves)."""
    if (spanning & ~mask).any():
        return False
    rest = mask & ~spanning
    if (_dilate(rest, 1) & spanning).any():
        return False
    return (_longest_runs(rest.any(axis=1)[:, None])[0] <= span_h
            and _longest_runs(rest.any(axis=0)[:, None])[0] <= span_w)


def _copies(detections: list[Detection]) -> list[Detection]:
    return [dataclasses.replace(d, embedding=d.embedding.copy()) for d in detections]


def _parts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 4-connected parts of a boolean mask: labels (0 off it; 1, 2, ... in the raster order of
    each part's first pixel) and each part's box (top, left, bottom, right; the ends excluded),
    exactly as ``ndimage.label`` and ``ndimage.find_objects`` give them, in one OpenCV call at about
    half their time."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(mask).view(np.uint8),
                                                           connectivity=4, ltype=cv2.CV_32S)
    left, top, width, height = stats[1:, :4].T
    return labels, np.stack([top, left, top + height, left + width], -1)


def _boxes(labels: np.ndarray, n: int) -> np.ndarray:
    """The box of each of labels 1..n (each present), as ``_parts`` gives it, from its pixels' rows
    and columns: several times faster than ``ndimage.find_objects`` on a screen."""
    if not n:
        return np.zeros((0, 4), dtype=np.int64)
    pixel = np.flatnonzero(labels)
    owner = labels.ravel()[pixel]
    order = np.argsort(owner, kind="stable")  # each label's pixels, in raster order
    rows, cols = np.divmod(pixel[order], labels.shape[1])
    starts = np.searchsorted(owner[order], np.arange(1, n + 1))
    ends = np.append(starts[1:], len(order))
    return np.stack([rows[starts], np.minimum.reduceat(cols, starts), rows[ends - 1] + 1,
                     np.maximum.reduceat(cols, starts) + 1], -1)


def _window(box: list[int]) -> tuple[slice, slice]:
    """A box (top, left, bottom, right) as the slices that cut it out of an array."""
    return slice(box[0], box[2]), slice(box[1], box[3])


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
