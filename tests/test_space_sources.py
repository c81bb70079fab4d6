"""Object sources: segment on built-in frames, the oracle, the ROI filter, make_source errors."""

from __future__ import annotations

import numpy as np
import pytest

from common.config import from_dict
from common.errors import UserError
from envs.builtin import BuiltinFreeway, BuiltinPong, random_play
from space.config import DetectorConfig, SegmentConfig
from space.metrics import detection_metrics
from space.oracle import OracleSource, atari_game
from space.segment import SegmentSource
from space.sources import make_source


def test_segment_finds_every_builtin_pong_object() -> None:
    frames, objects = random_play(BuiltinPong(), 60)
    detections = SegmentSource(SegmentConfig()).detect(frames)
    assert len(detections) == 60
    m = detection_metrics(detections, objects, tolerance=3.0)
    assert m["f1"] == 1.0
    ball = min(detections[0], key=lambda d: d.width * d.height)
    assert (ball.width, ball.height) == (3, 3)
    assert ball.embedding.shape == (5,) and ball.embedding[:3] == pytest.approx(245 / 255, abs=0.01)


def test_segment_splits_touching_sprites_of_different_colours() -> None:
    env = BuiltinPong()
    env.reset(seed=0)
    env.ball.x, env.ball.y = env.agent.x - 2.5, env.agent.y  # ball flush against the paddle
    frame = env.render()
    found = sorted((d.width, d.height) for d in SegmentSource(SegmentConfig()).detect_frame(frame))
    assert found == [(2, 10), (2, 10), (3, 3)]


def test_segment_drops_scenery_and_counts_many_objects_of_one_type() -> None:
    frames, objects = random_play(BuiltinFreeway(), 20)
    m = detection_metrics(SegmentSource(SegmentConfig()).detect(frames), objects, tolerance=3.0)
    assert m["recall"] > 0.95
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[10:12, :] = 200  # a full-width bar is scenery
    frame[30:33, 30:33] = 255
    assert len(SegmentSource(SegmentConfig()).detect_frame(frame)) == 1
    # a row of one colour broken every 8 pixels spans the frame but no part of it does: 8 sprites
    dashed = np.zeros((64, 64, 3), np.uint8)
    dashed[40:42, :] = 200
    dashed[40:42, 7::8] = 0
    assert len(SegmentSource(SegmentConfig()).detect_frame(dashed)) == 8
    # the same colour as one long bent bar (down, across, up) is scenery, though no row holds it all
    bent = np.zeros((64, 64, 3), np.uint8)
    bent[5:40, 2] = bent[39, 2:62] = bent[5:40, 61] = 200
    bent[20:23, 30:33] = 255
    assert len(SegmentSource(SegmentConfig()).detect_frame(bent)) == 1


def boxes(cfg: SegmentConfig, frame: np.ndarray) -> list[tuple[float, float, float, float]]:
    return sorted((d.x, d.y, d.width, d.height) for d in SegmentSource(cfg).detect_frame(frame))


def test_a_sprite_touching_scenery_stays_whole_and_parts_within_the_gap_join() -> None:
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[50, :] = (0, 0, 200)  # a full-width road edge (scenery)
    frame[44:50, 20:24] = (250, 250, 0)  # a sprite standing on it
    assert boxes(SegmentConfig(), frame) == [(22.0, 47.0, 4.0, 6.0)]
    frame[20:23, 60:63] = frame[20:23, 65:68] = (0, 200, 0)  # two parts, 2 pixels apart
    frame[20:23, 80:83] = frame[20:23, 88:91] = (0, 200, 0)  # two parts, 5 pixels apart
    joined = boxes(SegmentConfig(merge_gap=2), frame)
    assert (64.0, 21.5, 8.0, 3.0) in joined and len(joined) == 4
    assert len(boxes(SegmentConfig(), frame)) == 5


