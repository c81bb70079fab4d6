"""Perception pieces on hand-made inputs: tracking, type assignment and clustering, the whole chain."""

import numpy as np
import pytest

from common.errors import UserError
from envs.builtin import BuiltinPong
from envs.info import SCREEN
from see.agent_finder import ActionResponse
from see.dataset_config import DatasetConfig
from see.object_types import (
    TypeConfusion,
    TypeModel,
    colour_name,
    describe_types,
    fit_types,
    learn_types,
    merge_lookalikes,
    true_agent_type,
)
from see.perception import Perception, hysteresis_of
from see.tracking import Tracker
from space.config import DetectorConfig
from space.sources import Detection, make_source


def run(tracker, frames):
    """Feed [(types, centres), ...] step by step; returns the velocities of each step."""
    return [tracker.update(np.array(t), np.array(c, dtype=float).reshape(-1, 2))[0] for t, c in frames]


def test_constant_velocity_is_the_step_displacement():
    steps = [([0], [[10 + 2 * k, 30 - 1.5 * k]]) for k in range(6)]
    velocities = run(Tracker(gate=5, memory=2), steps)
    assert np.allclose(velocities[0], 0)  # a new object starts at rest
    for v in velocities[1:]:
        assert np.allclose(v, [[2, -1.5]])


def test_object_missing_briefly_keeps_its_identity_and_velocity():
    tracker = Tracker(gate=3, memory=2)
    steps = [([0], [[10, 10]]), ([0], [[13, 10]]), ([], []), ([], []), ([0], [[22, 10]])]
    velocities = run(tracker, steps)
    assert np.allclose(velocities[1], [[3, 0]])
    assert np.allclose(velocities[4], [[3, 0]])  # 9 pixels over 3 steps, where prediction put it


def test_object_missing_longer_than_memory_comes_back_new():
    steps = [([0], [[10, 10]]), ([0], [[12, 10]]), ([], []), ([], []), ([], []), ([0], [[20, 10]])]
    velocities = run(Tracker(gate=3, memory=2), steps)
    assert np.allclose(velocities[5], 0)


def test_appearing_object_starts_at_rest_beside_a_tracked_one():
    steps = [([1], [[5, 5]]), ([1, 1], [[6, 5], [40, 40]]), ([1, 1], [[41, 42], [7, 5]])]
    velocities = run(Tracker(gate=4, memory=1), steps)
    assert np.allclose(velocities[1], [[1, 0], [0, 0]])
    assert np.allclose(velocities[2], [[1, 2], [1, 0]])


def test_two_crossing_objects_of_one_type_keep_their_velocities():
    tracker = Tracker(gate=4, memory=1)
    rng = np.random.default_rng(0)
    for k in range(12):
        a, b = [2.0 * k, 20.0], [22.0 - 2.0 * k, 20.5]  # they pass each other at k = 5..6
        order = rng.permutation(2)
        centres = np.array([a, b])[order]
        v = tracker.update(np.array([2, 2]), centres)[0]
        if k:
            assert np.allclose(v[np.argsort(order)], [[2, 0], [-2, 0]]), k


def test_jump_beyond_gate_is_a_new_object_and_types_are_tracked_apart():
    tracker = Tracker(gate=3, memory=1)
    tracker.update(np.array([0, 1]), np.array([[10.0, 10], [11.0, 10]]))
    v = tracker.update(np.array([0, 1]), np.array([[11.0, 10], [30.0, 10]]))[0]
    assert np.allclose(v, [[1, 0], [0, 0]])  # type 1 jumped 19 px; type 0 never matches type 1


def test_reset_forgets_every_object():
    tracker = Tracker(gate=5, memory=3)
    tracker.update(np.array([0]), np.array([[10.0, 10]]))
    tracker.reset()
    assert np.allclose(tracker.update(np.array([0]), np.array([[11.0, 10]]))[0], 0)


def det(x, y, embedding, kind=None):
    return Detection(x, y, 2.0, 2.0, 1.0, np.asarray(embedding, dtype=np.float32), kind)


