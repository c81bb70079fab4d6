"""``make bench``: every table that tracks the project's targets, one script after another.

Each script prints its table and writes results/NAME.json; this one collects them into
results/all.json. Expect about half an hour on 2 CPU cores.
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchlib import RESULTS, ROOT, save  # noqa: I001  (puts the repository on sys.path)

SCRIPTS = [
    ("pipeline", []),  # teacher, detector, dataset, distillation, fine-tuning, transfer, demo time
    ("detector", []),  # detector F1 and frames/s per source, built-in and Atari Pong
    ("dataset", ["--steps", "20000"]),  # 20k-step dataset time per object source
    ("distill_speed", []),  # gplearn_custom vs stock gplearn, symbolic vs CNN decisions/s
    ("finetune", ["--runs", str(ROOT / "bench" / "runs" / "pipeline")]),  # ablation rows
    ("atari_speed", []),  # Atari env and PPO steps/s: SB3 + gymnasium path against ale-py's vector env
]
# not here, for their length: pixels_only.py (whole pipelines per seed), zoo.py (after a training),
# parallel_play.py and finetune_budget.py (need finished Atari runs)


def main() -> None:
    collected = {}
    for name, args in SCRIPTS:
        print(f"\n## {name}\n", flush=True)
        result = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), *args], cwd=ROOT)
        path = RESULTS / f"{name}.json"
        collected[name] = json.loads(path.read_text()) if result.returncode == 0 and path.is_file() else {
            "error": f"exit status {result.returncode}"}
    print(f"\nall results -> {save('all', collected)}")


if __name__ == "__main__":
    main()
