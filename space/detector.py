"""The trained SPACE model as an object source: deterministic detections from posterior means."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from common.config import from_dict
from common.devices import torch_device
from common.errors import UserError
from space.config import SpaceModelConfig
from space.data import to_tensor
from space.detection import Detection
from space.metrics import box_iou
from space.model import Space

CANDIDATE = 0.05  # cells less present than this are never part of a detection


class SpaceDetector:
    """Objects whose presence exceeds ``threshold``: tight boxes from the glimpse alpha, then NMS."""

    def __init__(self, model: Space, threshold: float = 0.5, nms_iou: float = 0.3, batch_size: int = 256):
        self.model = model.eval()
        self.threshold = threshold
        self.nms_iou = nms_iou
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: Path, threshold: float = 0.5, nms_iou: float = 0.3, device: str = "cpu"
             ) -> SpaceDetector:
        """The saved detector on ``device`` ("auto": a GPU where there is one)."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=False)
            model = Space(from_dict(SpaceModelConfig, payload["model_config"]))
            model.load_state_dict(payload["state_dict"])
        except (OSError, KeyError, RuntimeError) as exc:
            raise UserError(
                f"{path} is not a SPACE model of this version ({exc}); retrain with --force"
            ) from None
        return cls(model.to(torch_device(device)), threshold, nms_iou)

    @torch.no_grad()
    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list[list[Detection]]:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise UserError(f"frames must be (N, H, W, 3) RGB, got shape {frames.shape}")
        result: list[list[Detection]] = []
        for start in range(0, len(frames), self.batch_size):
            result.extend(self._detect_batch(frames[start:start + self.batch_size]))
        return result

    def _detect_batch(self, frames: np.ndarray) -> list[list[Detection]]:
        h, w = frames.shape[1:3]
        param = next(self.model.parameters())
        x = to_tensor(frames, self.model.cfg.image_size).to(param.device)
        lat = self.model.latents(x, min_presence=CANDIDATE)
        candidate = lat.pres_prob > CANDIDATE
        lat.centre[candidate], lat.scale[candidate] = self.model.fg.tight_boxes(
            lat.centre[candidate], lat.scale[candidate], lat.what[candidate])
        candidate = candidate.cpu().numpy()
        prob = lat.pres_prob.cpu().numpy()
        centre = ((lat.centre + 1) / 2).cpu().numpy() * (w, h)
        size = lat.scale.cpu().numpy() * (w, h)
        what = lat.what.cpu().numpy()
        out = []
        for i in range(len(frames)):
            cells = np.flatnonzero(candidate[i])
            boxes = np.concatenate([centre[i, cells], size[i, cells]], 1)
            out.append([Detection(*map(float, boxes[j]), score, what[i, cells[j]])
                        for j, score in merge_overlapping(boxes, prob[i, cells], self.nms_iou)
                        if score > self.threshold])
        return out


def merge_overlapping(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[tuple[int, float]]:
    """Greedy non-maximum suppression in which a kept box collects the presence of those it suppresses.

    Two neighbouring cells sometimes share one object, each half present; their tight boxes
    coincide, so the object's presence is their sum. Returns (index, presence up to 1) pairs.
    """
    order = np.argsort(-scores, kind="stable")
    overlap = box_iou(boxes, boxes)
    kept: list[int] = []
    mass: list[float] = []
    for i in order:
        owner = next((k for k, j in enumerate(kept) if overlap[i, j] > iou), None)
        if owner is None:
            kept.append(int(i))
            mass.append(float(scores[i]))
        else:
            mass[owner] += float(scores[i])
    return [(j, min(m, 1.0)) for j, m in zip(kept, mass, strict=True)]
