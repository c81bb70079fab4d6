"""Which object type is the agent's own, found from the pixels: the one whose motion answers the actions.

Over the teacher's rollout, each object's displacement between two frames the agent sees is paired
with the action taken between them. For each type, the share of the displacement's variance that
the action explains (the correlation ratio, the R² of a regression of displacement on the one-hot
action) says how much the type obeys the controller: the paddle's motion is mostly its action, the
ball's and the opponent's hardly at all. The type with the largest share is the agent. The
game's true objects play no part; they only check the choice afterwards (diagnostics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ActionResponse:
    """Running sums of each type's displacement per action, from which ``explained`` is computed."""

    def __init__(self, n_types: int, n_actions: int):
        self.count = np.zeros((n_types, n_actions))
        self.total = np.zeros((n_types, n_actions, 2))  # summed (vx, vy)
        self.square = np.zeros((n_types, 2))  # summed (vx², vy²)

    def add(self, action: int, state: Sequence[dict]) -> None:
        """``state``: the objects seen right after ``action``, with their tracked velocities."""
        for obj in state:
            velocity = (obj["x_velocity"], obj["y_velocity"])
            kind = obj["type"]
            self.count[kind, action] += 1
            self.total[kind, action] += velocity
            self.square[kind] += np.square(velocity)

    def mean_velocity(self, kind: int) -> np.ndarray:
        """(n_actions, 2): type ``kind``'s mean (vx, vy) right after each action (zeros where never taken)."""
        return self.total[kind] / np.maximum(self.count[kind], 1)[:, None]

    def explained(self) -> np.ndarray:
        """Per type, the share of the displacement's variance (x and y together) the action explains."""
        n = self.count.sum(1)
        mean = self.total.sum(1) / np.maximum(n, 1)[:, None]
        total_ss = (self.square - n[:, None] * mean ** 2).sum(1)
        per_action = self.total / np.maximum(self.count, 1)[..., None]
        between_ss = (self.count[..., None] * (per_action - mean[:, None, :]) ** 2).sum((1, 2))
        return np.where(total_ss > 1e-9, between_ss / np.maximum(total_ss, 1e-12), 0.0)

    def choose(self, names: Sequence[str], min_share: float, override: int | None = None
               ) -> tuple[int | None, dict]:
        """(agent type or None, the evidence for ``dataset.meta.json``).

        ``override`` (``dataset.agent_type``) wins; otherwise the type with the largest share,
        provided it reaches ``min_share``, so a game where nothing obeys the actions gets no agent.
        """
        share = self.explained()
        best = int(np.argmax(share)) if len(share) else None
        if override is not None:
            agent, rule = override, "dataset.agent_type"
        elif best is not None and share[best] >= min_share:
            agent, rule = best, "largest share of motion explained by the action"
        else:
            agent, rule = None, f"no type's motion is explained by the action above {min_share}"
        evidence = {
            "rule": rule,
            "explained_share": {name: round(float(s), 4) for name, s in zip(names, share, strict=True)},
            "samples": {name: int(n) for name, n in zip(names, self.count.sum(1), strict=True)},
        }
        return agent, evidence
