"""Object tracking between consecutive steps, so every object carries a velocity.

Detections of one type are matched to the known objects of that type by the Hungarian algorithm
on the distance to where each object should be now (last centre plus velocity times the steps
since it was seen), within a gate. Predicting the position keeps two crossing objects of one type
apart. A matched object's velocity is its displacement per step since it was last seen; a new
object starts at rest; an object missed for more than ``memory`` steps is forgotten. A weak
detection (a learned detector's presence below its threshold) may continue an object already
tracked, never start one: hysteresis, so a faint ball stays followed and faint noise stays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class Track:
    """An object seen before: where it was, how it moved, how many steps it has been missing."""

    type: int
    x: float
    y: float
    vx: float = 0.0
    vy: float = 0.0
    missing: int = 0

    def predicted(self) -> tuple[float, float]:
        steps = self.missing + 1
        return self.x + self.vx * steps, self.y + self.vy * steps


class Tracker:
    """Gives each detection of a step the velocity of the object it continues (or zero)."""

    def __init__(self, gate: float, memory: int):
        self.gate = gate
        self.memory = memory
        self.tracks: list[Track] = []

    def reset(self) -> None:
        """Forget every object (a new episode starts)."""
        self.tracks = []

    def update(self, types: np.ndarray, centres: np.ndarray, weak: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """``types`` (N,) and ``centres`` (N, 2) of this step -> (velocities (N, 2) in pixels per step,
        kept (N,)): ``weak`` detections that continue no tracked object are dropped (not kept)
        instead of starting one; without ``weak`` every detection is kept."""
        types = np.asarray(types, dtype=np.int64)
        centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        weak = np.zeros(len(types), dtype=bool) if weak is None else np.asarray(weak, dtype=bool)
        velocities = np.zeros_like(centres)
        kept_rows = ~weak
        kept: list[Track] = []
        for kind in sorted(set(types.tolist()) | {t.type for t in self.tracks}):
            rows = np.flatnonzero(types == kind)
            tracks = [t for t in self.tracks if t.type == kind]
            matched = self._match_strong_first(tracks, centres[rows], weak[rows])
            for j, row in enumerate(rows):
                x, y = centres[row]
                track = tracks[matched[j]] if j in matched else None
                if track is None:
                    if not weak[row]:
                        kept.append(Track(kind, float(x), float(y)))
                    continue
                kept_rows[row] = True
                steps = track.missing + 1
                track.vx, track.vy = (x - track.x) / steps, (y - track.y) / steps
                track.x, track.y, track.missing = float(x), float(y), 0
                velocities[row] = track.vx, track.vy
                kept.append(track)
            used = set(matched.values())
            for i, track in enumerate(tracks):
                if i not in used and track.missing < self.memory:
                    track.missing += 1
                    kept.append(track)
        self.tracks = kept
        return velocities, kept_rows

    def _match_strong_first(self, tracks: list[Track], centres: np.ndarray, weak: np.ndarray
                            ) -> dict[int, int]:
        """Detection index -> track index: the strong detections first, then the weak ones to the
        tracks left, so a faint duplicate never takes an object from a clear detection of it."""
        strong, faint = np.flatnonzero(~weak), np.flatnonzero(weak)
        matched = {int(strong[j]): i for j, i in self._match(tracks, centres[strong]).items()}
        if len(faint):
            left = [i for i in range(len(tracks)) if i not in matched.values()]
            extra = self._match([tracks[i] for i in left], centres[faint])
            matched.update({int(faint[j]): left[i] for j, i in extra.items()})
        return matched

    def _match(self, tracks: list[Track], centres: np.ndarray) -> dict[int, int]:
        """Detection index -> track index for pairs within the gate, minimising total distance."""
        if not tracks or not len(centres):
            return {}
        if len(tracks) == 1 and len(centres) == 1:  # the common case, without the assignment solver
            px, py = tracks[0].predicted()
            return {0: 0} if np.hypot(centres[0, 0] - px, centres[0, 1] - py) <= self.gate else {}
        predicted = np.array([t.predicted() for t in tracks])
        dist = np.linalg.norm(centres[:, None, :] - predicted[None, :, :], axis=-1)
        rows, cols = linear_sum_assignment(np.where(dist <= self.gate, dist, 1e6))
        return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if dist[r, c] <= self.gate}