def test_types_from_centroids_and_the_saved_form_assign_alike():
    model = TypeModel(["a", "b"], centroids=np.array([[0.0, 0.0], [1.0, 1.0]]),
                      mean=np.array([10.0, 0.0]), scale=np.array([2.0, 2.0]))
    detections = [det(0, 0, [10, 0]), det(0, 0, [12, 2]), det(0, 0, [11.2, 1.4])]
    assert model.assign(detections).tolist() == [0, 1, 1]
    again = TypeModel.from_dict(model.to_dict())
    assert again.assign(detections).tolist() == [0, 1, 1]
    with pytest.raises(UserError, match="size 3"):
        model.assign([det(0, 0, [1, 2, 3])])


def test_source_types_pass_through_and_must_exist():
    model = TypeModel.from_dict(TypeModel(["x", "y"]).to_dict())
    assert model.assign([det(0, 0, [], 1), det(0, 0, [], 0)]).tolist() == [1, 0]
    with pytest.raises(UserError, match="without a type"):
        model.assign([det(0, 0, [])])


def blobs(rng, centres, n=60, noise=0.02):
    points = [rng.normal(c, noise, size=(n, len(c))) for c in centres]
    return np.concatenate(points), np.repeat(np.arange(len(centres)), n)


def test_silhouette_finds_the_number_of_types():
    rng = np.random.default_rng(1)
    x, truth = blobs(rng, [[0, 0, 0], [1, 0, 0], [0, 1, 1], [1, 1, 0]])
    model, scores = fit_types(x, None, [2, 8], seed=0)
    assert len(model.names) == 4 and set(scores) == set(range(2, 9))
    labels = model.assign_embeddings(x)
    assert all(len(set(labels[truth == t])) == 1 for t in range(4))


def test_a_sprite_clipped_at_the_edge_stays_one_type():
    # segment-like embeddings: colour plus size; the ball is identical except for a few clipped sizes
    ball = [[1, 1, 1, w / 64, 3 / 64] for w, n in ((3, 50), (2, 5), (1, 3)) for _ in range(n)]
    paddles = [[0.3, 0.9, 0.3, 2 / 64, 10 / 64]] * 50 + [[0.9, 0.5, 0.2, 2 / 64, 10 / 64]] * 50
    model, _ = fit_types(np.array(ball + paddles), None, [2, 8], seed=0)
    assert len(model.names) == 3


def test_fixed_number_of_types_needs_enough_distinct_embeddings():
    with pytest.raises(UserError, match="distinct"):
        fit_types(np.array([[0.0, 1.0]] * 10 + [[1.0, 0.0]] * 10), 3, [2, 8], seed=0)
    with pytest.raises(UserError, match="detections"):
        fit_types(np.zeros((1, 3)), None, [2, 8], seed=0)


def test_purity_and_the_true_agent_for_diagnostics():
    confusion = TypeConfusion(n_types=3, n_true=2, tolerance=2.0)
    truth = [{"type": 1, "x": 10.0, "y": 10.0}, {"type": 0, "x": 30.0, "y": 30.0}]
    confusion.add(np.array([0, 2, 1]), np.array([[10.5, 10], [30, 31], [50, 50]]), truth)
    confusion.add(np.array([0, 0]), np.array([[10, 10], [30, 30]]), truth)
    assert confusion.counts.tolist() == [[1, 2], [0, 0], [1, 0]]
    assert confusion.purity == pytest.approx(3 / 4) and confusion.unmatched == 1
    assert confusion.majority() == [1, None, 0]
    assert true_agent_type(["enemy", "Player"]) == 1 and true_agent_type(["car"]) is None


def test_types_are_named_by_their_colour_and_size():
    frames = np.zeros((2, 20, 20, 3), np.uint8)
    frames[:, 5, 5] = (250, 250, 250)
    frames[:, 12, 14] = (30, 180, 40)
    dets = [[Detection(5.2, 5.4, 2, 4, 1.0, np.zeros(1)), Detection(14, 12, 6, 1, 1.0, np.zeros(1))]] * 2
    names = describe_types(3, frames, dets, [np.array([1, 0])] * 2)
    assert names == ["t0_green_6x1", "t1_white_2x4", "t2"]
    assert colour_name((210, 60, 50)) == "red" and colour_name((10, 10, 20)) == "black"


