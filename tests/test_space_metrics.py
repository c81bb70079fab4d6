"""Detection metrics on hand-made boxes: perfect, shifted, missing and extra detections."""

from __future__ import annotations

import numpy as np
import pytest

from space.metrics import average_precision, detection_metrics, match_centres
from space.sources import Detection

TRUE = [
    [{"type": 0, "x": 10.0, "y": 10.0, "width": 2, "height": 10},
     {"type": 1, "x": 30.0, "y": 20.0, "width": 3, "height": 3}],
    [{"type": 0, "x": 12.0, "y": 40.0, "width": 2, "height": 10}],
]


def det(x: float, y: float, w: float = 2, h: float = 10, score: float = 1.0) -> Detection:
    return Detection(x, y, w, h, score, np.zeros(2))


def perfect() -> list[list[Detection]]:
    return [[det(o["x"], o["y"], o["width"], o["height"]) for o in frame] for frame in TRUE]


def test_perfect_detections_score_one() -> None:
    m = detection_metrics(perfect(), TRUE, tolerance=3)
    assert m["precision"] == m["recall"] == m["f1"] == m["count_accuracy"] == m["ap"] == 1.0
    assert m["per_type"]["0"]["recall"] == m["per_type"]["1"]["recall"] == 1.0


def test_shift_within_tolerance_hits_and_beyond_misses() -> None:
    near = [[det(o["x"] + 2, o["y"] + 2 * (o["type"] == 0)) for o in frame] for frame in TRUE]
    assert detection_metrics(near, TRUE, tolerance=3)["f1"] == 1.0
    far = [[det(o["x"] + 4, o["y"]) for o in frame] for frame in TRUE]
    m = detection_metrics(far, TRUE, tolerance=3)
    assert m["tp"] == 0 and m["fp"] == 3 and m["fn"] == 3 and m["f1"] == 0.0
    assert m["count_accuracy"] == 1.0  # right number, wrong places


def test_missing_and_extra_detections() -> None:
    missing = [[det(10, 10)], [det(12, 40)]]  # the type-1 object is missed
    m = detection_metrics(missing, TRUE, tolerance=3, type_names=["paddle", "ball"])
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3)
    assert m["per_type"]["ball"]["recall"] == 0.0 and m["per_type"]["paddle"]["f1"] == 1.0
    assert m["count_accuracy"] == 0.5

    extra = perfect()
    extra[1].append(det(50, 50))
    m = detection_metrics(extra, TRUE, tolerance=3)
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(3 / 4)
    assert m["per_type"]["0"]["fp"] == 1  # charged to the nearest true object's type


def test_hungarian_matching_is_one_to_one() -> None:
    # two predictions near one object: only one may hit it; the greedy choice would steal object 1
    pred = np.array([[0.0, 0.0], [1.5, 0.0]])
    true = np.array([[1.0, 0.0], [3.0, 0.0]])
    assert sorted(match_centres(pred, true, tolerance=2)) == [(0, 0), (1, 1)]


def test_average_precision_ranks_by_score_and_needs_overlap() -> None:
    ranked = perfect()
    ranked[0].append(det(50, 50, score=0.1))  # a false detection ranked last does not lower AP
    assert average_precision(ranked, TRUE) == 1.0
    ranked[0][-1].score = 2.0  # ranked first, it does
    assert average_precision(ranked, TRUE) < 1.0
    loose = [[det(o["x"], o["y"], 20, 20) for o in frame] for frame in TRUE]  # centres right, boxes not
    assert average_precision(loose, TRUE, iou=0.5) == 0.0
    assert detection_metrics(loose, TRUE, tolerance=3)["f1"] == 1.0


def test_the_picture_shows_the_failure_cases(tmp_path):
    from common.io import read_json
    from space.evaluate import write_report

    frames = np.zeros((6, 40, 40, 3), np.uint8)
    objects = [[{"type": 0, "x": 10.0, "y": 10.0, "width": 2, "height": 2}] for _ in range(6)]
    predicted = [[det(10, 10)] for _ in range(6)]
    predicted[1] = []  # a miss
    predicted[4] = [det(30, 30), det(20, 20)]  # a miss and two false detections
    write_report(tmp_path, {"f1": 0.5}, frames, predicted, objects, n_grid=2, tolerance=3.0)
    grid = read_json(tmp_path / "eval.json")["grid"]
    assert grid["frames"] == [1, 4] and grid["errors"] == [1, 3]
    assert (tmp_path / "eval.png").is_file()
