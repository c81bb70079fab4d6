"""Stage II-C again on finished pipeline runs with other settings: agreement on the states that matter.

    .venv/bin/python bench/distill_variant.py --config configs/pong.yaml \
        --runs bench/runs/pong_seed0 --name distill_variants_pong distill.state_weights=critical

Each run's upstream stages (teacher, frames, detector, dataset; not the teacher's checkpoints)
are copied into ``bench/runs/<name>/<run's folder name>-<overrides>``, where
``distill_teacher.py`` runs again with the overrides and the run's own pipeline seed (a finished
copy is only read). Per run, for the run's own forest and the new one: plain, decisive-state (the
teacher's top probability >= 0.9) and criticality-weighted agreement and node counts, on the
validation states (where settings are chosen) and on the held-out test states (what is reported),
each restart's return on the selection games (which chooses the output), and the distilled return
on the config's test seeds. Target (issue 16): decisive-state agreement
>= 0.9 with at most 30 nodes per action. Writes results/<name>.json, merging rows by run and
overrides, so that several settings may share one file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from benchlib import ROOT, UPSTREAM, copy_stages, merged_rows, rerun_parser, run_stage, save, table  # noqa: I001

from common.config import load_yaml, to_dict
from gplearn_custom.data import load_dataset
from gplearn_custom.distill import prepare
from gplearn_custom.evaluation import agreement_measures
from gplearn_custom.language.forest import SymbolicForest
from pipeline.config import load_config

MEASURES = ("agreement", "decisive_agreement", "critical_agreement")


def forest_row(run: Path, prefix: str) -> dict:
    """The forest of ``run/distill``: its measures on the validation and test states, size, return."""
    saved = json.loads((run / "distill" / "eval.json").read_text())
    played = [r.get("selection_return") for r in saved["search"]["runs"]]
    symbolic = saved["symbolic"]
    config = load_config(run / "distill" / "config.yaml")
    data = load_dataset(run)
    prep = prepare(data, config.distill, config.seed)
    forest = SymbolicForest.load(run / "distill" / "program.json")
    val = prep.val_or_train()
    on_val = agreement_measures(forest.predict(prep.X[val]), data.actions[val], data.probs[val])
    return {**{f"{prefix}_val_{k}": on_val[k] for k in MEASURES},
            **{f"{prefix}_test_{k}": symbolic[k] for k in MEASURES},
            f"{prefix}_size": symbolic["size"],
            f"{prefix}_max_program_size": max(symbolic["size_per_program"].values()),
            # what chose the output: each restart's return on the selection games (not the test seeds)
            f"{prefix}_restart_selection_returns": played,
            f"{prefix}_restart_selection_mean": float(np.mean(played)) if None not in played else None,
            f"{prefix}_return": saved.get("return", {}).get("return_mean")}


def main() -> None:
    parser = rerun_parser(__doc__, "distill.state_weights=critical")
    args = parser.parse_args()
    rows = []
    for run in (Path(r) for r in args.runs.split(",")):
        seed = int(load_yaml(run / "distill" / "config.yaml")["seed"])
        out = ROOT / "bench" / "runs" / args.name / f"{run.name}-{'-'.join(args.overrides).replace('/', '_')}"
        if not (out / "distill" / "complete.json").is_file():
            if not out.exists():
                copy_stages(run, out, UPSTREAM)
            run_stage(args.config, "distill_teacher.py", out, seed, args.overrides)
        wanted = to_dict(load_config(args.config, args.overrides, seed).distill)
        if load_yaml(out / "distill" / "config.yaml")["distill"] != wanted:
            raise SystemExit(f"error: {out} was distilled with other settings; delete it to run again")
        rows.append({"run": str(run), "seed": seed, "overrides": args.overrides, **forest_row(run, "run"),
                     **forest_row(out, "new")})
    rows = merged_rows(args.name, rows, key=lambda row: (row["run"], tuple(row["overrides"])))
    decisive = [f"{who}_{split}_decisive_agreement" for who in ("run", "new") for split in ("val", "test")]
    columns = ["seed", "overrides", *decisive, "run_size", "new_size", "run_return", "new_return"]
    print(table(rows, columns))
    path = save(args.name, {"config": args.config, "rows": rows})
    print(f"results -> {path}")


if __name__ == "__main__":
    main()
