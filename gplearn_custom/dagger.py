"""DAgger (Ross, Gordon and Bagnell, 2011) for Stage II-C: the student plays, the teacher labels.

A forest distilled from the teacher's own states meets other states when it plays, where its
mistakes compound. Each round the current forest plays the game through the dataset's perception,
the teacher labels every frame it saw with its action distribution, those states join the
training states, and distillation starts again from the current forest (warm start). The held-out
test states stay the teacher's own, so agreement is comparable across rounds. Each round's states
are saved (``dagger-rN.json``) so a resumed run reads them instead of playing again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from common.io import read_json, write_json
from common.seeds import rollout_seed
from envs import make_env
from envs.config import EnvConfig
from gplearn_custom.distill import Prepared
from gplearn_custom.evaluation import agreement_report
from gplearn_custom.language.forest import SymbolicForest
from see.perception import Perception
from teacher.agent import TeacherAgent


def student_rollout(forest: SymbolicForest, teacher: TeacherAgent, perception: Perception,
                    env_cfg: EnvConfig, n_steps: int, seed: int) -> dict:
    """``n_steps`` steps of the forest's greedy play (episodes seeded ``seed``, ``seed + 1``..., over
    the test range), with the teacher's distribution on every frame where the perception saw an object."""
    env = make_env(env_cfg)
    states, probs, episodes, seeds = [], [], [], [rollout_seed(seed, 0)]
    try:
        episode = 0
        frame, info = env.reset(seed=seeds[0])
        teacher.reset()
        perception.reset()
        for _ in range(n_steps):
            teacher_probs = teacher.probs(frame)
            state = perception(frame, info)
            action = int(forest.act_objects([state])[0])
            if state:
                states.append(state)
                probs.append([round(float(p), 6) for p in teacher_probs])
                episodes.append(episode)
            frame, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                episode += 1
                seeds.append(rollout_seed(seed, episode))
                frame, info = env.reset(seed=seeds[-1])
                teacher.reset()
                perception.reset()
    finally:
        env.close()
    return {"states": states, "teacher_probs": probs, "episodes": episodes, "episode_seeds": seeds}


def grow(prep: Prepared, labelled: dict) -> Prepared:
    """``prep`` with the labelled states appended to the data and to the training and fitness states
    (all of them, even past ``max_train_states``: they are the states the student gets wrong)."""
    data = prep.data
    if not labelled["states"]:
        return prep
    probs = np.asarray(labelled["teacher_probs"], dtype=np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    first_episode = int(data.episodes.max()) + 1 if len(data.episodes) else 0
    grown = replace(
        data,
        states=data.states + labelled["states"],
        probs=np.vstack([data.probs, probs]),
        actions=np.concatenate([data.actions, probs.argmax(axis=1)]),
        episodes=np.concatenate([data.episodes, first_episode + np.asarray(labelled["episodes"])]),
    )
    new = np.arange(len(data), len(grown))
    return replace(prep, data=grown, X=np.vstack([prep.X, prep.spec.transform(labelled["states"])]),
                   train=np.concatenate([prep.train, new]), fit=np.concatenate([prep.fit, new]))


def run_dagger(forest: SymbolicForest, prep: Prepared, rounds: int, steps: int, distil_round,
               teacher: TeacherAgent, perception: Perception, env_cfg: EnvConfig, seed: int,
               folder: Path) -> tuple[SymbolicForest, Prepared, list[dict]]:
    """``rounds`` rounds of play, label, grow and ``distil_round(prep, forest, round) -> forest``."""
    history = []
    for r in range(1, rounds + 1):
        path = folder / f"dagger-r{r}.json"
        if path.is_file():  # a previous, interrupted run played this round already
            labelled = read_json(path)
        else:
            labelled = student_rollout(forest, teacher, perception, env_cfg, steps, seed + 7919 * r)
            write_json(path, labelled)
        prep = grow(prep, labelled)
        forest = distil_round(prep, forest, r)
        test = prep.test_or_train()
        agreement = agreement_report(forest, prep.X[test], prep.data.actions[test])["agreement"]
        history.append({"round": r, "states_added": len(labelled["states"]),
                        "episode_seeds": labelled.get("episode_seeds", []),
                        "train_states": len(prep.train), "test_agreement": agreement, "size": forest.size})
    return forest, prep, history

