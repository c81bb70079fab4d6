"""Stage II-B measured: time of ``generate_dataset.py`` per object source, type purity, velocity error.

    python bench/dataset.py [--run runs/NAME] [--steps 20000] [--sources oracle segment space]

Each source runs the real command line on a scratch copy of the run (its teacher, and frames/ and
space/ where present), so the run's own dataset is left alone. Without --run, a teacher is trained
for a few seconds first: a poor player, which is enough to time the stage. SPACE is measured only
where the run holds a trained detector. The machine's load is printed: timings are noisy on a
shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pong.yaml"
TINY_TEACHER = ["teacher.total_timesteps=2048", "teacher.n_envs=2", "teacher.eval_freq=100000",
                "evaluation.seeds=[1000]", "evaluation.max_steps=100"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args[:1])} failed:\n{result.stderr[-2000:]}")
    return result


def scratch_run(source: Path | None, scratch: Path) -> Path:
    """A run folder to write into: a copy of ``source``'s inputs, or a freshly trained tiny teacher."""
    target = scratch / "run"
    if source is None:
        run("train_visual_rl.py", "--config", str(CONFIG), "--run", str(target), *TINY_TEACHER)
        return target
    target.mkdir()
    shutil.copy(source / "run.json", target / "run.json")
    for name in ("teacher", "frames", "space"):
        if (source / name).is_dir():
            skip = shutil.ignore_patterns("checkpoints", "tensorboard")
            shutil.copytree(source / name, target / name, ignore=skip)
    return target


def measure(run_dir: Path, source: str, steps: int) -> dict:
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run("generate_dataset.py", "--config", str(CONFIG), "--run", str(run_dir), "--force",
        f"detector.source={source}", f"dataset.n_steps={steps}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    meta = json.loads((run_dir / "dataset.meta.json").read_text())
    return {"source": source, "wall": wall, "cpu": cpu, "load": (load + os.getloadavg()[0]) / 2,
            **meta["stats"], "types": meta["object_types"], "agent_type": meta["agent_type"]}


def report(r: dict) -> None:
    truth = r.get("types_vs_truth", {})
    velocity = r.get("velocity_mae", {})
    print(f"\n{r['source']}: {r['steps']} steps in {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU (command "
          f"incl. start-up), "
          f"{r['seconds']:.1f} s in the stage = {r['steps_per_second']:.0f} steps/s; "
          f"mean load {r['load']:.1f}")
    print(f"  types {r['types']} (agent type {r['agent_type']}), {r['objects_per_state']:.2f} objects/state, "
          f"{r['empty_states']} empty states, {r['explored_share']:.1%} exploratory actions")
    if truth:
        print(f"  type purity {truth['purity']:.4f}; detection precision {truth['detection_precision']:.3f}, "
              f"recall {truth['detection_recall']:.3f}")
        for name, t in truth["per_type"].items():
            print(f"    {name:>10}: {t['detections']} detections, purity {t['purity']:.4f} "
                  f"(true {t['true_type']})")
    if velocity:
        print(f"  velocity MAE (px/step) x {velocity['x']:.3f}, y {velocity['y']:.3f}")
        for name, v in velocity["per_true_type"].items():
            print(f"    {name:>10}: x {v['x']:.3f}, y {v['y']:.3f} over {v['objects']} objects")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run with a finished teacher (default: train a tiny one)")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--sources", nargs="+", default=["oracle", "segment", "space"])
    args = parser.parse_args()
    print(f"CPU cores visible: {os.cpu_count()}, load average now: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as scratch:
        run_dir = scratch_run(args.run, Path(scratch))
        for source in args.sources:
            if source == "space" and not (run_dir / "space" / "model.pt").is_file():
                print("\nspace: skipped, the run has no trained SPACE detector (python -m space train)")
                continue
            report(measure(run_dir, source, args.steps))


if __name__ == "__main__":
    main()
