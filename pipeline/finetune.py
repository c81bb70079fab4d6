"""Stage III's work for ``symbolic_finetuning.py``: check inputs, fine-tune, evaluate, write artifacts.

Reads ``distill/program.json`` (the starting forest), ``dataset.meta.json`` (the perception the
agent plays through: the search uses it unless ``finetune.objects=game``, the evaluation always
does where the dataset was made by perception) and ``teacher/`` (for the KL term, and the
teacher's return for comparison). Writes into ``finetune/``: program.json, program.txt,
policy.py (the distill stage's exporter), eval.json (returns of the fine-tuned, distilled, teacher
and random agents on the evaluation seeds, sizes, the search's history), tensorboard/ and
checkpoint.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from common.config import to_dict
from common.errors import UserError
from common.io import read_json, write_json
from common.runs import RunFolder
from envs import action_names, object_type_names
from envs.evaluation import evaluate, evaluate_random
from gplearn_custom.data import dataset_files, load_dataset
from gplearn_custom.evaluation import decisions_per_second, evaluate_policy_return
from gplearn_custom.language.export import export_forest
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.rl.evolution import FinetuneResult, RewardEvolution
from gplearn_custom.rl.lockstep import Lockstep
from gplearn_custom.rl.ppo import ConstantTuner
from gplearn_custom.rl.pursuit import action_velocities, pursuit_forests
from pipeline.cli import StageArgs
from pipeline.config import Config
from reward.trex import LearnedReward
from see.perception import Perception
from see.synthetic import dataset_object, scripted_pong_probs
from teacher.agent import BatchTeacher, TeacherAgent, evaluate_teacher

STAGE = "finetune"
SECTIONS = ("env", "teacher", "detector", "dataset", "distill", "evaluation", "finetune")
READS = ("teacher", "dataset", "distill", "distill/program.json")


def reads(config: Config) -> tuple[str, ...]:
    """Upstream stages and files of the key: the learned reward too where the search uses it."""
    return READS + (("reward",) if config.finetune.reward == "learned" else ())



DATASET_META = "dataset.meta.json"


@dataclass
class Inputs:
    """What fine-tuning starts from, checked before any work is done."""

    forest: SymbolicForest
    perception: Perception | None  # how the agent sees, for evaluation (None: the game's own objects)
    search_perception: Perception | None  # what the search plays through (``finetune.objects``)
    teacher: TeacherAgent | None  # for the KL term; None when its coefficient is zero throughout
    teacher_dir: Path | None  # a finished teacher stage, for the comparison in eval.json
    reward: LearnedReward | None = None  # what the search maximises in place of the score (finetune.reward)
    # the agent's mean velocity after each action in the dataset, for the pursuit forests (None: none asked)
    action_velocities: np.ndarray | None = None


def load_inputs(config: Config, run: RunFolder) -> Inputs:
    """The distilled forest, the perception and the teacher, or a ``UserError`` saying what is missing."""
    cfg = config.finetune
    distill_dir = run.stage("distill", "distill_teacher.py").require_complete().path
    try:
        forest = SymbolicForest.load(distill_dir / "program.json")
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot read {distill_dir / 'program.json'} ({exc}); "
                        "run distill_teacher.py --force") from None
    if forest.feature_spec is None:
        raise UserError(f"{distill_dir / 'program.json'} has no feature spec; run distill_teacher.py --force")
    n_actions = len(action_names(config.env))
    if forest.n_actions != n_actions:
        raise UserError(f"the distilled forest has {forest.n_actions} actions but {config.env.id} has "
                        f"{n_actions}; distil a policy for this game")
    perception = _dataset_perception(run.path, list(forest.feature_spec.type_names))
    if cfg.objects == "perception" and perception is None:
        raise UserError(f"no perception to rebuild: {run.path / DATASET_META} is missing or was not made by "
                        "generate_dataset.py; on a built-in game pass finetune.objects=game")
    if cfg.objects == "game" or perception is None:
        _check_game_objects(config, list(forest.feature_spec.type_names))
    search_perception = perception if cfg.objects == "perception" else None
    teacher_stage = run.stage("teacher", "train_visual_rl.py")
    teacher = None
    if cfg.uses_teacher:
        if not teacher_stage.complete:
            raise UserError(f"the expert supervision needs a finished teacher in {run.path}; run "
                            "train_visual_rl.py first, or pass finetune.kl_coef_start=0 "
                            "finetune.kl_coef_end=0")
        teacher = TeacherAgent.load(teacher_stage.path, config.env.frame_stack, device=config.teacher.device)
        if teacher.n_actions != n_actions:
            raise UserError(f"the teacher has {teacher.n_actions} actions, the game {n_actions}; "
                            "retrain the teacher for this game")
    reward = None
    if cfg.reward == "learned":
        reward_dir = run.stage("reward", "learn_reward.py").require_complete().path
        reward = LearnedReward.load(reward_dir)
    velocities = None
    if cfg.pursuit_offsets and forest.feature_spec.agent_type is not None:
        velocities = action_velocities(load_dataset(run.path))
    return Inputs(forest, perception, search_perception, teacher,
                  teacher_stage.path if teacher_stage.complete else None, reward, velocities)


def _dataset_perception(run_dir: Path, types: list[str]) -> Perception | None:
    """The perception Stage II-B made the dataset with, or None if its meta file does not say."""
    meta, perception = Perception.of_run(run_dir)
    if perception is not None and list(meta.get("object_types", [])) != types:
        raise UserError(f"the forest's object types {types} differ from the dataset's "
                        f"{meta.get('object_types')}; run distill_teacher.py --force")
    return perception


def _check_game_objects(config: Config, types: list[str]) -> None:
    names = object_type_names(config.env)
    if names is None:
        raise UserError(f"{config.env.id} does not report its objects; use finetune.objects=perception "
                        "with a dataset made by generate_dataset.py")
    if names != types:
        raise UserError(f"the forest's object types {types} are not the game's {names}; "
                        "use finetune.objects=perception")


def finetune(config: Config, inputs: Inputs, out: Path) -> dict:
    """Search (resuming from ``out/checkpoint.json``), evaluate, export; returns eval.json's content."""
    started = time.perf_counter()
    with SummaryWriter(str(out / "tensorboard")) as writer:
        result = search(config, inputs, out / "checkpoint.json", writer)
    search_seconds = time.perf_counter() - started
    distilled = evaluate_forest(inputs.forest, inputs.perception, config)
    report = {
        "finetuned": distilled if result.chosen == "distilled" else
        evaluate_forest(result.forest, inputs.perception, config),
        "distilled": distilled,
        "teacher": teacher_return(config, inputs.teacher_dir),
        "random": random_return(config),
        "scripted": scripted_return(config),
        "chosen": result.chosen,
        # where the output comes from: the distilled forest unchanged, changed from it, or grown afresh
        "lineage": result.selection[result.chosen]["lineage"],
        "selection": result.selection,
        "search_seconds": search_seconds,
        "ppo_updates": result.ppo_updates,
        "env_steps": result.env_steps,
        "history": result.history,
        "search_objects": config.finetune.objects,
        "search_reward": config.finetune.reward,
        "action_velocities": None if inputs.action_velocities is None else inputs.action_velocities.tolist(),
        # the search read the game's true objects: not a result a user's game could give
        "privileged": config.finetune.objects == "game" or inputs.perception is None,
        "evaluation_objects": "game" if inputs.perception is None else "perception",
        "evaluation_seeds": list(config.evaluation.seeds),
        "config": to_dict(config.finetune),
        "seed": config.seed,
    }
    report["finetuned"] = {**report["finetuned"], **_policy_speed(result.forest, out.parent)}
    report["return_ratio"] = _ratio(report)
    report["finetune_seconds"] = time.perf_counter() - started
    export_forest(result.forest, out)
    write_json(out / "eval.json", report)
    return report


