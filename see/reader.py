"""Frames to object states while a symbolic policy plays: Stage II-B's perception or true objects.

Fine-tuning must see states exactly as the distilled policy will when it plays, so by default it
rebuilds the dataset's ``Perception`` (detector, types, tracker) from ``dataset.meta.json``. Many
environment copies share one detector, called once per step on all their frames, and each copy
keeps its own tracker, since velocities come from one episode's history. Where the copies run in
worker processes (``envs.workers``), the workers have run the detector already and each frame's
``info`` holds its detections. ``perception=None``
reads a built-in game's true objects instead (``info["objects"]`` with true velocities), the way
``see.synthetic`` writes a dataset without perception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from envs.workers import OBSERVED
from see.perception import Perception
from see.synthetic import dataset_object
from see.tracking import Tracker

Perceive = Callable[[np.ndarray, dict], list[dict]]


def true_objects(frame: np.ndarray, info: dict) -> list[dict]:
    """The game's own objects in the dataset's format (built-in games report them in ``info``)."""
    return [dataset_object(o) for o in info.get("objects", [])]


def fresh_copy(perception: Perception) -> Perception:
    """A perception that shares the detector and the types but has a tracker of its own."""
    tracker = Tracker(perception.tracker.gate, perception.tracker.memory)
    return Perception(perception.source, perception.types, tracker, perception.decimals, perception.screen,
                      perception.hysteresis)


def agent_perceive(perception: Perception | None) -> Perceive:
    """What ``SymbolicAgent`` needs to play one episode at a time from frames."""
    return true_objects if perception is None else fresh_copy(perception)


class ObjectReader:
    """Objects of several environment copies per step: one detector call, one tracker per copy."""

    def __init__(self, perception: Perception | None, copies: int):
        self.perception = perception
        self.copies = [] if perception is None else [fresh_copy(perception) for _ in range(copies)]

    def reset(self, copy: int) -> None:
        """A new episode starts in ``copy``: forget its tracked objects."""
        if self.copies:
            self.copies[copy].reset()

    def read(self, frames: Sequence[np.ndarray], infos: Sequence[dict],
             copies: Sequence[int]) -> list[list[dict]]:
        """The objects of ``frames[k]`` seen by copy ``copies[k]``, in the dataset's schema."""
        if self.perception is None:
            return [true_objects(frame, info) for frame, info in zip(frames, infos, strict=True)]
        if all(OBSERVED in info for info in infos):
            detections = [info[OBSERVED] for info in infos]
        else:
            detections = self.perception.detect(frames, infos)
        return [self.copies[c].update(d) for c, d in zip(copies, detections, strict=True)]
