"""Stage III at another budget on finished pipeline runs: does a longer search close the gap?

    .venv/bin/python bench/finetune_budget.py --config configs/atari_boxing.yaml \
        --runs bench/runs/pixels_atari_boxing/seed0,bench/runs/pixels_atari_boxing/seed2 \
        --name finetune_budget_atari_boxing finetune.generations=30 finetune.population_size=16

Each run's upstream stages (teacher, frames, detector, dataset, distillation; not the teacher's
checkpoints) are copied into ``bench/runs/<name>/<run's folder name>``, where
``symbolic_finetuning.py`` runs again with the overrides (a finished copy is only read), from the
same distilled forest with the run's own pipeline seed. Per run: the fine-tuned return over the
config's 30 test games at the run's budget and at the new one, with each one's 95 % bootstrap interval
over games, search seconds and environment steps (the machine's load is not recorded per run: say
it); with ``--transfer``, the report stage runs on the copy too and its HackAtari rows (teacher and
the new agent on each variant of the game) are kept. Writes results/<name>.json, merging rows by run.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchlib import (  # noqa: I001  (puts the repository on sys.path)
    ROOT,
    UPSTREAM,
    bootstrap_ci,
    copy_stages,
    merged_rows,
    over_runs,
    rerun_parser,
    run_stage,
    save,
    table,
    transfer_over_seeds,
    transfer_rows,
)

from common.config import load_yaml, to_dict
from pipeline.config import load_config


def budget_row(name: str, finetune: dict) -> dict:
    played = finetune["finetuned"]
    return {f"{name}_return": played["return_mean"], f"{name}_ci95": bootstrap_ci(played["returns"]),
            f"{name}_size": played["size"], f"{name}_search_seconds": round(finetune["search_seconds"]),
            f"{name}_env_steps": finetune["env_steps"], f"{name}_lineage": finetune["lineage"],
            # the chosen forest's return on the selection games (training seeds): what a setting may be
            # tuned on, where the test games above may only report it
            f"{name}_selection_return": finetune["selection"][finetune["chosen"]]["return_mean"],
            f"{name}_selection": {k: v["return_mean"] for k, v in finetune["selection"].items()},
            # the agent's velocity after each action, where the search built pursuit forests from it
            f"{name}_action_velocities": finetune.get("action_velocities")}


def main() -> None:
    parser = rerun_parser(__doc__, "finetune.generations=30")
    parser.add_argument("--transfer", action="store_true", help="run the report (HackAtari variants) too")
    args = parser.parse_args()
    rows = []
    for run in (Path(r) for r in args.runs.split(",")):
        before = json.loads((run / "finetune" / "eval.json").read_text())
        seed = int(before["seed"])
        out = ROOT / "bench" / "runs" / args.name / run.name
        if not (out / "finetune" / "complete.json").is_file():
            if not out.exists():
                copy_stages(run, out, (*UPSTREAM, "distill"))
            run_stage(args.config, "symbolic_finetuning.py", out, seed, args.overrides)
        wanted = to_dict(load_config(args.config, args.overrides, seed).finetune)
        if load_yaml(out / "finetune" / "config.yaml")["finetune"] != wanted:  # before any report on it
            raise SystemExit(f"error: {out} was fine-tuned with other settings; delete it to run again")
        if args.transfer and not (out / "report" / "complete.json").is_file():
            run_stage(args.config, "report.py", out, seed, args.overrides)
        after = json.loads((out / "finetune" / "eval.json").read_text())
        rows.append({"run": str(run), "seed": seed,
                     "distilled_return": before["distilled"]["return_mean"],
                     **budget_row("run_budget", before), **budget_row("new_budget", after),
                     "new_budget_transfer": transfer_rows(out)})
    rows = merged_rows(args.name, rows, key=lambda row: row["run"])
    columns = ["seed", "distilled_return", "run_budget_return", "new_budget_return",
               "run_budget_search_seconds", "new_budget_search_seconds"]
    print(table(rows, columns))
    summary = {name: over_runs([row[f"{name}_return"] for row in rows])
               for name in ("run_budget", "new_budget")}
    print(summary)
    transfer = transfer_over_seeds(rows, "new_budget_transfer")
    path = save(args.name, {"config": args.config, "overrides": args.overrides, "rows": rows,
                            "over_runs": summary, "new_budget_transfer_over_seeds": transfer})
    print(f"results -> {path}")


if __name__ == "__main__":
    main()
