"""Object sources: frames in, per-frame detections out, one interface for every way to get objects.

``space`` is the learned SPACE detector, ``segment`` flat-colour connected components (no
learning, a fast baseline) and ``oracle`` the true objects (built-in games report them in
``info["objects"]``; Atari RAM is read with OCAtari). Later stages call ``detect`` one frame at a
time while playing, so every source is cheap at batch 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.errors import UserError
from space.config import DetectorConfig
from space.detection import Detection, ObjectSource


class RoiFilter:
    """Drops detections whose centre lies outside ``roi`` = [x0, y0, x1, y1] shares of the frame."""

    def __init__(self, source: ObjectSource, roi: list[float]):
        self.source = source
        self.roi = roi

    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list[list[Detection]]:
        h, w = frames.shape[1:3]
        x0, y0, x1, y1 = self.roi[0] * w, self.roi[1] * h, self.roi[2] * w, self.roi[3] * h
        return [[d for d in frame if x0 <= d.x <= x1 and y0 <= d.y <= y1]
                for frame in self.source.detect(frames, infos)]


def make_source(detector_cfg: DetectorConfig, run_dir: Path | None,
                env_id: str | None = None, threshold: float | None = None) -> ObjectSource:
    """The source named by ``detector.source``; ``space`` loads ``run_dir/space/model.pt`` and keeps
    detections more present than ``threshold`` (None: ``detector.threshold``)."""
    source: ObjectSource
    if detector_cfg.source == "segment":
        from space.segment import SegmentSource

        source = SegmentSource(detector_cfg.segment)
    elif detector_cfg.source == "oracle":
        from space.oracle import OracleSource

        source = OracleSource(env_id)
    else:
        from space.detector import SpaceDetector
        from space.train import WEIGHTS

        if run_dir is None:
            raise UserError("the space source needs a run folder with a trained detector")
        weights = Path(run_dir) / "space" / WEIGHTS
        if not weights.is_file():
            raise UserError(f"no trained SPACE detector at {weights}; run python -m space train first")
        source = SpaceDetector.load(weights, detector_cfg.threshold if threshold is None else threshold,
                                    detector_cfg.nms_iou,
                                    detector_cfg.train.device)
    return RoiFilter(source, detector_cfg.roi) if detector_cfg.roi else source
