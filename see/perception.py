"""Frames to object states: object source -> types -> tracker, one piece for making data and for play.

``generate_dataset.py`` builds it while writing the dataset, and every later stage (distillation
with DAgger, fine-tuning, a symbolic agent playing) rebuilds it from ``dataset.meta.json`` with
``Perception.from_meta``, so a state is read from a frame the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.config import from_dict
from common.errors import UserError
from common.io import read_json
from envs.info import SCREEN, perceived_frame
from see.dataset import meta_path
from see.object_types import TypeModel
from see.tracking import Tracker
from space.config import DetectorConfig
from space.sources import Detection, ObjectSource, make_source

Hysteresis = tuple[float, float]  # (follow, start): presence that continues / starts an object


def hysteresis_of(detector: DetectorConfig, follow: float | None) -> Hysteresis | None:
    """(follow, start) where a SPACE detector's faint detections may continue tracked objects; None
    for sources without graded presence or without a ``follow`` below ``detector.threshold``."""
    if detector.source != "space" or follow is None or follow >= detector.threshold:
        return None
    return follow, detector.threshold


def perception_source(detector: DetectorConfig, run_dir: Path | None, env_id: str | None,
                      hysteresis: Hysteresis | None) -> ObjectSource:
    """The object source, passing detections down to the follow threshold where there is hysteresis."""
    return make_source(detector, run_dir, env_id, None if hysteresis is None else hysteresis[0])


class Perception:
    """``perception(frame, info)`` -> the frame's objects in the dataset's schema; ``reset()`` per episode."""

    def __init__(self, source: ObjectSource, types: TypeModel, tracker: Tracker, decimals: int = 3,
                 screen: bool = True, hysteresis: Hysteresis | None = None):
        self.source = source
        self.types = types
        self.tracker = tracker
        self.decimals = decimals
        # read the game's last frame where it gives one (``envs.info.perceived_frame``); False: the
        # observation, as datasets made before perception read the last frame were
        self.screen = screen
        # (follow, start): the source passes detections down to ``follow``; those not above
        # ``start`` only continue tracked objects. None: every detection may start one
        self.hysteresis = hysteresis

    @classmethod
    def from_meta(cls, meta: dict, run_dir: str | Path | None = None) -> Perception:
        """Rebuild the perception a dataset was made with; ``run_dir`` holds SPACE's weights if used."""
        try:
            detector = from_dict(DetectorConfig, meta["detector"], "detector")
            types = TypeModel.from_dict(meta["types"])
            tracking = meta["tracking"]
            tracker = Tracker(float(tracking["gate"]), int(tracking["memory"]))
            hysteresis = hysteresis_of(detector, tracking.get("follow_threshold"))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"the dataset's meta file lacks how its states were made ({exc}); "
                            "regenerate it with generate_dataset.py") from None
        source = perception_source(detector, Path(run_dir) if run_dir is not None else None,
                                   meta.get("env_id"), hysteresis)
        return cls(source, types, tracker, int(meta.get("decimals", 3)), meta.get("frame") == SCREEN,
                   hysteresis)

    @classmethod
    def of_run(cls, run_dir: str | Path) -> tuple[dict, Perception | None]:
        """A run folder's ``dataset.meta.json`` ({} without one) and the perception it describes (None
        for a dataset made without one, such as the synthetic datasets)."""
        meta_file = meta_path(Path(run_dir) / "dataset.json")
        meta = read_json(meta_file) if meta_file.is_file() else {}
        return meta, cls.from_meta(meta, run_dir) if "detector" in meta else None

    def describe(self) -> dict:
        """What ``from_meta`` needs, for ``dataset.meta.json`` (the caller adds the detector section)."""
        return {"types": self.types.to_dict(), "decimals": self.decimals,
                "tracking": {"gate": self.tracker.gate, "memory": self.tracker.memory,
                             "follow_threshold": None if self.hysteresis is None else self.hysteresis[0]},
                "frame": SCREEN if self.screen else "observation"}

    def reset(self) -> None:
        self.tracker.reset()

    def __call__(self, frame: np.ndarray, info: dict | None = None) -> list[dict]:
        return self.update(self.detect([frame], None if info is None else [info])[0])

    def detect(self, frames: Sequence[np.ndarray], infos: Sequence[dict] | None = None
               ) -> list[list[Detection]]:
        """The detections of a batch of steps, each read on the frame perception sees
        (``envs.info.perceived_frame``: Atari's last frame, not the teacher's pooled one)."""
        if infos is None or not self.screen:
            return self.source.detect(np.stack(frames), None if infos is None else list(infos))
        seen = np.stack([perceived_frame(frame, info) for frame, info in zip(frames, infos, strict=True)])
        return self.source.detect(seen, list(infos))

    def update(self, detections: Sequence[Detection]) -> list[dict]:
        """Type and track one step's detections (batch detection is the caller's, e.g. for a dataset)."""
        types = self.types.assign(detections)
        centres = np.array([[d.x, d.y] for d in detections], dtype=np.float64).reshape(-1, 2)
        weak = None if self.hysteresis is None else np.array(
            [d.score <= self.hysteresis[1] for d in detections], dtype=bool)
        velocities, kept = self.tracker.update(types, centres, weak)
        r = self.decimals
        objects = [
            {"type": int(t), "x_velocity": round(float(v[0]), r), "y_velocity": round(float(v[1]), r),
             "x_position": round(d.x, r), "y_position": round(d.y, r), "width": round(d.width, r),
             "height": round(d.height, r), "score": round(d.score, r)}
            for d, t, v, keep in zip(detections, types, velocities, kept, strict=True) if keep
        ]
        objects.sort(key=lambda o: (o["type"], o["x_position"], o["y_position"]))
        return objects
