"""Stage I training: SB3 PPO on pixels with checkpoints, evaluation, resume and a summary."""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnRewardThreshold,
)

from common.config import check_ranges
from common.errors import UserError
from envs import make_vec_env
from envs.evaluation import evaluate_random
from pipeline.cli import StageArgs
from pipeline.config import Config
from teacher.agent import (
    CHECKPOINT_PREFIX,
    CHECKPOINTS,
    MODEL_FILE,
    TeacherAgent,
    checkpoint_files,
    decisions_per_second,
    evaluate_teacher,
)
from teacher.cnn import CompactCNN, KeypointCNN, SmallAtariCNN

STAGE = "teacher"
SECTIONS = ("env", "teacher", "evaluation")
READS: tuple[str, ...] = ()  # upstream stages and files: none

# teacher.policy values with a network of ours; "CnnPolicy" is SB3's Nature CNN
EXTRACTORS = {"compact": CompactCNN, "keypoints": KeypointCNN, "small": SmallAtariCNN}


def schedule(value: float | str, key: str) -> float | Callable[[float], float]:
    """A constant, or RL-Zoo's ``lin_<start>``: linear decay to zero over training."""
    if isinstance(value, float):
        return value
    match = re.fullmatch(r"lin_([0-9.eE+-]+)", value)
    if not match:
        raise UserError(f"teacher.{key} must be a number or lin_<number>, got '{value}'")
    start = float(match.group(1))
    return lambda progress_remaining: progress_remaining * start