def _policy_speed(forest: SymbolicForest, run: Path, n: int = 2000) -> dict:
    """Batch-1 decisions/s of the policy alone on the run's dataset states (none without one)."""
    if not dataset_files(run)[0].is_file():
        return {}
    states = load_dataset(run).states[:n]
    return decisions_per_second(forest, forest.feature_spec.transform(states), states, n)


def search(config: Config, inputs: Inputs, checkpoint: Path | None = None,
           writer: SummaryWriter | None = None, progress: bool = True) -> FinetuneResult:
    """The fine-tuning search alone (what the ablation benchmark varies); scalars go to ``writer``."""
    cfg = config.finetune
    torch.set_num_threads(cfg.torch_threads)
    exclude = set(config.evaluation.seeds)
    spec = inputs.forest.feature_spec
    selecting = (cfg.selection_candidates + 2) * cfg.selection_episodes
    shared = inputs.search_perception is inputs.perception
    game = Lockstep(config.env, spec, inputs.search_perception,
                    max(cfg.population_size * cfg.episodes, selecting if shared else 0), inputs.reward)
    selection_game = game if shared else Lockstep(config.env, spec, inputs.perception, selecting,
                                                  inputs.reward)
    ppo_game = Lockstep(config.env, spec, inputs.search_perception, cfg.n_envs, inputs.reward)
    bar = tqdm(total=cfg.generations, desc="finetune", unit="gen", disable=not progress)
    try:
        teacher = BatchTeacher(inputs.teacher, cfg.n_envs) if inputs.teacher is not None else None
        tuner = ConstantTuner(cfg, ppo_game, teacher, exclude, config.seed)
        pursuit = ([] if inputs.action_velocities is None else
                   pursuit_forests(inputs.forest, inputs.action_velocities, cfg.pursuit_offsets))
        evolution = RewardEvolution(cfg, inputs.forest, game, tuner, exclude, config.seed, selection_game,
                                    pursuit)
        return evolution.run(checkpoint, _generation_logger(writer, bar), _update_logger(writer))
    finally:
        bar.close()
        for lockstep in {id(g): g for g in (game, selection_game, ppo_game)}.values():
            lockstep.close()


