"""The trained teacher as an agent that takes raw frames, as later stages need it.

It takes the game's own frames (Atari's 210x160 screen), resizes them to its input as training
did (``envs.teacher_frame``), and keeps its own frame stack exactly as SB3's ``VecFrameStack`` +
``VecTransposeImage`` build it in training (oldest frame first, zeros after a reset), in grey where
the model was trained on grey frames (one channel per stacked frame), so its action distribution
on a frame is the one it was trained with.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO

from common.devices import torch_device
from common.errors import UserError
from envs import teacher_frame, to_grey
from envs.config import EnvConfig
from envs.evaluation import EvalConfig, EvalResult, play_seeds
from envs.workers import copies_for

MODEL_FILE = "teacher.zip"
CHECKPOINTS = "checkpoints"  # teacher/checkpoints/ppo_<steps>_steps.zip, the last one written at the end
CHECKPOINT_PREFIX = "ppo"


def checkpoint_files(checkpoint_dir: Path) -> list[tuple[int, Path]]:
    """(training steps, file) of every checkpoint in ``checkpoint_dir``, oldest first."""
    found = []
    for path in Path(checkpoint_dir).glob(f"{CHECKPOINT_PREFIX}_*_steps.zip"):
        match = re.fullmatch(rf"{CHECKPOINT_PREFIX}_(\d+)_steps\.zip", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


class TeacherAgent:
    """Greedy (or sampling) PPO teacher over raw (H, W, 3) frames."""

    def __init__(self, model: PPO, frame_stack: int, deterministic: bool = True, seed: int = 0):
        self.model = model
        self.rng = np.random.default_rng(seed)
        self.frame_stack = max(frame_stack, 1)
        self.deterministic = deterministic
        self.n_actions = int(model.action_space.n)
        self.grey = model.observation_space.shape[0] == self.frame_stack
        self.size = tuple(model.observation_space.shape[1:])  # (height, width) of its input
        self._stack: np.ndarray | None = None

    @classmethod
    def load(cls, teacher_dir: Path, frame_stack: int, deterministic: bool = True, device: str = "cpu"
             ) -> TeacherAgent:
        """The saved teacher on ``device`` (``teacher.device``; "auto": a GPU where there is one)."""
        path = Path(teacher_dir) / MODEL_FILE
        if not path.is_file():
            raise UserError(f"no teacher model at {path}; run train_visual_rl.py first")
        return cls.load_file(path, frame_stack, deterministic, device)

    @classmethod
    def load_file(cls, path: Path, frame_stack: int, deterministic: bool = True, device: str = "cpu",
                  seed: int = 0) -> TeacherAgent:
        """A saved model file (``teacher.zip`` or a checkpoint); ``seed`` drives sampled actions."""
        return cls(PPO.load(path, device=torch_device(device)), frame_stack, deterministic, seed)

    def reset(self) -> None:
        self._stack = None

    def observe(self, frame: np.ndarray) -> np.ndarray:
        """Push a frame and return the channel-first stacked observation."""
        frame = teacher_frame(frame, self.size)
        chw = np.transpose(to_grey(frame) if self.grey else frame, (2, 0, 1))
        if self._stack is None:
            self._stack = np.zeros((chw.shape[0] * self.frame_stack, *chw.shape[1:]), np.uint8)
        channels = chw.shape[0]
        self._stack = np.roll(self._stack, -channels, axis=0)
        self._stack[-channels:] = chw
        return self._stack

    @torch.no_grad()
    def probs(self, frame: np.ndarray) -> np.ndarray:
        """Action distribution on this frame (also advances the frame stack)."""
        obs, _ = self.model.policy.obs_to_tensor(self.observe(frame)[None])
        distribution = self.model.policy.get_distribution(obs)
        return distribution.distribution.probs[0].cpu().numpy()

    def act(self, frame: np.ndarray, info: dict | None = None) -> int:
        p = self.probs(frame)
        if self.deterministic:
            return int(np.argmax(p))
        return int(self.rng.choice(len(p), p=p))


class BatchTeacher:
    """Action distributions of the teacher for several environment copies in one forward pass.

    Each copy keeps its own frame stack (a ``TeacherAgent`` sharing the one model), so the teacher
    sees every copy's frames exactly as it did in training.
    """

    def __init__(self, teacher: TeacherAgent, copies: int):
        self.policy = teacher.model.policy
        self.n_actions = teacher.n_actions
        self.stacks = [TeacherAgent(teacher.model, teacher.frame_stack) for _ in range(copies)]

    def reset(self, copy: int) -> None:
        self.stacks[copy].reset()

    @torch.no_grad()
    def probs(self, frames: Sequence[np.ndarray], copies: Sequence[int]) -> np.ndarray:
        """(len(frames), n_actions): push ``frames[k]`` onto copy ``copies[k]``'s stack, then one batch."""
        observations = np.stack([self.stacks[c].observe(f) for c, f in zip(copies, frames, strict=True)])
        obs, _ = self.policy.obs_to_tensor(observations)
        return self.policy.get_distribution(obs).distribution.probs.cpu().numpy().astype(np.float64)


class TeacherPlayers:
    """The greedy teacher as ``envs.play.Players``: one forward pass per step for every copy."""

    def __init__(self, teacher: TeacherAgent, copies: int):
        self.batch = BatchTeacher(teacher, copies)

    def start(self, copies: np.ndarray) -> None:
        for copy in copies:
            self.batch.reset(copy)

    def act(self, copies: np.ndarray, owners: np.ndarray, frames: list[np.ndarray],
            infos: list[dict]) -> np.ndarray:
        return self.batch.probs(frames, copies).argmax(axis=1)


def evaluate_teacher(teacher: TeacherAgent, env_cfg: EnvConfig, cfg: EvalConfig) -> EvalResult:
    """``envs.evaluation.evaluate`` for the greedy teacher, with every seed's game side by side (in
    ``env.n_jobs`` worker processes) and one forward pass per step for all of them."""
    if not teacher.deterministic:
        raise ValueError("evaluate_teacher plays the greedy teacher; use envs.evaluation.evaluate")
    return play_seeds(TeacherPlayers(teacher, len(cfg.seeds)), copies_for(env_cfg, len(cfg.seeds)), cfg)


def decisions_per_second(agent: TeacherAgent, n: int = 200) -> float:
    """Batch-1 forward passes per second of the teacher's network alone, on the CPU."""
    frame = np.zeros(agent.model.observation_space.shape[1:] + (3,), dtype=np.uint8)
    agent.reset()
    start = time.perf_counter()
    for _ in range(n):
        agent.probs(frame)
    agent.reset()
    return n / (time.perf_counter() - start)