def test_a_weak_detection_continues_an_object_and_never_starts_one():
    tracker = Tracker(gate=4, memory=2)
    tracker.update(np.array([0]), np.array([[10.0, 10]]))
    # the object, seen faintly 2 pixels on, and faint noise far away: the first kept, the second not
    v, kept = tracker.update(np.array([0, 0]), np.array([[12.0, 10], [40.0, 40]]), np.array([True, True]))
    assert kept.tolist() == [True, False] and np.allclose(v[0], [2, 0])
    assert len(tracker.tracks) == 1
    # a clear detection takes the object before a faint duplicate nearer to where it should be
    v, kept = tracker.update(np.array([0, 0]), np.array([[15.0, 10], [14.0, 10]]), np.array([False, True]))
    assert kept.tolist() == [True, False] and np.allclose(v[0], [3, 0])
    # without weak detections every detection is kept
    again = Tracker(gate=4, memory=2)
    again.update(np.array([0]), np.array([[10.0, 10]]))
    v, kept = again.update(np.array([0]), np.array([[12.0, 10]]))
    assert np.allclose(v, [[2, 0]]) and kept.tolist() == [True]


def test_perception_keeps_a_faint_object_it_follows_and_drops_faint_noise():
    def faint(x, y, score):
        return Detection(x, y, 2.0, 2.0, score, np.zeros(1, np.float32), 0)

    perception = Perception(None, TypeModel(["ball"]), Tracker(gate=4, memory=2), hysteresis=(0.1, 0.5))
    assert perception.update([faint(10, 10, 0.3)]) == []  # too faint to start an object
    perception.update([faint(10, 10, 0.9)])
    state = perception.update([faint(12, 10, 0.3), faint(40, 40, 0.3)])
    assert [(o["x_position"], o["x_velocity"]) for o in state] == [(12, 2)]
    assert perception.describe()["tracking"]["follow_threshold"] == 0.1
    # only a source with graded presence follows faint detections
    space = DetectorConfig(source="space", threshold=0.5)
    assert hysteresis_of(space, 0.1) == (0.1, 0.5)
    assert hysteresis_of(space, None) is None and hysteresis_of(space, 0.6) is None
    assert hysteresis_of(DetectorConfig(source="segment"), 0.1) is None


def _split_ball_scene(n_frames: int = 20):
    """Frames with a white ball whose embedding alternates between two clusters (0, 1), a green
    paddle (2) and two white cars (3, 4) that look like the ball and are always seen together."""
    rng = np.random.default_rng(0)
    frames = np.zeros((n_frames, 40, 40, 3), np.uint8)
    hot = np.eye(5)
    detections = []
    for f in range(n_frames):
        ball = (int(rng.integers(2, 38)), int(rng.integers(2, 10)))
        objects = [(ball, f % 2, (250, 250, 250), (3, 3)), ((5, 20), 2, (40, 180, 40), (2, 9)),
                   ((15, 30), 3, (250, 250, 250), (3, 3)), ((30, 30), 4, (250, 250, 250), (3, 3))]
        frame_dets = []
        for (x, y), kind, colour, (w, h) in objects:
            frames[f, y, x] = colour
            frame_dets.append(Detection(x + 0.5, y + 0.5, w, h, 1.0, hot[kind] + rng.normal(0, 0.01, 5)))
        detections.append(frame_dets)
    return frames, detections, hot


def test_lookalike_clusters_that_never_meet_become_one_type():
    frames, detections, hot = _split_ball_scene()
    model = TypeModel([f"type{k}" for k in range(5)], hot, np.zeros(5), np.ones(5))
    merged, groups = merge_lookalikes(model, frames, detections, max_shared=0.02)
    assert groups == [[0, 1]]  # the ball's two clusters; the cars share every frame, so stay two
    assert merged.assign_embeddings(hot).tolist() == [0, 0, 1, 2, 3]
    again = TypeModel.from_dict(merged.to_dict())
    assert again.assign_embeddings(hot).tolist() == [0, 0, 1, 2, 3]
    # frames shared by more than the allowance keep them apart
    detections[0].append(Detection(20, 20, 3, 3, 1.0, hot[1]))
    frames[0, 20, 20] = (250, 250, 250)
    assert merge_lookalikes(model, frames, detections, max_shared=0.02)[1] == []