def _generation_logger(writer: SummaryWriter | None, bar: tqdm) -> Callable[[dict], None]:
    def log(stats: dict) -> None:
        step = stats["generation"]
        if writer is not None:
            writer.add_scalar("finetune/best_return", stats["best_return"], step)
            writer.add_scalar("finetune/mean_return", stats["mean_return"], step)
            writer.add_scalar("finetune/size", stats["best_size"], step)
            writer.add_scalar("finetune/best_fitness", stats["best_fitness"], step)
        bar.n = step + 1
        bar.set_postfix(best=f"{stats['best_return']:.2f}", mean=f"{stats['mean_return']:.2f}",
                        size=stats["best_size"])

    return log


def _update_logger(writer: SummaryWriter | None) -> Callable[[int, dict], None] | None:
    if writer is None:
        return None

    def log(update: int, stats: dict) -> None:
        for key in ("policy_loss", "value_loss", "kl_teacher", "entropy", "kl_coef", "scale", "approx_kl",
                    "clip_fraction", "explained_variance"):
            writer.add_scalar(f"finetune/{key}", stats[key], update)
        if stats["episode_return"] is not None:
            writer.add_scalar("finetune/ppo_episode_return", stats["episode_return"], update)

    return log


def evaluate_forest(forest: SymbolicForest, perception: Perception | None, config: Config) -> dict:
    """eval.json's entry for a forest: greedy returns on the evaluation seeds, through ``perception``."""
    result = evaluate_policy_return(forest, config.env, config.evaluation, perception)
    return {**result, "size": forest.size,
            "size_per_program": dict(zip(forest.action_names, forest.sizes, strict=True)),
            "scale": forest.scale}


