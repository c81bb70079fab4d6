"""Object states -> fixed-length feature vectors, the terminals of symbolic programs.

A state is a list of objects ``{"type", "x_position", "y_position", "x_velocity", "y_velocity"}``
in pixels of the observation frame. Each object type gets a fixed number of slots; each slot is
``[present, x, y, vx, vy]`` with positions divided by the image size and velocities by a velocity
scale, and, for types other than the agent's, ``[dx, dy]``: the offset from the agent's own object
(also divided by the image size), because most decisions compare an object with the agent.
Within a type, objects are ordered nearest to the agent's own object first, or left to right
(then top to bottom) where there is no agent object or for the agent's type itself. Surplus
objects are dropped; missing ones leave a slot of zeros with ``present = 0``.

``object_features`` is plain numpy over a plain dict so that the exported ``policy.py`` copies
its source and rebuilds features exactly as training did; ``FeatureSpec`` is the typed wrapper
that is fitted to a dataset and saved inside ``program.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

FIELDS = ("present", "x", "y", "vx", "vy")
RELATIVE_FIELDS = ("dx", "dy")


def object_features(states, spec):
    """Features of a batch of states, shape (len(states), n_features), float64, vectorised."""
    slots = np.asarray(spec["slots"], dtype=np.int64)
    height, width = spec["image_size"]
    vscale = float(spec["velocity_scale"])
    agent = -1 if spec["agent_type"] is None else int(spec["agent_type"])
    relative = np.array([bool(spec["relative"]) and agent >= 0 and t != agent for t in range(len(slots))])
    widths = np.where(relative, 7, 5)
    offsets = np.concatenate([[0], np.cumsum(widths * slots)])
    n = len(states)
    out = np.zeros((n, int(offsets[-1])))
    objects = [o for state in states for o in state]
    if not objects:
        return out
    row = np.repeat(np.arange(n), [len(state) for state in states])
    kind = np.array([int(o["type"]) for o in objects], dtype=np.int64)
    val = np.array(
        [[o["x_position"], o["y_position"], o["x_velocity"], o["y_velocity"]] for o in objects],
        dtype=np.float64,
    )
    keep = (kind >= 0) & (kind < len(slots))
    row, kind, val = row[keep], kind[keep], val[keep]
    x, y = val[:, 0], val[:, 1]
    # the agent's own object: the leftmost (then topmost) object of the agent's type
    has_agent, ax, ay = np.zeros(n, dtype=bool), np.zeros(n), np.zeros(n)
    mine = np.flatnonzero(kind == agent)
    if len(mine):
        mine = mine[np.lexsort((y[mine], x[mine], row[mine]))]
        first = mine[np.concatenate([[True], row[mine][1:] != row[mine][:-1]])]
        has_agent[row[first]] = True
        ax[row[first]], ay[row[first]] = x[first], y[first]
    near = has_agent[row] & (kind != agent)
    key = np.where(near, (x - ax[row]) ** 2 + (y - ay[row]) ** 2, 0.0)
    order = np.lexsort((y, x, key, kind, row))
    row, kind, val = row[order], kind[order], val[order]
    index = np.arange(len(row))
    starts = np.concatenate([[True], (row[1:] != row[:-1]) | (kind[1:] != kind[:-1])])
    rank = index - np.maximum.accumulate(np.where(starts, index, 0))
    keep = rank < slots[kind]
    row, kind, val, rank = row[keep], kind[keep], val[keep], rank[keep]
    base = offsets[kind] + rank * widths[kind]
    out[row, base] = 1.0
    out[row, base + 1] = val[:, 0] / width
    out[row, base + 2] = val[:, 1] / height
    out[row, base + 3] = val[:, 2] / vscale
    out[row, base + 4] = val[:, 3] / vscale
    rel = relative[kind] & has_agent[row]
    out[row[rel], base[rel] + 5] = (val[rel, 0] - ax[row[rel]]) / width
    out[row[rel], base[rel] + 6] = (val[rel, 1] - ay[row[rel]]) / height
    return out


@dataclass(frozen=True)
class FeatureSpec:
    """How states become features; saved in ``program.json`` so play rebuilds the same vectors."""

    type_names: tuple[str, ...]
    slots: tuple[int, ...]  # slots per type, in type order
    image_size: tuple[int, int]  # (height, width) in pixels
    velocity_scale: float  # pixels per step that become 1.0
    agent_type: int | None = None  # type index of the agent's own object; None: left-to-right order
    relative: bool = True  # add [dx, dy] to the agent's object for other types

    def __post_init__(self) -> None:
        if len(self.slots) != len(self.type_names):
            raise ValueError(f"{len(self.slots)} slot counts for {len(self.type_names)} object types")
        if self.agent_type is not None and not 0 <= self.agent_type < len(self.type_names):
            raise ValueError(f"agent_type {self.agent_type} is not a type index of {self.type_names}")
        if self.velocity_scale <= 0:
            raise ValueError(f"velocity_scale must be positive, got {self.velocity_scale}")

    @property
    def names(self) -> list[str]:
        """``ball[0].x``-style names, in column order."""
        names = []
        for t, (name, count) in enumerate(zip(self.type_names, self.slots, strict=True)):
            fields = FIELDS + (RELATIVE_FIELDS if self._relative(t) else ())
            names.extend(f"{name}[{k}].{f}" for k in range(count) for f in fields)
        return names

    @property
    def n_features(self) -> int:
        return len(self.names)

    def _relative(self, t: int) -> bool:
        return self.relative and self.agent_type is not None and t != self.agent_type

    def transform(self, states: Sequence[Sequence[Mapping]]) -> np.ndarray:
        """Feature matrix (n_states, n_features) of a batch of states."""
        return object_features(states, self.to_dict())

    def to_dict(self) -> dict:
        data = asdict(self)
        data["type_names"], data["slots"] = list(self.type_names), list(self.slots)
        data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> FeatureSpec:
        return cls(
            type_names=tuple(data["type_names"]),
            slots=tuple(int(k) for k in data["slots"]),
            image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
            velocity_scale=float(data["velocity_scale"]),
            agent_type=None if data.get("agent_type") is None else int(data["agent_type"]),
            relative=bool(data.get("relative", True)),
        )

    @classmethod
    def fit(
        cls,
        states: Sequence[Sequence[Mapping]],
        type_names: Sequence[str],
        image_size: Sequence[int],
        agent_type: int | None = None,
        slots: Mapping[str, int] | None = None,
        max_slots: int = 3,
        velocity_scale: float | None = None,
        relative: bool = True,
        min_slot_share: float = 0.0,
    ) -> FeatureSpec:
        """Slots per type from ``slots`` or the most objects of that type seen together in at least
        ``min_slot_share`` of the states (capped at ``max_slots``, at least 1): a detector's rare
        false positive would otherwise add a slot that is empty in almost every state, and a program
        fitted on it learns those few states by heart. The velocity scale, unless given, is the
        data's 99th percentile of absolute velocity, so typical velocities land near [-1, 1]."""
        slots = dict(slots or {})
        unknown = sorted(set(slots) - set(type_names))
        if unknown:
            raise ValueError(f"slots for unknown object types {unknown}; types: {list(type_names)}")
        per_state = np.zeros((len(states), len(type_names)), dtype=np.int64)
        speeds = []
        for i, state in enumerate(states):
            per_state[i] = np.bincount(
                [int(o["type"]) for o in state if 0 <= int(o["type"]) < len(type_names)],
                minlength=len(type_names),
            )
            speeds.extend(abs(float(o[k])) for o in state for k in ("x_velocity", "y_velocity"))
        # the largest k that at least min_slot_share of the states hold: the m-th largest count
        m = max(int(np.ceil(min_slot_share * len(states))), 1)
        common = -np.sort(-per_state, axis=0)[m - 1] if len(states) >= m else np.zeros(len(type_names))
        counts = tuple(
            int(slots[name]) if name in slots else int(min(max(common[t], 1), max_slots))
            for t, name in enumerate(type_names)
        )
        if velocity_scale is None:
            high = float(np.percentile(speeds, 99)) if speeds else 0.0
            velocity_scale = high if high > 0 else 1.0
        return cls(tuple(type_names), counts, (int(image_size[0]), int(image_size[1])),
                   float(velocity_scale), agent_type, relative)
