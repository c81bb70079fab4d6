"""The whole pipeline as a user runs it: wall time, peak memory and every stage's headline numbers.

    .venv/bin/python bench/pipeline.py [--config configs/pong.yaml] [--run bench/runs/pipeline] \
        [--name pipeline]

Targets (issue 7): ``make demo`` finishes all stages in <= 10 minutes on 2 CPU cores with peak
memory under 4 GiB, and the symbolic agent's return is >= 95 % of the teacher's. It also tables the
distillation against its baselines on the held-out states (issue 16): plain, decisive-state and
criticality-weighted agreement and node counts; target: decisive-state agreement >= 0.9 with at
most 30 nodes per action.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from benchlib import ROOT, save, table  # noqa: I001  (puts the repository on sys.path)

from reporting.build import load, pick, results_rows

STAGES = ("teacher", "frames", "space", "dataset", "distill", "finetune", "report")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", default=str(ROOT / "configs" / "pong.yaml"))
    parser.add_argument("--run", type=Path, default=ROOT / "bench" / "runs" / "pipeline")
    parser.add_argument("--name", default="pipeline", help="results/NAME.json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.run.exists():
        shutil.rmtree(args.run)
    start, started_at = time.perf_counter(), datetime.now()
    subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--config", args.config, "--run",
                    str(args.run), *args.overrides], cwd=ROOT, check=True)
    wall = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    stages = {stage: load(args.run / stage / "complete.json") for stage in STAGES}
    rows = results_rows(args.run)
    teacher_return = rows[0]["return"] or 0.0
    symbolic_return = [r for r in rows if "symbolic" in r["agent"]][-1]["return"]
    print(table(rows, ["agent", "return", "std", "agreement", "size", "policy_dps", "agent_dps"]))
    transfer = json.loads((args.run / "report" / "transfer.json").read_text())["rows"]
    print(table(transfer, [k for k in transfer[0] if k != "overrides"]))
    summary = {"wall_seconds": wall, "peak_memory_gib": peak_gib,
               "symbolic_over_teacher": symbolic_return / teacher_return if teacher_return else None,
               "teacher_seconds": pick(stages["teacher"].get("summary", {}), "wall_seconds"),
               "space_f1": pick(stages["space"].get("summary", {}), "f1", "eval.f1", "overall.f1")}
    print(table([summary], list(summary)))
    students = distillation_rows(args.run / "distill" / "eval.json")
    print(table(students, ["student", "agreement", "decisive_agreement", "critical_agreement", "size"]))
    result = {"summary": summary, "stage_seconds": stage_seconds(stages, started_at), "results": rows,
              "transfer": transfer, "distillation": students}
    print(f"results -> {save(args.name, {'config': args.config, **result})}")


def stage_seconds(stages: dict[str, dict], started_at: datetime) -> dict[str, float]:
    """Each stage's share of the wall time, start-up included: from the end of the one before it (the
    pipeline's start for the first) to its own completion record."""
    out, last = {}, started_at
    for stage, record in stages.items():
        finished = datetime.fromisoformat(record["finished"])
        out[stage] = round((finished - last).total_seconds(), 1)
        last = finished
    return out


def distillation_rows(path: Path) -> list[dict]:
    """The distilled forest and each baseline, scored the same way on the same held-out states."""
    saved = json.loads(path.read_text())
    keys = ("agreement", "decisive_agreement", "decisive_share", "critical_agreement", "size")
    rows = [{"student": "symbolic forest (ours)", **{k: saved["symbolic"].get(k) for k in keys},
             "max_program_size": max(saved["symbolic"]["size_per_program"].values())}]
    for name, row in saved.get("baselines", {}).items():
        if isinstance(row, dict):
            rows.append({"student": name, **{k: row.get(k) for k in keys}, "method": row.get("method")})
    return rows


if __name__ == "__main__":
    main()