def teacher_return(config: Config, teacher_dir: Path | None) -> dict | None:
    """The teacher's return on the same seeds: its stage's record if made with the same game and
    seeds, else played again; ``None`` without a finished teacher."""
    if teacher_dir is None:
        return None
    saved = yaml.safe_load((teacher_dir / "config.yaml").read_text()) or {}
    summary = read_json(teacher_dir / "complete.json").get("summary", {})
    same = (saved.get("env") == to_dict(config.env) and saved.get("evaluation") == to_dict(config.evaluation))
    if same and "returns" in summary:
        recorded = {key: summary[key] for key in ("return_mean", "return_std", "returns")}
        return {**recorded, "from": "teacher stage"}
    agent = TeacherAgent.load(teacher_dir, config.env.frame_stack, device=config.teacher.device)
    return {**evaluate_teacher(agent, config.env, config.evaluation).summary(), "from": "played again"}


def random_return(config: Config) -> dict:
    return evaluate_random(config.env, config.evaluation, config.seed).summary()


class ScriptedPongAgent:
    """Built-in Pong's scripted player (``see.synthetic``): the paddle chases the ball's height. It
    reads the game's true objects, so it is PRIVILEGED: a ceiling to read returns against, never an
    agent of this tool."""

    def reset(self) -> None:
        pass

    def act(self, frame: np.ndarray, info: dict) -> int:
        return int(np.argmax(scripted_pong_probs([dataset_object(o) for o in info["objects"]])))


def scripted_return(config: Config) -> dict | None:
    """The scripted ceiling's return where the game has one (built-in Pong with its truth shown)."""
    if config.env.id != "BuiltinPong-v0" or config.env.hide_truth:
        return None
    return {**evaluate(ScriptedPongAgent(), config.env, config.evaluation).summary(), "privileged": True}


def _ratio(report: dict) -> float | None:
    """(fine-tuned - random) / (teacher - random): 1 is the teacher's return, above 1 better."""
    if report["teacher"] is None:
        return None
    floor = report["random"]["return_mean"]
    gap = report["teacher"]["return_mean"] - floor
    return (report["finetuned"]["return_mean"] - floor) / gap if gap > 0 else None


def finetune_stage(args: StageArgs) -> dict:
    """Stage III: fine-tune the distilled forest of ``args.run``."""
    stage = args.run.stage(STAGE, "symbolic_finetuning.py")
    stage.check_writable(args.resume, args.force)

    inputs = load_inputs(args.config, args.run)
    key = stage.key(args.config, SECTIONS, reads(args.config))
    out = stage.prepare(args.config, key, args.resume, args.force)
    report = finetune(args.config, inputs, out)
    tuned, distilled, teacher = report["finetuned"], report["distilled"], report["teacher"]
    summary = {"return_mean": tuned["return_mean"], "return_std": tuned["return_std"], "size": tuned["size"],
               "distilled_return_mean": distilled["return_mean"], "distilled_size": distilled["size"],
               "teacher_return_mean": teacher["return_mean"] if teacher else None, "chosen": report["chosen"],
               "finetune_seconds": report["finetune_seconds"]}
    stage.finish(key, summary)
    versus_teacher = f", teacher {teacher['return_mean']:.2f}" if teacher else ""
    print(
        f"finetune: return {tuned['return_mean']:.2f} ± {tuned['return_std']:.2f} on "
        f"{len(tuned['returns'])} seeds (distilled {distilled['return_mean']:.2f} ± "
        f"{distilled['return_std']:.2f}{versus_teacher}), size {distilled['size']} -> {tuned['size']} nodes, "
        f"output: {report['chosen']}, {report['ppo_updates']} PPO updates, {report['env_steps']} env steps, "
        f"{report['finetune_seconds']:.0f} s -> {out}"
    )
    return report
