"""The pixels-only rules on real Atari frames: types from embeddings, the agent from the actions.

Random play of Atari Pong and Freeway through the project's wrappers, the segment source inside
the playfield, types chosen by silhouette and the agent as the type whose motion the actions
explain; OCAtari's RAM objects (privileged) only check that the agent found is its ``Player``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.config import from_dict, to_dict
from envs import make_env
from envs.config import EnvConfig
from pipeline.config import load_config
from see.agent_finder import ActionResponse
from see.object_types import TypeConfusion, fit_types, true_agent_type
from see.perception import Perception
from see.tracking import Tracker
from space.config import DetectorConfig
from space.oracle import AtariRamObjects
from space.sources import make_source

# per game, the silhouette tolerance of configs/atari_*.yaml (Freeway's ten car colours and its
# chicken need the best-scoring number of types, not the fewest near it); the detector section
# (playfield, segment settings) is read from the same file
TOLERANCE = {"Pong": 0.05, "Freeway": 0.0}


def game_settings(game: str) -> tuple[dict, float]:
    """The detector section and the tracker's gate of the game's config."""
    config = load_config(Path(__file__).parents[1] / "configs" / f"atari_{game.lower()}.yaml")
    return {"roi": config.detector.roi, "segment": to_dict(config.detector.segment)}, config.dataset.gate


def random_play(game: str, steps: int, seed: int):
    env = make_env(EnvConfig(id=f"{game}NoFrameskip-v4"), seed=seed)
    truth = AtariRamObjects(game)
    rng = np.random.default_rng(seed)
    frames, actions, objects = [], [], []
    frame, _ = env.reset(seed=seed)
    for _ in range(steps):
        action = int(rng.integers(env.action_space.n))
        frames.append(frame)
        actions.append(action)
        objects.append(truth(env.unwrapped.ale.getRAM(), (frame.shape[1], frame.shape[0])))
        frame, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    env.close()
    return np.stack(frames), actions, objects, truth.type_names, int(env.action_space.n)


@pytest.mark.parametrize("game", ["Pong", "Freeway"])
def test_the_agent_found_from_pixels_is_ocataris_player(game):
    frames, actions, objects, true_names, n_actions = random_play(game, 600, seed=3)
    tolerance = TOLERANCE[game]
    detector, gate = game_settings(game)
    source = make_source(from_dict(DetectorConfig, {"source": "segment", **detector}), None)
    detections = source.detect(frames)
    flat = [d for frame in detections for d in frame]
    types, _ = fit_types(np.stack([d.embedding for d in flat]), None, [2, 8], seed=0, tolerance=tolerance)
    perception = Perception(source, types, Tracker(gate=gate, memory=3))
    response = ActionResponse(len(types.names), n_actions)
    confusion = TypeConfusion(len(types.names), len(true_names), tolerance=3.0)
    for t, frame_detections in enumerate(detections):
        state = perception.update(frame_detections)
        if t > 0:
            response.add(actions[t - 1], state)
        centres = np.array([[d.x, d.y] for d in frame_detections]).reshape(-1, 2)
        confusion.add(types.assign(frame_detections), centres, objects[t])
    agent, evidence = response.choose(types.names, min_share=0.05)
    assert agent is not None, evidence
    # OCAtari calls the agent's object "Player" in Pong and "Chicken" in Freeway
    assert confusion.majority()[agent] == true_agent_type(true_names), (evidence, confusion.counts)
    assert confusion.purity >= 0.95
