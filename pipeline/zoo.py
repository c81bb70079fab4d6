"""Shipped teachers: ``zoo/<game>/`` holds a trained Stage I that later stages can start from.

Atari teachers take up to two hours on 2 CPU cores, so the project ships the ones it trained, as
RL-Zoo ships its agents. ``teacher.zoo: zoo/atari_pong`` makes Stage I copy that teacher into the run
instead of training one; the zoo's ``config.yaml`` must describe the same game and frames
(``env`` section) as the run's config, since every later stage plays through them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from common.config import load_yaml, to_dict
from common.errors import UserError
from pipeline.config import Config
from teacher.agent import MODEL_FILE, TeacherAgent, decisions_per_second, evaluate_teacher

ROOT = Path(__file__).resolve().parents[1]
ZOO_FILES = (MODEL_FILE, "config.yaml", "eval.json", "curve.png")
# the env settings that make the teacher's observations: a zoo teacher needs the same (how games are
# cut or varied, and how many processes play them, may differ)
TEACHER_VIEW = ("id", "frame_stack", "frame_skip", "obs_size", "grayscale", "noop_max", "sticky_action_prob",
                "retro_state", "retro_combos")


def zoo_path(name: str) -> Path:
    """``zoo/atari_pong`` relative to the repository (or an absolute folder)."""
    path = Path(name)
    return path if path.is_absolute() else ROOT / path


def install_zoo_teacher(config: Config, out: Path) -> dict:
    """Copy the zoo teacher named by ``teacher.zoo`` into ``out`` and evaluate it like a trained one."""
    zoo = zoo_path(config.teacher.zoo)
    if not (zoo / MODEL_FILE).is_file() or not (zoo / "config.yaml").is_file():
        raise UserError(f"no zoo teacher at {zoo} ({MODEL_FILE} and config.yaml); set teacher.zoo=null "
                        "to train one")
    shipped = load_yaml(zoo / "config.yaml").get("env", {})
    wanted = to_dict(config.env)
    differing = sorted(k for k in TEACHER_VIEW if shipped.get(k) != wanted[k])
    if differing:
        raise UserError(f"the zoo teacher at {zoo} was trained with other env settings "
                        f"({', '.join(differing)}); use its config or set teacher.zoo=null to train one")
    for name in ZOO_FILES:
        if (zoo / name).is_file():
            shutil.copyfile(zoo / name, out / (f"zoo_{name}" if name != MODEL_FILE else name))
    agent = TeacherAgent.load(out, config.env.frame_stack, device=config.teacher.device)
    result = evaluate_teacher(agent, config.env, config.evaluation)
    return {"from_zoo": str(config.teacher.zoo),
            "parameters": sum(p.numel() for p in agent.model.policy.parameters()),
            "policy_decisions_per_second": decisions_per_second(agent), **result.summary()}
