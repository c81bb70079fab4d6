"""Stages of a finished run timed under the code of two commits: same inputs, wall time, same output?

    .venv/bin/python bench/stage_speed.py --run bench/runs/pipeline --before b3c1e61 \\
        --stages distill,finetune [--config configs/pong.yaml] [--repeats 1]

Each stage runs with ``--force`` and the run's own ``--seed`` on a fresh copy of the run (its
upstream stages as the run has them, without the teacher's checkpoints), under ``--before`` (a
temporary git worktree, its own config file of the same name) and under the code now, alternately,
one at a time; nothing else should run. A speed-up that keeps the results shows the same output hash
in both rows. Writes ``results/stage_speed.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, copy_stages, run_seed, save, table, worktree

SCRIPTS = {  # stage -> (its script, the output compared)
    "dataset": ("generate_dataset.py", "dataset.json"),
    "distill": ("distill_teacher.py", "distill/program.json"),
    "finetune": ("symbolic_finetuning.py", "finetune/program.json"),
    "report": ("report.py", "report/transfer.json"),
}


def timed_stage(root: Path, stage: str, run: Path, config: str) -> dict:
    """Wall seconds of ``stage`` under the code in ``root`` on a copy of ``run``, and its output's hash."""
    script, output = SCRIPTS[stage]
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / run.name
        copy_stages(run, copy, [path.name for path in run.iterdir()])
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(root / script), "--config", str(root / config), "--run",
                               str(copy), "--seed", str(run_seed(run)), "--force"], cwd=root,
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})
        seconds = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{script} failed under {root}:\n{done.stderr[-2000:]}")
        digest = hashlib.sha256((copy / output).read_bytes()).hexdigest()[:16]
    return {"seconds": round(seconds, 1), "output": output, "output_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run folder")
    parser.add_argument("--before", required=True, help="the commit to compare with")
    parser.add_argument("--stages", default="distill,finetune", help=f"comma-separated, of {list(SCRIPTS)}")
    parser.add_argument("--config", default="configs/pong.yaml", help="relative to the repository")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--name", default="stage_speed")
    args = parser.parse_args()
    stages = args.stages.split(",")
    unknown = sorted(set(stages) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown stages {unknown}; choose from {list(SCRIPTS)}")
    if not args.run.is_dir():
        parser.error(f"no run folder {args.run}; run the pipeline first (bench/pipeline.py)")
    now = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    rows = []
    with worktree(args.before) as before:
        for stage in stages:
            for repeat in range(args.repeats):
                for code, commit, root in (("before", args.before, before), ("now", now, ROOT)):
                    rows.append({"stage": stage, "code": code, "commit": commit, "repeat": repeat,
                                 **timed_stage(root, stage, args.run.resolve(), args.config)})
                    print(table(rows[-1:], list(rows[-1])), flush=True)
    for row in rows:
        mine = [r for r in rows if r["stage"] == row["stage"] and r["code"] == "before"]
        row["same_output_as_before"] = all(r["output_sha256"] == row["output_sha256"] for r in mine)
    print(table(rows, list(rows[0])))
    print(f"results -> {save(args.name, {'run': str(args.run), 'config': args.config, 'rows': rows})}")


if __name__ == "__main__":
    main()
