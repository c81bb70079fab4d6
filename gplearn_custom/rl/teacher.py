"""The pixel teacher queried on the frames that fine-tuning visits, for soft expert supervision."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from teacher.agent import TeacherAgent


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
