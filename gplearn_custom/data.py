"""Stage II-B's dataset as arrays for distillation, and its split into train, validation, test.

Reading and checking the files is ``see.dataset``'s job (any malformed entry is a ``UserError``
naming it); this module turns entries into the teacher's distribution, its argmax and episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import UserError
from see.dataset import load_dataset as read_dataset
from see.dataset import meta_path


@dataclass
class DistillData:
    """States with the teacher's labels and what the meta file says about them."""

    states: list[list[dict]]
    probs: np.ndarray  # (n, n_actions) teacher distribution; one-hot where the dataset has none
    actions: np.ndarray  # (n,) teacher's argmax
    episodes: np.ndarray  # (n,) episode index, -1 where unknown
    type_names: list[str]
    image_size: tuple[int, int]
    action_names: list[str]
    agent_type: int | None
    has_probs: bool

    def __len__(self) -> int:
        return len(self.states)


def dataset_files(run: str | Path) -> list[Path]:
    """``dataset.json`` and, where it exists, ``dataset.meta.json`` of a run folder."""
    data_path = Path(run) / "dataset.json"
    return [data_path] + [p for p in (meta_path(data_path),) if p.is_file()]


def load_dataset(run: str | Path) -> DistillData:
    """The run folder's dataset, read and checked by ``see.dataset`` (the one reader)."""
    data_path = dataset_files(run)[0]
    if not data_path.is_file():
        raise UserError(f"no dataset.json in {run}; run generate_dataset.py --run {run} first")
    entries, meta = read_dataset(data_path)
    return distill_data(entries, meta, str(data_path))


def distill_data(entries: list[dict], meta: dict, where: str = "dataset") -> DistillData:
    """Checked entries and completed meta (see ``see.dataset.load_dataset``) as arrays."""
    n_actions = meta["n_actions"]
    with_probs = sum("teacher_probs" in e for e in entries)
    if 0 < with_probs < len(entries):
        raise UserError(f"{where}: only {with_probs} of {len(entries)} entries have 'teacher_probs'; "
                        "give them for all entries or none")
    if with_probs:
        probs = np.array([e["teacher_probs"] for e in entries], dtype=np.float64)
        probs /= probs.sum(axis=1, keepdims=True)
    else:
        probs = np.eye(n_actions)[[e["teacher_action"] for e in entries]]
    states = [e["state"] for e in entries]
    size = meta.get("image_size")
    if size is None:  # not recorded: the smallest frame that holds every object centre
        size = [int(max((o[k] for s in states for o in s), default=0)) + 1
                for k in ("y_position", "x_position")]
    return DistillData(
        states=states, probs=probs, actions=probs.argmax(axis=1),
        episodes=np.array([e.get("episode", -1) for e in entries]),
        type_names=[str(t) for t in meta["object_types"]], image_size=(int(size[0]), int(size[1])),
        action_names=[str(a) for a in meta["action_names"]], agent_type=meta["agent_type"],
        has_probs=with_probs > 0,
    )


def split(data: DistillData, test_fraction: float, val_fraction: float,
          seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test indices: whole episodes where there are at least 5 (so held-out
    states are not neighbours of training states), single states otherwise."""
    rng = np.random.default_rng(seed)
    groups = np.unique(data.episodes)
    if len(groups) >= 5 and -1 not in groups:
        order = rng.permutation(groups)
        n_test = max(1, round(test_fraction * len(order))) if test_fraction > 0 else 0
        n_val = max(1, round(val_fraction * len(order))) if val_fraction > 0 else 0
        test = np.isin(data.episodes, order[:n_test])
        val = np.isin(data.episodes, order[n_test:n_test + n_val])
        train = ~(test | val)
        parts = np.flatnonzero(train), np.flatnonzero(val), np.flatnonzero(test)
    else:
        order = rng.permutation(len(data))
        n_test, n_val = round(test_fraction * len(order)), round(val_fraction * len(order))
        parts = (np.sort(order[n_test + n_val:]), np.sort(order[n_test:n_test + n_val]),
                 np.sort(order[:n_test]))
    if len(parts[0]) == 0:
        raise UserError(f"no training states left after holding out test_fraction={test_fraction} "
                        f"and val_fraction={val_fraction}; lower them or record more states")
    return parts
