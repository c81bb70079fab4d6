"""Pursuit forests: players that steer the agent towards (or away from) another object, from pixels.

Distillation copies the teacher; where the teacher's choices are no short function of the objects
(Atari Pong: its moves aim at where the lagging paddle will be), the distilled forest can lose every
point, and Stage III's reward then has no slope to climb. Random fresh forests rarely hold a player
either. A pursuit forest is the simplest object-centric player: action ``a``'s logit is

    sign * sum over axes of v_a[axis] * (target.d<axis> + offset)

where ``v_a`` is the agent's mean velocity in the dataset's states that follow a state the teacher
labelled ``a`` (tracked objects, no truth) and ``target.d<axis>`` the target's offset from the agent.
The label is the teacher's choice, not always the action played (the rollout plays a random one on
``dataset.random_action_prob`` of its steps, and the dataset does not store it), so the means are
diluted towards each other; the agent finder's own sums (Stage II-B) pair the actions played. The
action whose motion closes the gap (``sign`` +1) or opens it (-1) has the largest logit; the offset
aims beside the target (a paddle's edge rather than its centre). Stage III screens these forests
with its fresh ones; its mutations and PPO then change them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gplearn_custom.data import DistillData
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import Node, from_tokens
from see.agent_finder import ActionResponse

AXES = ("x", "y")
DEAD_AXIS = 0.05  # an axis whose spread of action velocities is below this share of the other's is left out


def action_velocities(data: DistillData) -> np.ndarray:
    """(n_actions, 2): the agent's mean (vx, vy) in the state after each state labelled with an
    action, over the dataset's consecutive states of one episode; zeros for a label never given."""
    if data.agent_type is None:
        raise ValueError("the dataset has no agent type, so no agent velocity to pursue with")
    response = ActionResponse(len(data.type_names), len(data.action_names))
    for t in range(len(data) - 1):
        if data.episodes[t] == data.episodes[t + 1] and data.episodes[t] >= 0:
            response.add(int(data.actions[t]), data.states[t + 1])
    return response.mean_velocity(data.agent_type)


def pursuit_forests(forest: SymbolicForest, velocities: np.ndarray, offsets: Sequence[float]
                    ) -> list[list[list[Node]]]:
    """The programs of every pursuit forest over ``forest``'s features: each other object type's first
    slot as target, each sign, each live axis with each offset, and both axes together (offset 0)."""
    spec = forest.feature_spec
    if spec is None or spec.agent_type is None or not spec.relative or not offsets:
        return []
    scaled = np.round(np.asarray(velocities, dtype=np.float64) / spec.velocity_scale, 4)
    spread = scaled.max(0) - scaled.min(0)
    live = [axis for i, axis in enumerate(AXES) if spread[i] > DEAD_AXIS * spread.max()]
    if not live:
        return []
    targets = [name for t, (name, slots) in enumerate(zip(spec.type_names, spec.slots, strict=True))
               if t != spec.agent_type and slots > 0]
    settings = [((axis,), (offset,)) for axis in live for offset in offsets]
    if len(live) == 2:
        settings.append((tuple(live), (0.0, 0.0)))
    forests = []
    for target in targets:
        for sign in (1.0, -1.0):
            for axes, axis_offsets in settings:
                forests.append([from_tokens(_logit(target, sign * scaled[a], axes, axis_offsets),
                                            forest.feature_names)
                                for a in range(forest.n_actions)])
    return forests


def _logit(target: str, velocity: np.ndarray, axes: Sequence[str], offsets: Sequence[float]) -> list:
    terms = [["mul", float(velocity[AXES.index(axis)]), "add", f"{target}[0].d{axis}", float(offset)]
             for axis, offset in zip(axes, offsets, strict=True)]
    return terms[0] if len(terms) == 1 else ["add", *terms[0], *terms[1]]
