"""Shared helpers of the bench scripts: machine description, load, JSON results."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"  # committed: the JSON behind every README number
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    """What the numbers were measured on, including the load, since timings depend on it."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average_1min": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M")}


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """A temporary git worktree of ``commit``: the code before a change, run beside the code now."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), commit], cwd=ROOT, check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=True)


def run_in(root: Path, module: str, package: str, *args: object) -> dict:
    """``module.worker(*args)`` (a bench script's) in a fresh interpreter that imports ``package``
    from ``root``, a worktree of older code or the repository itself; its JSON result. ``args`` are
    plain literals (strings, numbers)."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import json, {module}; "
            f"sys.path.insert(0, {str(root)!r}); import {package}; "
            f"assert {package}.__file__.startswith({str(root)!r}), {package}.__file__; "
            f"print(json.dumps({module}.worker(*{args!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)})
    if out.returncode:
        raise SystemExit(f"{module}.worker{args!r} failed in {root}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def save(name: str, result: dict) -> Path:
    from common.io import write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    return write_json(RESULTS / f"{name}.json", {"machine": machine(), **result})


def merged_rows(name: str, rows: list[dict], key: Callable[[dict], object]) -> list[dict]:
    """This command's ``rows`` in place of the rows of ``results/NAME.json`` with the same ``key``, the
    others kept, so parts of a bench (seeds, games) may run as separate commands."""
    path = RESULTS / f"{name}.json"
    earlier = json.loads(path.read_text())["rows"] if path.is_file() else []
    new = {key(row): row for row in rows}
    return [new.pop(key(row), row) for row in earlier] + list(new.values())


def transfer_rows(run: Path) -> list[dict]:
    """The report's HackAtari rows of a finished run (teacher and symbolic agent per variant), if any."""
    path = run / "report" / "transfer.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    keys = ("variant", "teacher_return", "symbolic_return", "teacher_drop", "symbolic_drop")
    return [{k: row[k] for k in keys if k in row} for row in rows]


def transfer_over_seeds(rows: list[dict], field: str) -> dict[str, dict[str, float]]:
    """Per HackAtari variant, the mean over the seeds that played it (``row[field]``, as
    ``transfer_rows`` gives) of each agent's return and drop."""
    import numpy as np

    keys = ("teacher_return", "teacher_drop", "symbolic_return", "symbolic_drop")
    played: dict[str, list[dict]] = {}
    for row in rows:
        for variant in row.get(field, []):
            played.setdefault(variant["variant"], []).append(variant)
    return {name: {"seeds": len(variants), **{k: float(np.mean([v[k] for v in variants])) for k in keys}}
            for name, variants in played.items()}


# a finished run's stages up to the dataset, which a later stage run again on a copy reads
UPSTREAM = ("run.json", "teacher", "frames", "space", "dataset", "dataset.json", "dataset.meta.json")


def copy_stages(run: Path, out: Path, names: Sequence[str]) -> None:
    """``run``'s stage folders and files ``names`` into a new folder ``out``, without the teacher's
    checkpoints (later stages read only ``teacher.zip``)."""
    out.mkdir(parents=True)
    for name in names:
        source = run / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("checkpoints"))
        elif source.is_file():
            shutil.copy2(source, out / name)


def rerun_parser(doc: str, example: str) -> argparse.ArgumentParser:
    """The arguments of a bench that runs a stage again on copies of finished runs, with overrides."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--runs", required=True, help="comma-separated finished pipeline runs")
    parser.add_argument("--name", required=True, help="results/<name>.json and bench/runs/<name>/")
    parser.add_argument("overrides", nargs="+", help=f"the new settings, e.g. {example}")
    return parser


def run_stage(config: str, script: str, run: Path, seed: int, overrides: Sequence[str]) -> None:
    """One stage script on a run folder with ``overrides`` (resuming an interrupted one)."""
    subprocess.run([sys.executable, str(ROOT / script), "--config", config, "--run", str(run),
                    "--seed", str(seed), "--resume", *overrides], cwd=ROOT, check=True)


def games_from(eval_cfg, games: int):
    """``eval_cfg`` with ``games`` test seeds counted on from its first (a bench's own game count)."""
    import dataclasses

    first = eval_cfg.seeds[0]
    return dataclasses.replace(eval_cfg, seeds=list(range(first, first + games)))


def run_seed(run: str | Path) -> int:
    """A finished run's own pipeline seed (its ``--seed``, read from teacher/config.yaml)."""
    import yaml

    return int(yaml.safe_load((Path(run) / "teacher" / "config.yaml").read_text())["seed"])


def run_config(config_path: str, run: str | Path, overrides: list[str]):
    """(config, opened run folder) of a finished run: ``config_path`` with ``overrides`` and the run's
    own pipeline seed."""
    from common.runs import RunFolder
    from pipeline.config import load_config

    config = load_config(config_path, overrides, run_seed(run))
    return config, RunFolder(run).open(config.env.id, create=False)


def bootstrap_ci(values: list[float], draws: int = 10_000, seed: int = 0) -> list[float]:
    """95 % percentile-bootstrap interval of the mean (over episodes, or over pipeline seeds)."""
    import numpy as np

    means = np.random.default_rng(seed).choice(np.asarray(values, dtype=float), (draws, len(values))).mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def over_runs(values: list[float]) -> dict:
    """Mean and its 95 % bootstrap interval over runs, and from 5 runs on the interquartile mean
    (rliable's IQM: the mean of the middle half, robust to one odd run)."""
    import numpy as np

    result = {"runs": len(values), "mean": float(np.mean(values)), "ci95": bootstrap_ci(values)}
    if len(values) >= 5:
        ordered = np.sort(np.asarray(values, dtype=float))
        quarter = len(ordered) / 4
        weights = np.clip(np.minimum(np.arange(1, len(ordered) + 1), len(ordered) - np.arange(len(ordered)))
                          - quarter, 0, 1)  # a run's share inside the middle half
        result["iqm"] = float(weights @ ordered / weights.sum())
    return result


# how a learned reward ranks episodes, as the reward benches tabulate it: figure -> (part, key) of the
# reward stage's eval.json
REWARD_FIGURES = {"spearman_heldout": ("heldout", "spearman"), "pearson_heldout": ("heldout", "pearson"),
                  "pairs_ordered_heldout": ("heldout", "pairs_ordered"),
                  "spearman_ceiling_heldout": ("heldout", "spearman_ceiling"),
                  "spearman_extrapolation": ("extrapolation", "spearman"),
                  "symbolic_spearman_heldout": ("symbolic_heldout", "spearman")}


def reward_figures(report: dict) -> dict:
    """``REWARD_FIGURES`` of one reward stage's eval.json content."""
    return {figure: report[part][key] for figure, (part, key) in REWARD_FIGURES.items()}


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain markdown table of ``rows`` (numbers rounded for reading)."""
    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
