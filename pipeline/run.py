"""The pipeline runner (what ``run_pipeline.py`` and ``make demo`` call): every stage in order on one
run folder, skipping finished ones, resuming interrupted ones and redoing stale ones. Each call
that made something records itself in the run's ``pipeline.json`` (start, seconds, the stages it
ran, resumed and skipped)."""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from types import ModuleType

from common.errors import UserError
from common.io import write_json
from common.runs import RunFolder, StageDir
from pipeline.config import Config, load_config

# (module with STAGE, SECTIONS, READS (or reads(config)) and main(argv), extra leading arguments)
PIPELINE: list[tuple[str, list[str]]] = [
    ("train_visual_rl", []),
    ("save_frames", []),
    ("pipeline.detector", ["train"]),
    ("generate_dataset", []),
    ("distill_teacher", []),
    ("learn_reward", []),
    ("symbolic_finetuning", []),
    ("report", []),
]
# stages run only where the config asks for what they make
WANTED: dict[str, Callable[[Config], bool]] = {
    "learn_reward": lambda config: config.finetune.reward == "learned",
}


def stage_state(run: RunFolder, module: ModuleType, config: Config) -> tuple[StageDir, str]:
    """A stage script's folder in ``run`` and its state for ``config`` (``StageDir.state``)."""
    stage = run.stage(module.STAGE, f"{module.__name__}.py")
    reads = module.reads(config) if hasattr(module, "reads") else module.READS
    return stage, stage.state(stage.key(config, module.SECTIONS, reads))


def run_pipeline(args: argparse.Namespace) -> None:
    """``args``: config, run, seed, force and overrides, as ``run_pipeline.py`` parses them."""
    config = load_config(args.config, args.overrides, args.seed)
    from envs import check_env_id

    check_env_id(config.env.id)
    run = RunFolder(args.run).open(config.env.id, create=True)
    common = ["--config", args.config, "--run", args.run, *args.overrides]
    if args.seed is not None:
        common += ["--seed", str(args.seed)]
    start, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S")
    ran, resumed, skipped = [], [], []
    for module_name, extra in PIPELINE:
        if not WANTED.get(module_name, lambda _: True)(config):
            continue
        module = importlib.import_module(module_name)
        stage, state = stage_state(run, module, config)
        flags = []
        if args.force:
            flags = ["--force"]
        elif state == "complete":
            print(f"[{module.STAGE}] complete, skipped")
            skipped.append(module.STAGE)
            continue
        elif state == "stale":
            flags = ["--force"]
            print(f"[{module.STAGE}] stale: an input it read was remade since; redoing it")
        elif state == "other settings":
            raise UserError(
                f"{stage.path} was made with other settings or another version of this project; "
                "pass --force to redo the pipeline or use another --run"
            )
        elif state == "started":
            flags = ["--resume"]
            resumed.append(module.STAGE)
            print(f"[{module.STAGE}] resuming")
        print(f"[{module.STAGE}] running")
        module.main([*extra, *common, *flags])
        ran.append(module.STAGE)
    seconds = time.perf_counter() - start
    if ran:  # the last call that made something: a whole run's wall time where it skipped and resumed nothing
        write_json(run.path / "pipeline.json", {"started": started, "seconds": seconds, "stages_run": ran,
                                                "stages_resumed": resumed, "stages_skipped": skipped,
                                                "overrides": args.overrides})
    print(f"pipeline finished in {seconds:.0f} s -> {args.run}")
