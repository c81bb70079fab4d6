"""Run every stage in order on one run folder, skipping finished ones and resuming interrupted ones.

    python run_pipeline.py --config configs/pong.yaml --run runs/pong [key=value ...]

A stage whose artifacts are complete for the same settings is skipped; one that was interrupted
continues with --resume; one finished with other settings is an error unless --force is given,
which redoes every stage.
"""

from __future__ import annotations

import argparse
import importlib
import time

from common.cli import run_cli
from common.errors import UserError
from common.runs import RunFolder, section_fingerprint
from common.schema import load_config

# (module with STAGE, SECTIONS and main(argv), extra leading arguments); a module may define
# stage_fingerprint(config, run) when its output depends on more than its config sections
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
        if hasattr(module, "stage_fingerprint"):
            key = module.stage_fingerprint(config, run.path)
        else:
            key = section_fingerprint(config, module.SECTIONS)
        flags = []
        if args.force:
            flags = ["--force"]
        elif stage.complete:
            if stage.record()["fingerprint"] == key:
                print(f"[{module.STAGE}] complete, skipped")
                continue
            raise UserError(
                f"{stage.path} was made with other settings; pass --force to redo the pipeline "
                "or use another --run"
            )
        elif stage.started:
            flags = ["--resume"]
            print(f"[{module.STAGE}] resuming")
        print(f"[{module.STAGE}] running")
        module.main([*extra, *common, *flags])
    print(f"pipeline finished in {time.perf_counter() - start:.0f} s -> {args.run}")


if __name__ == "__main__":
    run_cli(main, "interrupted; run the same command again (make demo, or run_pipeline.py with the same "
                  "--run) and it resumes where it stopped")