def test_learnt_types_merge_only_a_count_the_silhouette_chose():
    frames, detections, _ = _split_ball_scene()
    chosen, info = learn_types(frames, detections, DatasetConfig(type_range=[5, 5]), seed=0)
    assert len(chosen.names) == 4 and len(info["merged_clusters"]) == 1
    assert sum(name.endswith("white_3x3") for name in chosen.names) == 3  # one ball, two cars
    fixed, info = learn_types(frames, detections, DatasetConfig(n_types=5), seed=0)
    assert len(fixed.names) == 5 and info["merged_clusters"] == []
    never = DatasetConfig(type_range=[5, 5], lookalike_shared=None)
    assert len(learn_types(frames, detections, never, seed=0)[0].names) == 5


def test_the_agent_is_the_type_whose_motion_the_actions_explain():
    rng = np.random.default_rng(0)
    response = ActionResponse(n_types=3, n_actions=3)
    for _ in range(300):
        action = int(rng.integers(3))
        paddle = {"type": 1, "x_velocity": 0.0, "y_velocity": (0, -2, 2)[action] + rng.normal(0, 0.3)}
        ball = {"type": 0, "x_velocity": rng.choice([-1, 1]), "y_velocity": rng.normal(0, 1)}
        response.add(action, [ball, paddle])  # type 2 is never seen
    agent, evidence = response.choose(["ball", "paddle", "ghost"], min_share=0.05)
    share = evidence["explained_share"]
    assert agent == 1 and share["paddle"] > 0.9 > 0.05 > share["ball"]
    assert evidence["samples"] == {"ball": 300, "paddle": 300, "ghost": 0}
    assert response.choose(["ball", "paddle", "ghost"], min_share=0.05, override=0)[0] == 0
    assert response.choose(["ball", "paddle", "ghost"], min_share=0.99)[0] is None


def _pong_perception() -> tuple[BuiltinPong, np.ndarray, Perception]:
    """Built-in Pong after its reset, its first frame and a segment perception typed on it."""
    game = BuiltinPong()
    frame, _ = game.reset(seed=3)
    source = make_source(DetectorConfig(source="segment"), None)
    embeddings = np.stack([d.embedding for d in source.detect(frame[None])[0]])
    types, _ = fit_types(embeddings, 3, [2, 8], seed=0)
    return game, frame, Perception(source, types, Tracker(gate=8, memory=2))


def test_perception_on_frames_matches_the_true_objects():
    game, _, perception = _pong_perception()
    perception.reset()
    for _ in range(4):
        frame, *_, info = game.step(1)
        state = perception(frame, info)
    assert len(state) == 3
    assert set(state[0]) == {"type", "x_velocity", "y_velocity", "x_position", "y_position", "width",
                             "height", "score"}
    by_position = sorted(state, key=lambda o: o["x_position"])
    truth = sorted(info["objects"], key=lambda o: o["x"])
    for got, true in zip(by_position, truth, strict=True):
        assert abs(got["x_position"] - true["x"]) <= 1 and abs(got["y_position"] - true["y"]) <= 1
        assert abs(got["y_velocity"] - true["vy"]) <= 1


def test_perception_reads_the_screen_the_game_gives_beside_a_pooled_frame():
    _, frame, perception = _pong_perception()
    ghost = frame.copy()
    ghost[:20, :20] = 255  # a blob the pooled frame has and the last frame has not
    assert len(perception.detect([ghost], [{}])[0]) == 4
    assert len(perception.detect([ghost], [{SCREEN: frame}])[0]) == 3
    assert len(perception(ghost, {SCREEN: frame})) == 3

    meta = {**perception.describe(), "detector": {"source": "segment"}}
    assert Perception.from_meta(meta).screen
    made_before = Perception.from_meta({k: v for k, v in meta.items() if k != "frame"})
    assert len(made_before.detect([ghost], [{SCREEN: frame}])[0]) == 4  # its dataset read the observation
