"""Stage II-C, as ``distill_teacher.py --config ... --run ...`` runs it.

Reads ``runs/NAME/dataset.json`` and ``dataset.meta.json`` and writes ``runs/NAME/distill/``:
``program.json``, ``program.txt``, ``policy.py``, ``eval.json``, tensorboard scalars in ``tensorboard/``
(``distill/best_fitness``, ``distill/agreement``, ``distill/val_agreement``, ``distill/size``; a
restart's under ``restartN/``), and ``checkpoint.json`` (``checkpoint-rN.json`` for restart N, every
generation; ``--resume`` continues from them). With ``--trials N``
an Optuna study (``--storage``, default ``distill/optuna.db``) searches GP settings and seeds,
and the best trial's forest is the output; more processes with the same command join it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from common.config import to_dict
from common.errors import UserError
from common.io import write_json
from envs import env_kind, object_type_names
from gplearn_custom.dagger import run_dagger
from gplearn_custom.data import dataset_files, load_dataset
from gplearn_custom.distill import (
    check_config,
    distil,
    distil_with_restarts,
    evaluate,
    prepare,
    run_baselines,
)
from gplearn_custom.evaluation import evaluate_policy_return, selection_player
from gplearn_custom.language.export import export_forest
from gplearn_custom.tuning import default_storage, run_study
from pipeline.cli import StageArgs
from see.perception import Perception
from teacher.agent import TeacherAgent

STAGE = "distill"
SECTIONS = ("distill", "evaluation")
# the dataset's bytes count too: a user may bring a dataset.json that no dataset stage made
READS = ("dataset", "dataset.json", "dataset.meta.json", "teacher")




def distill_stage(args: StageArgs) -> dict:
    """Distil the run's dataset; ``args.options`` holds ``trials`` and ``storage`` (an Optuna study)."""
    options = args.options
    if options.trials < 0:
        raise UserError("--trials must be a positive number of trials (or 0 for one run)")
    config, cfg = args.config, args.config.distill
    check_config(cfg)
    files = dataset_files(args.run.path)
    if not files[0].is_file():
        raise UserError(f"no dataset.json in {args.run.path}; "
                        f"run generate_dataset.py --run {args.run.path} first")
    stage = args.run.stage(STAGE, "distill_teacher.py")
    stage_fp = stage.key(config, SECTIONS, READS)
    # workers of one study join the stage folder the first one created
    out = stage.prepare(config, stage_fp, resume=args.resume or options.trials > 0, force=args.force)

    started = time.perf_counter()
    data = load_dataset(args.run.path)
    config = replace(config, distill=cfg.for_actions(len(data.action_names)))
    cfg = config.distill
    # the symbolic agent as it will be used: the dataset's own perception reads every frame
    # (datasets made by generate_dataset.py; the synthetic ones have none)
    perception = Perception.of_run(args.run.path)[1]
    prep = prepare(data, cfg, config.seed)
    print(f"distill: {len(prep.train)} train / {len(prep.val)} val / {len(prep.test)} test states, "
          f"{prep.spec.n_features} features, {len(data.action_names)} actions")
    select = _selector(config, prep, perception)
    with SummaryWriter(str(out / "tensorboard")) as writer:
        if options.trials:
            storage = options.storage or default_storage(out)
            forest, search = run_study(prep, cfg, config.seed, f"distill-{stage_fp}", options.trials, storage,
                                       out / "optuna.lock",
                                       log=lambda n: _logger(writer, f"trial{n}/", cfg.generations,
                                                             cfg.stopping_agreement),
                                       select=select)
        else:
            forest, search = distil_with_restarts(
                prep, cfg, config.seed, out,
                log=lambda r: _logger(writer, f"restart{r}/" if r else "", cfg.generations,
                                      cfg.stopping_agreement),
                select=select)
        if cfg.dagger_rounds:
            forest, prep, dagger = _dagger(forest, prep, config, perception, args.run.path, out, writer)
    distill_seconds = time.perf_counter() - started

    report = {
        "symbolic": evaluate(forest, prep, cfg),
        "distill_seconds": distill_seconds,
        "search": search,
        "data": {"states": len(data), "train": len(prep.train), "val": len(prep.val), "test": len(prep.test),
                 "fitness_states": len(prep.fit), "teacher_probs": data.has_probs,
                 "features": prep.spec.n_features},
        "config": to_dict(cfg),
        "seed": config.seed,
    }
    if cfg.dagger_rounds:
        report["dagger"] = dagger
    if cfg.baselines:
        budget = sum(run.get("evaluations", 0) for run in search.get("runs", []))
        report["baselines"] = run_baselines(prep, cfg, config.seed, forest, budget)
    if perception is not None:
        report["return"] = evaluate_policy_return(forest, config.env, config.evaluation, perception)
    if cfg.play_true_objects and list(prep.spec.type_names) == object_type_names(config.env):
        # privileged, for diagnostics: the upper bound of perfect perception, where the dataset's types
        # are the game's own (the oracle source or a synthetic dataset)
        report["return_true_objects"] = {**evaluate_policy_return(forest, config.env, config.evaluation),
                                         "privileged": True}
    export_forest(forest, out)
    write_json(out / "eval.json", report)
    summary = {k: report["symbolic"][k] for k in ("agreement", "size", "policy_decisions_per_second")}
    summary["distill_seconds"] = distill_seconds
    if "return" in report:
        summary["return_mean"] = report["return"]["return_mean"]
    stage.finish(stage_fp, summary)
    _print_summary(report, out)
    return report


