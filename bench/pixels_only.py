"""Pixels only (issue 14): the default pipeline over several seeds, nothing privileged.

    .venv/bin/python bench/pixels_only.py [--config configs/pong.yaml] [--seeds 0,1,2] [--fresh] \
        [--tag NAME key=value ...]

An Atari config (``configs/atari_pong.yaml``) gives issue 19's rows the same way, from the zoo
teacher.

Each seed runs ``run_pipeline.py --seed S`` in ``bench/runs/pixels_<game>/seedS`` (a finished run
is read again; ``--fresh`` deletes it first). Per seed:
teacher, distilled and fine-tuned returns on the evaluation seeds, all through the learned
perception; the agent type found from the actions and whether it is the game's agent (the one
privileged check, against the true objects); the pipeline's wall time where one ``run_pipeline.py``
call made the whole run (its ``pipeline.json``; none for a run made in parts; the machine's load at
the time is not recorded there: say it).
Targets: fine-tuned >= teacher on every seed; distilled >= 0.9 x teacher on at least 2 of 3
seeds; the agent found on every seed; ``make demo`` <= 10 minutes.
Writes results/pixels_only_<game>.json, merging rows by seed, so seeds may run as separate
(parallel) commands; each row keeps the overrides it ran with (e.g. one torch thread per run).
A variant of the default (overrides that change results) takes a ``--tag``: its runs live in
``bench/runs/pixels_<game>_<tag>`` and its rows in results/pixels_only_<game>_<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path

from benchlib import (  # noqa: I001  (puts the repository on sys.path)
    ROOT,
    bootstrap_ci,
    merged_rows,
    over_runs,
    save,
    table,
    transfer_over_seeds,
    transfer_rows,
)

from reporting.build import load, pick


def pipeline_seconds(run: Path) -> float | None:
    """The last ``run_pipeline.py`` call's seconds if it ran every stage in one go; None where it
    skipped or resumed some, or where a stage was run by hand (a run made in parts has no
    whole-pipeline time), including after that call: a stage finished after the call ended."""
    record = run / "pipeline.json"
    if not record.is_file():
        return None
    call = json.loads(record.read_text())
    if call["stages_skipped"] or call["stages_resumed"]:
        return None
    ended = datetime.fromisoformat(call["started"]) + timedelta(seconds=call["seconds"])
    finished = [datetime.fromisoformat(load(done)["finished"])
                for done in run.glob("*/complete.json")]
    return None if any(when > ended for when in finished) else call["seconds"]


def seed_row(run: Path, seed: int) -> dict:
    meta = json.loads((run / "dataset.meta.json").read_text())
    distill = json.loads((run / "distill" / "eval.json").read_text())
    finetune = json.loads((run / "finetune" / "eval.json").read_text())
    if finetune.get("privileged") or meta.get("object_source") == "oracle":
        raise SystemExit(f"error: {run} used privileged objects; this bench measures pixels only")
    teacher = json.loads((run / "teacher" / "complete.json").read_text())["summary"]["return_mean"]
    distilled = distill["return"]["return_mean"]
    finetuned = finetune["finetuned"]["return_mean"]
    agent = meta["agent_type"]
    played = {name: finetune[name] for name in ("random", "distilled", "finetuned")}
    return {
        "seed": seed, "random": finetune["random"]["return_mean"], "teacher": teacher, "distilled": distilled,
        "finetuned": finetuned,
        "evaluation_games": len(finetune["finetuned"]["returns"]),
        # this seed's 95 % bootstrap interval over its games, and agent steps per second (through
        # the perception for the programs; the teacher's from its own stage)
        "ci95_over_games": {**{name: bootstrap_ci(row["returns"]) for name, row in played.items()},
                            "teacher": bootstrap_ci(finetune["teacher"]["returns"])},
        "agent_steps_per_second": {name: _rounded(row["agent_steps_per_second"])
                                   for name, row in played.items()},
        "distilled_over_teacher": distilled / teacher if teacher > 0 else None,
        "finetuned_ge_teacher": finetuned >= teacher, "distilled_ge_0.9_teacher": distilled >= 0.9 * teacher,
        "agent_type": meta["object_types"][agent] if agent is not None else None,
        "agent_share_explained": None if agent is None else
        meta["agent_evidence"]["explained_share"][meta["object_types"][agent]],
        "next_share_explained": sorted(meta["agent_evidence"]["explained_share"].values())[-2],
        "agent_found_correctly": pick(meta, "diagnostics.agent_type_check.correct"),
        "types": meta["object_types"], "type_silhouettes": pick(meta, "type_fit.silhouette"),
        "type_purity": pick(meta, "diagnostics.types_vs_truth.purity"),
        # privileged diagnostics: what each type was matched to, and the detector's recall per true type
        "detections_per_type": {name: row.get("detections") for name, row in
                                (pick(meta, "diagnostics.types_vs_truth.per_type") or {}).items()},
        "detector_recall_per_true_type": {name: row.get("recall") for name, row in
                                          load(run / "space" / "eval.json").get("per_type", {}).items()},
        "distilled_size": distill["symbolic"]["size"], "finetuned_size": finetune["finetuned"]["size"],
        "finetune_search_objects": finetune["search_objects"],
        "finetuned_lineage": finetune.get("lineage"), "distilled_agreement": distill["symbolic"]["agreement"],
        "baseline_agreement": {name: row["agreement"] for name, row in distill.get("baselines", {}).items()
                               if isinstance(row, dict) and "agreement" in row},
        # the report's transfer rows (teacher and symbolic agent on each variant of the game), if any
        "transfer": transfer_rows(run),
        "pipeline_wall_seconds": _rounded(pipeline_seconds(run)),
        # None: not timed (a teacher copied from the zoo)
        "stage_seconds": {stage: _rounded(json.loads((run / stage / "complete.json").read_text())["summary"]
                                          .get(key))
                          for stage, key in (("teacher", "wall_seconds"), ("distill", "distill_seconds"))},
    }


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", default=str(ROOT / "configs" / "pong.yaml"))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated pipeline seeds")
    parser.add_argument("--fresh", action="store_true", help="delete each seed's run first and time it")
    parser.add_argument("--tag", default=None, help="a variant's name (its runs and results apart)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    game = Path(args.config).stem + (f"_{args.tag}" if args.tag else "")
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        run = ROOT / "bench" / "runs" / f"pixels_{game}" / f"seed{seed}"
        if args.fresh and run.exists():
            shutil.rmtree(run)
        if not (run / "report" / "complete.json").is_file():  # a finished run is only read
            subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--config", args.config,
                            "--run", str(run), "--seed", str(seed), *args.overrides], cwd=ROOT, check=True)
        row = seed_row(run, seed)
        rows.append({**row, "overrides": args.overrides})
    rows = sorted(merged_rows(f"pixels_only_{game}", rows, key=itemgetter("seed")), key=itemgetter("seed"))
    columns = ["seed", "teacher", "distilled", "finetuned", "agent_type", "agent_found_correctly",
               "distilled_size", "finetuned_size", "pipeline_wall_seconds"]
    print(table(rows, columns))
    targets = {
        "finetuned_ge_teacher_every_seed": all(r["finetuned_ge_teacher"] for r in rows),
        "distilled_ge_0.9_teacher_seeds": sum(r["distilled_ge_0.9_teacher"] for r in rows),
        "agent_found_every_seed": all(r["agent_found_correctly"] for r in rows),
        # of the runs made in one go (None: every run was made in parts, e.g. fine-tuning redone)
        "max_pipeline_wall_seconds": max((r["pipeline_wall_seconds"] for r in rows
                                          if r["pipeline_wall_seconds"] is not None), default=None),
    }
    print(targets)
    means = {key: over_runs([r[key] for r in rows])
             for key in ("random", "teacher", "distilled", "finetuned")}
    print(means)
    result = {"config": args.config, "rows": rows, "targets": targets, "over_seeds": means,
              "transfer_over_seeds": transfer_over_seeds(rows, "transfer")}
    print(f"results -> {save(f'pixels_only_{game}', result)}")


if __name__ == "__main__":
    main()
