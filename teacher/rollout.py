"""Teacher rollouts mixed with random actions: the frames and states later stages learn from.

The teacher labels every state with its action distribution, whoever acts; with probability
``random_action_prob`` a random action is taken instead, so the recorded states also cover
situations off the teacher's own path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from common.seeds import rollout_seed
from envs import make_env
from envs.config import EnvConfig
from teacher.agent import TeacherAgent


@dataclass
class Step:
    frame: np.ndarray  # the observation the action was chosen on
    info: dict  # what the environment reported with it (true objects where known)
    teacher_probs: np.ndarray
    action: int  # the action actually taken
    episode: int
    step: int
    seed: int  # the episode's seed (common.seeds.rollout_seed: a development seed)


def rollout(env_cfg: EnvConfig, teacher: TeacherAgent, n_steps: int, random_action_prob: float,
            seed: int, deterministic: bool = True) -> Iterator[Step]:
    """Yield ``n_steps`` steps of play over as many episodes as it takes (seeds ``seed``, ``seed+1``...,
    stepping over the test range)."""
    rng = np.random.default_rng(seed)
    env = make_env(env_cfg, train=False)
    try:
        episode, episode_seed = 0, rollout_seed(seed, 0)
        frame, info = env.reset(seed=episode_seed)
        teacher.reset()
        step = 0
        for _ in range(n_steps):
            probs = teacher.probs(frame)
            if rng.random() < random_action_prob:
                action = int(rng.integers(len(probs)))
            elif deterministic:
                action = int(np.argmax(probs))
            else:
                action = int(rng.choice(len(probs), p=probs))
            yield Step(frame, info, probs, action, episode, step, episode_seed)
            frame, _, terminated, truncated, info = env.step(action)
            step += 1
            if terminated or truncated:
                episode += 1
                step = 0
                episode_seed = rollout_seed(seed, episode)
                frame, info = env.reset(seed=episode_seed)
                teacher.reset()
    finally:
        env.close()
