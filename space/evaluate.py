"""Score an object source on frames with known objects: metrics, speed and a picture."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.io import write_json
from space.config import DetectorConfig
from space.detection import Detection, ObjectSource
from space.metrics import detection_metrics, match_centres
from space.plots import detection_grid, write_png


def run_source(source: ObjectSource, frames: np.ndarray, objects: Sequence[Sequence[dict]] | None
               ) -> tuple[list[list[Detection]], float]:
    """Detections of every frame and frames per second (the oracle reads the true objects)."""
    infos = [{"objects": list(objs)} for objs in objects] if objects is not None else None
    started = time.perf_counter()
    predicted = source.detect(frames, infos)
    return predicted, len(frames) / max(time.perf_counter() - started, 1e-9)


def evaluate_source(source: ObjectSource, frames: np.ndarray, objects: Sequence[Sequence[dict]] | None,
                    cfg: DetectorConfig, type_names: Sequence[str] | None = None
                    ) -> tuple[dict, list[list[Detection]]]:
    """Metrics of ``source`` against ``objects`` (or only counts when the objects are unknown)."""
    predicted, fps = run_source(source, frames, objects if cfg.source == "oracle" else None)
    report: dict = {"source": cfg.source, "frames": len(frames), "frames_per_second": fps,
                    "mean_detections": float(np.mean([len(p) for p in predicted])) if predicted else 0.0}
    if objects is None:
        report["objects_known"] = False
        return report, predicted
    report.update(detection_metrics(predicted, objects, cfg.eval.tolerance, cfg.eval.iou, type_names))
    report["objects_known"] = True
    return report, predicted


def write_report(folder: Path, report: dict, frames: np.ndarray, predicted: list[list[Detection]],
                 objects: Sequence[Sequence[dict]] | None, n_grid: int,
                 tolerance: float | None = None) -> None:
    """``eval.json`` and ``eval.png`` (true boxes green, predicted red) in ``folder``. Where the
    objects are known (and ``tolerance`` given), the picture shows the frames with the most misses
    and false detections, the failure cases, and ``eval.json`` names them."""
    n = min(n_grid, len(frames))
    shown = list(range(n))
    if objects is not None and tolerance is not None and n:
        errors = [frame_errors(p, o, tolerance) for p, o in zip(predicted, objects, strict=True)]
        shown = sorted(np.argsort([-e for e in errors], kind="stable")[:n].tolist())
        report = {**report, "grid": {"frames": shown, "errors": [errors[i] for i in shown],
                                     "chosen": "the frames with the most misses and false detections"}}
    write_json(folder / "eval.json", report)
    if n:
        true = [objects[i] for i in shown] if objects is not None else None
        write_png(folder / "eval.png", detection_grid(frames[shown], [predicted[i] for i in shown], true))


def frame_errors(predicted: Sequence[Detection], objects: Sequence[dict], tolerance: float) -> int:
    """Misses plus false detections of one frame at ``tolerance`` pixels."""
    hits = match_centres(np.array([[d.x, d.y] for d in predicted], dtype=float).reshape(-1, 2),
                         np.array([[o["x"], o["y"]] for o in objects], dtype=float).reshape(-1, 2), tolerance)
    return len(predicted) + len(objects) - 2 * len(hits)


def summary_line(report: dict) -> str:
    if not report.get("objects_known"):
        return (f"{report['source']}: {report['mean_detections']:.2f} objects per frame on "
                f"{report['frames']} frames ({report['frames_per_second']:.0f} frames/s); "
                "no true objects to score against")
    return (f"{report['source']}: F1 {report['f1']:.3f} (precision {report['precision']:.3f}, recall "
            f"{report['recall']:.3f}) at {report['tolerance']:g} px, count accuracy "
            f"{report['count_accuracy']:.3f}, AP@{report['ap_iou']:g} {report['ap']:.3f} on "
            f"{report['frames']} held-out frames, "
            f"{report['frames_per_second']:.0f} frames/s")
