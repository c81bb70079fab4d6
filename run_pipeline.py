"""Run every stage in order on one run folder, skipping finished ones and resuming interrupted ones.

    python run_pipeline.py --config configs/pong.yaml --run runs/pong [key=value ...]

A stage whose artifacts are complete for the same settings and inputs is skipped; one that was
interrupted continues with --resume; one whose inputs changed since (an upstream stage was re-run)
is stale and redone; one finished with other settings is an error unless --force is given, which
redoes every stage.
"""

from __future__ import annotations

import argparse
import importlib
import time

from common.cli import run_cli
from common.errors import UserError
from common.runs import RunFolder
from common.schema import load_config

# (module with STAGE, SECTIONS, READS and main(argv), extra leading arguments)
PIPELINE: list[tuple[str, list[str]]] = [
    ("train_visual_rl", []),
    ("save_frames", []),
    ("space.cli", ["train"]),
    ("generate_dataset", []),
    ("distill_teacher", []),
    ("symbolic_finetuning", []),
    ("report", []),
]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", required=True, help="YAML file in configs/")
    parser.add_argument("--run", required=True, help="run folder, e.g. runs/pong")
    parser.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    parser.add_argument("--force", action="store_true", help="redo every stage")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides, args.seed)
    from envs import check_env_id

    check_env_id(config.env.id)
    run = RunFolder(args.run).open(config.env.id, create=True)
    common = ["--config", args.config, "--run", args.run, *args.overrides]
    if args.seed is not None:
        common += ["--seed", str(args.seed)]
    start = time.perf_counter()
    for module_name, extra in PIPELINE:
        module = importlib.import_module(module_name)
        stage = run.stage(module.STAGE, f"{module_name}.py")
        state = stage.state(stage.key(config, module.SECTIONS, module.READS))
        flags = []
        if args.force:
            flags = ["--force"]
        elif state == "complete":
            print(f"[{module.STAGE}] complete, skipped")
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
            print(f"[{module.STAGE}] resuming")
        print(f"[{module.STAGE}] running")
        module.main([*extra, *common, *flags])
    print(f"pipeline finished in {time.perf_counter() - start:.0f} s -> {args.run}")


if __name__ == "__main__":
    run_cli(main, "interrupted; run the same command again (make demo, or run_pipeline.py with the same "
                  "--run) and it resumes where it stopped")