def test_split_colours_and_centroid_positions() -> None:
    frame = np.zeros((60, 60, 3), np.uint8)
    frame[10:20, 10:20] = (200, 0, 0)
    frame[10:20, 20:24] = (0, 0, 200)  # a two-colour sprite: two objects unless kept whole
    assert len(boxes(SegmentConfig(), frame)) == 2
    assert boxes(SegmentConfig(split_colours=False), frame) == [(17.0, 15.0, 14.0, 10.0)]
    frame = np.zeros((60, 60, 3), np.uint8)
    frame[20:40, 20:26] = 255  # a body
    frame[22:24, 26:36] = 255  # an arm reaching out
    (box,) = boxes(SegmentConfig(), frame)
    (centroid,) = boxes(SegmentConfig(position="centroid"), frame)
    assert box[0] == 28.0 and 23.0 < centroid[0] < 26.0  # the centroid stays near the body


def test_fast_labelling_equals_scipy_on_random_masks() -> None:
    """``_parts``, ``_boxes`` and ``_dilate`` replace scipy's label, find_objects and binary_dilation
    for speed; the detections' order and boxes rest on their giving exactly the same."""
    from scipy import ndimage

    from space.segment import _boxes, _dilate, _parts, _window

    cross = ndimage.generate_binary_structure(2, 1)
    rng = np.random.default_rng(0)
    for density in (0.05, 0.3, 0.55, 0.8):
        for shape in ((1, 9), (17, 1), (23, 31), (64, 48)):
            mask = rng.random(shape) < density
            labels, boxes = _parts(mask)
            expected, n = ndimage.label(mask, cross)
            np.testing.assert_array_equal(labels, expected)
            assert [_window(b) for b in boxes.tolist()] == ndimage.find_objects(expected) and len(boxes) == n
            for steps in (1, 2, 4):
                grown = _dilate(mask, steps)
                np.testing.assert_array_equal(grown, ndimage.binary_dilation(mask, cross, iterations=steps))
                grown_labels, grown_boxes = _parts(grown)
                grown_labels[~mask] = 0
                joined = _boxes(grown_labels, len(grown_boxes)).tolist()
                assert [_window(b) for b in joined] == ndimage.find_objects(grown_labels)
    assert _boxes(np.zeros((5, 5), np.int32), 0).shape == (0, 4)


def test_segment_detections_do_not_depend_on_the_frames_seen_before() -> None:
    """The source keeps the colours of earlier frames to skip a sort; a frame's detections must be
    the same after other games' frames (other colours) as in a fresh source."""
    def described(detections: list) -> list[tuple]:
        return [(d.x, d.y, d.width, d.height, d.embedding.tolist()) for d in detections]

    pong, _ = random_play(BuiltinPong(), 5)
    freeway, _ = random_play(BuiltinFreeway(), 5)
    cfg = SegmentConfig(merge_gap=2, position="centroid")
    seen = SegmentSource(cfg)
    seen.detect(pong)
    for frame in freeway:
        after = seen.detect_frame(frame)
        assert described(after) == described(SegmentSource(cfg).detect_frame(frame)) and after
    # a scenery colour's parts are kept while they stay: a bar with a sprite of its colour that
    # moves, then touches the bar (joins the scenery), then grows taller than half the frame
    frames = []
    for top, left, height in ((30, 10, 3), (40, 20, 3), (12, 20, 3), (40, 20, 3), (20, 40, 40), (40, 20, 3)):
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[10:12, :] = 200
        frame[top:top + height, left:left + 3] = 200
        frames.append(frame)
    source, found = SegmentSource(SegmentConfig()), []
    for frame in frames:
        found.append(source.detect_frame(frame))
        assert described(found[-1]) == described(SegmentSource(SegmentConfig()).detect_frame(frame))
    assert [len(f) for f in found] == [1, 1, 0, 1, 0, 1]
    # a region cut by colour is kept from the last frame: the same region again, then one recoloured
    # in place (the same box and pixels), then one changed inside its box
    touching = np.zeros((32, 32, 3), np.uint8)
    touching[10:20, 8:10] = (200, 60, 60)
    touching[14:17, 10:13] = (60, 60, 200)
    recoloured, reshaped = touching.copy(), touching.copy()
    recoloured[14:17, 10:13] = (60, 200, 60)
    reshaped[11:13, 8:10] = 0
    reshaped[11:13, 11:12] = (200, 60, 60)
    source = SegmentSource(SegmentConfig())
    for frame in (touching, touching, recoloured, reshaped, touching):
        found = source.detect_frame(frame)
        assert described(found) == described(SegmentSource(SegmentConfig()).detect_frame(frame))
        assert len(found) >= 2