class StopAfterMinutes(BaseCallback):
    """Ends training after a wall-clock budget (``teacher.max_minutes``); the model is kept as usual."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = minutes * 60
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        return time.perf_counter() - self.start < self.seconds


class StageLogger(BaseCallback):
    """Logs stage changes that retro games report in ``info`` (``charts/stage_changes``)."""

    def __init__(self):
        super().__init__()
        self.changes = 0

    def _on_step(self) -> bool:
        self.changes += sum(bool(info.get("stage_changed")) for info in self.locals["infos"])
        self.logger.record("charts/stage_changes", self.changes)
        return True


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    found = checkpoint_files(checkpoint_dir)
    return found[-1][1] if found else None


def check_config(config: Config) -> None:
    """Refuse bad teacher settings before anything is written."""
    t = config.teacher
    if t.policy not in (*EXTRACTORS, "CnnPolicy"):
        names = ", ".join(f"'{name}'" for name in (*EXTRACTORS, "CnnPolicy"))
        raise UserError(f"teacher.policy must be one of {names}, got '{t.policy}'")
    if t.keep not in ("best", "final"):
        raise UserError(f"teacher.keep must be 'best' or 'final', got '{t.keep}'")
    schedule(t.learning_rate, "learning_rate")
    schedule(t.clip_range, "clip_range")
    check_ranges("teacher", t, positive=("max_minutes", "total_timesteps", "n_envs", "n_steps", "batch_size",
                                         "n_epochs"))


def build_model(config: Config, venv, tensorboard_dir: Path) -> PPO:
    t = config.teacher
    policy_kwargs = {}
    if t.policy in EXTRACTORS:
        policy_kwargs = {"features_extractor_class": EXTRACTORS[t.policy],
                         "features_extractor_kwargs": {"features_dim": t.features_dim}}
    model = PPO(
        "CnnPolicy", venv,
        learning_rate=schedule(t.learning_rate, "learning_rate"),
        n_steps=t.n_steps, batch_size=t.batch_size, n_epochs=t.n_epochs, gamma=t.gamma,
        gae_lambda=t.gae_lambda, clip_range=schedule(t.clip_range, "clip_range"),
        ent_coef=t.ent_coef, vf_coef=t.vf_coef, max_grad_norm=t.max_grad_norm,
        policy_kwargs=policy_kwargs, tensorboard_log=str(tensorboard_dir), seed=config.seed,
        device=t.device, verbose=0,
    )
    if t.channels_last:
        model.policy.to(memory_format=torch.channels_last)
    return model


def train_teacher(config: Config, out: Path, resume: bool, progress_bar: bool = True) -> dict:
    """Train (or continue) the teacher in ``out``; returns the summary for complete.json."""
    t = config.teacher
    torch.set_num_threads(t.torch_threads)
    checkpoints = out / CHECKPOINTS
    venv = make_vec_env(config.env, t.n_envs, config.seed, train=True, vec_env=t.vec_env)
    eval_env = make_vec_env(config.env, 1, config.seed + 10_000, train=False)
    last = latest_checkpoint(checkpoints) if resume else None
    if last is not None:
        model = PPO.load(last, env=venv, device=t.device, tensorboard_log=str(out / "tensorboard"))
        if t.channels_last:  # a checkpoint loads in the default order
            model.policy.to(memory_format=torch.channels_last)
        print(f"resuming from {last} at {model.num_timesteps} steps")
    else:
        model = build_model(config, venv, out / "tensorboard")
    callbacks = [
        CheckpointCallback(max(t.checkpoint_freq // t.n_envs, 1), str(checkpoints), CHECKPOINT_PREFIX),
        EvalCallback(eval_env, n_eval_episodes=t.eval_episodes, eval_freq=max(t.eval_freq // t.n_envs, 1),
                     callback_on_new_best=None if t.stop_at_return is None else
                     StopTrainingOnRewardThreshold(reward_threshold=t.stop_at_return, verbose=0),
                     best_model_save_path=str(out), log_path=str(out / "eval"), deterministic=True,
                     verbose=0),
        StageLogger(),
    ]
    if t.max_minutes is not None:
        callbacks.append(StopAfterMinutes(t.max_minutes))
    start_steps, start = model.num_timesteps, time.perf_counter()
    try:
        model.learn(t.total_timesteps - model.num_timesteps, callback=callbacks,
                    reset_num_timesteps=last is None, progress_bar=progress_bar, tb_log_name="ppo")
    except KeyboardInterrupt:
        model.save(checkpoints / f"{CHECKPOINT_PREFIX}_{model.num_timesteps}_steps.zip")
        raise
    finally:
        venv.close()
        eval_env.close()
    wall = time.perf_counter() - start
    model.save(out / "final_model.zip")
    best = out / "best_model.zip"
    kept = best if t.keep == "best" and best.is_file() else out / "final_model.zip"
    shutil.copyfile(kept, out / MODEL_FILE)
    agent = TeacherAgent.load(out, config.env.frame_stack, device=config.teacher.device)
    result = evaluate_teacher(agent, config.env, config.evaluation)
    floor = evaluate_random(config.env, config.evaluation, config.seed).mean
    trained = model.num_timesteps - start_steps
    return {
        "parameters": sum(p.numel() for p in agent.model.policy.parameters()),
        "policy_decisions_per_second": decisions_per_second(agent),
        "timesteps": model.num_timesteps,
        "stopped_early": model.num_timesteps < t.total_timesteps,
        "kept": kept.stem,
        "wall_seconds": wall,
        "frames_per_second": trained / max(wall, 1e-9),
        **result.summary(),
        # a teacher that scores no more than random play has learned nothing to distil
        "random_return_mean": floor,
        "better_than_random": result.mean > floor,
    }


def teacher_stage(args: StageArgs) -> dict:
    """Stage I: train the teacher in ``args.run`` (or install the zoo teacher ``teacher.zoo``)."""
    stage = args.run.stage(STAGE, "train_visual_rl.py")
    stage.check_writable(args.resume, args.force)
    from pipeline.zoo import install_zoo_teacher

    check_config(args.config)
    args.run.create_marker(args.config.env.id)
    key = stage.key(args.config, SECTIONS, READS)
    out = stage.prepare(args.config, key, args.resume, args.force)
    if args.config.teacher.zoo:
        summary = install_zoo_teacher(args.config, out)
        stage.finish(key, summary)
        print(f"teacher: copied from {args.config.teacher.zoo}, evaluation return "
              f"{summary['return_mean']:.2f} ± {summary['return_std']:.2f} -> {out}")
        return summary
    summary = train_teacher(args.config, out, resume=args.resume)
    stage.finish(key, summary)
    print(
        f"teacher: {summary['timesteps']} steps in {summary['wall_seconds']:.0f} s "
        f"({summary['frames_per_second']:.0f} frames/s), evaluation return "
        f"{summary['return_mean']:.2f} ± {summary['return_std']:.2f} -> {out}"
    )
    if not summary["better_than_random"]:
        print(no_better_than_random(summary), file=sys.stderr)
    return summary


def no_better_than_random(summary: dict) -> str:
    """The warning for a teacher whose evaluation return does not beat a random player's: the later
    stages would distil a player that has learned nothing (a seed can fail where others learn)."""
    return (f"warning: the teacher's evaluation return ({summary['return_mean']:.2f}) is no better than a "
            f"random player's ({summary['random_return_mean']:.2f}) on the same seeds; the later stages "
            "would distil a player that learned nothing: train with another --seed, or longer "
            "(teacher.total_timesteps=...)")
