"""How large must a readable policy be to agree with the teacher? CART trees of growing size.

    .venv/bin/python bench/tree_sizes.py --runs bench/runs/pipeline [--leaves 6,16,46,200] \\
        [--name tree_sizes_pong]

On each finished run's dataset, with its distillation's own config (``distill/config.yaml``),
features, splits and fitness states:
a CART tree (scikit-learn, VIPER's kind of policy) of at most L leaves (2L - 1 nodes) fitted to the
teacher's actions, scored on the held-out test states with the distillation's measures (plain,
decisive-state and criticality-weighted agreement), beside the run's distilled forest. Issue 16's
target is decisive agreement >= 0.9 with <= 30 nodes per action; a tree of that many nodes in all says
whether the features allow it. Writes results/<name>.json, merging rows by run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchlib import merged_rows, save, table  # noqa: I001  (puts the repository on sys.path)

from gplearn_custom.data import load_dataset
from gplearn_custom.distill import prepare
from gplearn_custom.evaluation import agreement_measures
from pipeline.config import load_config

MEASURES = ("agreement", "decisive_agreement", "critical_agreement")


def tree_rows(run: Path, leaves: list[int]) -> list[dict]:
    from sklearn.tree import DecisionTreeClassifier

    config = load_config(run / "distill" / "config.yaml")
    data = load_dataset(run)
    prep = prepare(data, config.distill.for_actions(len(data.action_names)), config.seed)
    test, probs = prep.test_or_train(), data.probs
    forest = json.loads((run / "distill" / "eval.json").read_text())["symbolic"]
    rows = [{"run": str(run), "student": "distilled forest", "nodes": forest["size"],
             **{k: forest[k] for k in MEASURES}}]
    for n in leaves:
        tree = DecisionTreeClassifier(max_leaf_nodes=n, random_state=config.seed).fit(
            prep.X[prep.fit], data.actions[prep.fit])
        scores = agreement_measures(tree.predict(prep.X[test]), data.actions[test], probs[test])
        rows.append({"run": str(run), "student": f"CART, at most {n} leaves",
                     "nodes": int(tree.tree_.node_count), **{k: scores[k] for k in MEASURES}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="finished run folders")
    parser.add_argument("--leaves", default="6,16,46,200")
    parser.add_argument("--name", default="tree_sizes_pong")
    args = parser.parse_args()
    missing = [str(run) for run in args.runs if not (run / "distill" / "eval.json").is_file()]
    if missing:
        parser.error(f"no finished distillation in {missing}; run the pipeline on them first")
    leaves = [int(n) for n in args.leaves.split(",")]
    rows = [row for run in args.runs for row in tree_rows(run, leaves)]
    print(table(rows, ["run", "student", "nodes", *MEASURES]))
    rows = merged_rows(args.name, rows, key=lambda row: (row["run"], row["student"]))
    print(f"results -> {save(args.name, {'rows': rows})}")


if __name__ == "__main__":
    main()