def test_oracle_reads_info_objects_with_types() -> None:
    frames, objects = random_play(BuiltinPong(), 3)
    found = OracleSource().detect(frames, [{"objects": o} for o in objects])
    assert [d.type for d in found[0]] == [o["type"] for o in objects[0]]
    with pytest.raises(UserError, match="info"):
        OracleSource().detect(frames)


def test_oracle_reads_atari_ram_scaled_to_the_frame() -> None:
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5")
    env.reset(seed=0)
    for _ in range(60):
        env.step(0)
    info = {"ram": env.unwrapped.ale.getRAM()}
    env.close()
    source = OracleSource("PongNoFrameskip-v4")
    small = source.detect(np.zeros((1, 84, 84, 3), np.uint8), [info])[0]
    assert {d.type for d in small} >= {0, 2}  # Player and Enemy are always on screen
    player = next(d for d in small if d.type == 0)
    assert player.x == pytest.approx((140 + 2) * 84 / 160)
    assert atari_game("ALE/Pong-v5") == atari_game("PongNoFrameskip-v4") == "Pong"


def test_roi_and_make_source_errors(tmp_path) -> None:
    cfg = from_dict(DetectorConfig, {"source": "segment", "roi": [0.5, 0.0, 1.0, 1.0]})
    frames, _ = random_play(BuiltinPong(), 2)
    found = make_source(cfg, None).detect(frames)
    assert found[0] and all(d.x >= 32 for d in found[0])  # the left paddle is outside
    with pytest.raises(UserError, match="python -m space train"):
        make_source(from_dict(DetectorConfig, {}), tmp_path)
    with pytest.raises(UserError, match="detector.source"):
        from_dict(DetectorConfig, {"source": "yolo"})
    with pytest.raises(UserError, match="power of two"):
        from_dict(DetectorConfig, {"model": {"grid": 5}})


def test_segment_workers_share_a_batch_with_the_same_detections() -> None:
    import pickle

    frames, _ = random_play(BuiltinFreeway(), 40)
    frames = np.stack(frames)

    def described(detections: list) -> list[tuple]:
        return [[(d.x, d.y, d.width, d.height, d.embedding.tolist()) for d in f] for f in detections]

    alone = described(SegmentSource(SegmentConfig()).detect(frames))
    shared = SegmentSource(SegmentConfig(workers=2))
    assert described(shared.detect(frames)) == alone
    assert shared._pool is not None  # the batch was shared
    copy = pickle.loads(pickle.dumps(shared))  # a copy starts its own workers when it needs them
    assert copy._pool is None and described(copy.detect(frames)) == alone
    assert described(shared.detect(frames[:5])) == alone[:5]  # a small batch stays in this process


def test_segment_workers_in_a_daemonic_process_detect_alone() -> None:
    """Stage III's game copies run in daemonic workers, which may not start processes of their own."""
    import multiprocessing

    frames, _ = random_play(BuiltinFreeway(), 20)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_detect_and_count, args=(np.stack(frames), results), daemon=True)
    worker.start()
    count, pool_started = results.get(timeout=60)
    worker.join(timeout=60)
    assert worker.exitcode == 0 and count == 20 and not pool_started


def _detect_and_count(frames: np.ndarray, results) -> None:
    source = SegmentSource(SegmentConfig(workers=2))
    results.put((len(source.detect(frames)), source._pool is not None))
