"""A scripted teacher on the built-in Pong that writes a dataset in Stage II-B's format.

Distillation needs states labelled by a teacher; before a trained teacher and detector exist,
this teacher moves the paddle toward the ball's height and reports a softmax over how close each
action brings the paddle to the ball. The game's true objects become dataset objects, so the
file is exactly what ``generate_dataset.py`` writes and ``distill_teacher.py`` reads.

    python -m see.synthetic --run runs/pong-scripted --episodes 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common.io import write_json
from common.runs import RunFolder
from common.seeds import rollout_seed
from envs.builtin import BuiltinPong


def dataset_object(obj: dict) -> dict:
    """A game's ``info["objects"]`` entry in the dataset's object format."""
    return {
        "type": int(obj["type"]),
        "x_position": float(obj["x"]),
        "y_position": float(obj["y"]),
        "x_velocity": float(obj.get("vx", 0.0)),
        "y_velocity": float(obj.get("vy", 0.0)),
        "width": float(obj.get("width", 0.0)),
        "height": float(obj.get("height", 0.0)),
    }


def scripted_pong_probs(objects: list[dict], paddle_speed: float = 3.0,
                        temperature: float = 1.0) -> np.ndarray:
    """Softmax over NOOP, UP, DOWN of minus the paddle's distance to the ball after the move."""
    agent = next((o for o in objects if o["type"] == 0), None)
    ball = next((o for o in objects if o["type"] == 2), None)
    if agent is None or ball is None:
        return np.full(3, 1 / 3)
    after = agent["y_position"] + np.array([0.0, -paddle_speed, paddle_speed])
    score = -np.abs(after - ball["y_position"]) / temperature
    probs = np.exp(score - score.max())
    return probs / probs.sum()


def scripted_pong_dataset(
    episodes: int = 10, seed: int = 0, epsilon: float = 0.2, max_steps: int = 600, **game_kwargs
) -> tuple[list[dict], dict]:
    """Play ``episodes`` games (greedy teacher, ``epsilon`` random actions) -> (entries, meta)."""
    env = BuiltinPong(max_steps=max_steps, **game_kwargs)
    rng = np.random.default_rng(seed)
    entries = []
    for episode in range(episodes):
        _, info = env.reset(seed=rollout_seed(seed, episode))
        done, step = False, 0
        while not done:
            state = [dataset_object(o) for o in info["objects"]]
            probs = scripted_pong_probs(state, env.paddle_speed)
            action = int(np.argmax(probs))
            entries.append({"state": state, "teacher_action": action,
                            "teacher_probs": [float(p) for p in probs], "episode": episode, "step": step})
            played = int(rng.integers(3)) if rng.random() < epsilon else action
            _, _, terminated, truncated, info = env.step(played)
            done, step = terminated or truncated, step + 1
    meta = {
        "object_source": "true objects of the built-in game, scripted teacher",
        "object_types": list(BuiltinPong.OBJECT_TYPES),
        "image_size": [env.size, env.size],
        "action_names": list(BuiltinPong.ACTIONS),
        "n_actions": len(BuiltinPong.ACTIONS),
        "agent_type": BuiltinPong.OBJECT_TYPES.index("agent"),
    }
    return entries, meta


def save_dataset(folder: str | Path, entries: list[dict], meta: dict) -> None:
    """``dataset.json`` and ``dataset.meta.json`` in ``folder`` (a run folder), atomically."""
    folder = Path(folder)
    write_json(folder / "dataset.json", entries)
    write_json(folder / "dataset.meta.json", meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder to write the dataset into")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epsilon", type=float, default=0.2, help="share of random actions played")
    args = parser.parse_args()
    entries, meta = scripted_pong_dataset(args.episodes, args.seed, args.epsilon)
    run = Path(args.run)
    RunFolder(run).create_marker("BuiltinPong-v0")
    save_dataset(run, entries, meta)
    print(f"{len(entries)} states from {args.episodes} episodes -> {run / 'dataset.json'}")


if __name__ == "__main__":
    main()