def _selector(config, prep, perception: Perception | None):
    """Play the restarts' forests the way the agent will (the dataset's perception; a built-in game's
    own objects for a dataset without one); ``None`` where neither is possible or it is switched off."""
    cfg = config.distill
    if cfg.select_episodes == 0 or perception is None and env_kind(config.env.id) != "builtin":
        return None
    return selection_player(config.env, config.evaluation, prep.spec, perception, cfg.select_episodes,
                            cfg.select_max_steps, config.seed)


def _dagger(forest, prep, config, perception: Perception | None, run: Path, out: Path,
            writer: SummaryWriter):
    """DAgger rounds from the distilled forest, each distillation warm-started from the last."""
    cfg = config.distill
    if perception is None or not (run / "teacher" / "teacher.zip").is_file():
        raise UserError("distill.dagger_rounds needs a dataset made by generate_dataset.py (its perception) "
                        f"and the teacher in {run}/teacher; set distill.dagger_rounds=0")
    teacher = TeacherAgent.load(run / "teacher", config.env.frame_stack, device=config.teacher.device)

    def distil_round(grown, previous, r):
        return distil(grown, cfg, config.seed + 31 * r, checkpoint=out / f"checkpoint-dagger{r}.json",
                      log=_logger(writer, f"dagger{r}/", cfg.generations, cfg.stopping_agreement),
                      initial_forests=[previous]).forest_

    return run_dagger(forest, prep, cfg.dagger_rounds, cfg.dagger_steps, distil_round, teacher,
                      perception, config.env, config.seed, out)


def _logger(writer: SummaryWriter, prefix: str, generations: int, stop_at: float) -> Callable[[dict], None]:
    """Tensorboard scalars and a progress bar for one evolution (closed at its last generation)."""
    bar = tqdm(total=generations, desc=f"distill {prefix.rstrip('/')}".strip(), unit="gen", leave=False)

    def log(stats: dict) -> None:
        step = stats["generation"]
        writer.add_scalar(f"{prefix}distill/best_fitness", stats["best_fitness"], step)
        writer.add_scalar(f"{prefix}distill/agreement", stats["best_agreement"], step)
        writer.add_scalar(f"{prefix}distill/val_agreement", stats["val_agreement"], step)
        writer.add_scalar(f"{prefix}distill/size", stats["best_size"], step)
        bar.n = step + 1
        bar.set_postfix(agreement=f"{stats['best_agreement']:.3f}", size=stats["best_size"])
        if step + 1 >= generations or stats["best_agreement"] >= stop_at:
            bar.close()

    return log


def _print_summary(report: dict, out: Path) -> None:
    s = report["symbolic"]
    print(f"distill: held-out agreement {s['agreement']:.3f}, size {s['size']} nodes "
          f"{s['size_per_program']}, {s['policy_decisions_per_second']:.0f} decisions/s, "
          f"{report['distill_seconds']:.1f} s")
    for name, base in report.get("baselines", {}).items():
        if isinstance(base, dict):
            print(f"  baseline {name}: agreement {base['agreement']:.3f}")
    if "return" in report:
        played = report["return"]
        print(f"  return through perception: {played['return_mean']:.2f} +- {played['return_std']:.2f} "
              f"({played['agent_steps_per_second']:.0f} agent steps/s)")
    if "return_true_objects" in report:
        played = report["return_true_objects"]
        print(f"  return on the game's own objects (privileged): {played['return_mean']:.2f} "
              f"+- {played['return_std']:.2f}")
    print(f"distill: wrote {out}/program.json, program.txt, policy.py, eval.json")
