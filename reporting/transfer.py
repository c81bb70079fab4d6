"""Transfer without retraining: teacher and symbolic policy on variants of the game.

The paper claims a symbolic policy over objects degrades less than a CNN when the game's look or
dynamics change. Each variant overrides ``env.kwargs`` (speeds, sizes, colours, opponent skill;
for Atari, HackAtari's ``modifs`` or ALE's ``mode`` and ``difficulty``); each agent's drop is its
base return minus its variant return, on the same evaluation seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envs.config import EnvConfig
from envs.evaluation import EvalConfig, EvalResult


@dataclass
class TransferConfig:
    """Named variants of the game, each a set of ``env.kwargs`` overrides."""

    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


Evaluator = Callable[[EnvConfig, EvalConfig], EvalResult]


def transfer_table(agents: dict[str, Evaluator], env_cfg: EnvConfig, eval_cfg: EvalConfig,
                   variants: dict[str, dict[str, Any]]) -> list[dict]:
    """One row per variant (the base game first) with each agent's return and drop."""
    rows, base = [], {}
    for name, overrides in {"base": {}, **variants}.items():
        cfg = dataclasses.replace(env_cfg, kwargs={**env_cfg.kwargs, **overrides})
        row: dict[str, Any] = {"variant": name, "overrides": overrides}
        for agent_name, play in agents.items():
            result = play(cfg, eval_cfg)
            row[f"{agent_name}_return"] = result.mean
            row[f"{agent_name}_std"] = result.std
            base.setdefault(agent_name, result.mean)
            row[f"{agent_name}_drop"] = base[agent_name] - result.mean
        rows.append(row)
    return rows
