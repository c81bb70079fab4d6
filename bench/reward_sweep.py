"""Learned-reward (T-REX) training settings compared on finished runs, from their kept demonstrations.

    .venv/bin/python bench/reward_sweep.py --config configs/atari_pong.yaml --runs R0 R1 R2 \
        --variants "" "reward.pairs=10000" "reward.epochs=10" [--name reward_sweep_atari_pong] [key=value ...]

Each variant is a set of overrides on top of ``--config`` and the common ``key=value`` overrides. The
reward is learned into a temporary folder, so the runs' own reward stages are never touched. The
demonstrations come from each run's ``cache/demonstrations/`` (made by ``learn_reward.py`` on that
run with the same game, perception, seed and step cap); a run without them plays them first, once,
and keeps them. Written to results/<name>.json: per variant and run the held-out and extrapolation
correlations, and their mean with a 95 % bootstrap interval over runs.
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from pathlib import Path

from benchlib import REWARD_FIGURES, over_runs, reward_figures, run_config, save, table  # noqa: I001  (puts the repository on sys.path)

from pipeline.reward import check_inputs, demonstration_cache, learn_reward


def one(config_path: str, run: Path, overrides: list[str]) -> dict:
    """The reward of ``run`` learned with ``overrides``, and how it ranks the held-out episodes."""
    config, folder = run_config(config_path, run, overrides)
    cache = demonstration_cache(config, folder.path, check_inputs(config, folder))
    with tempfile.TemporaryDirectory() as out:
        report = learn_reward(config, folder.path, Path(out), cache)
    return {"run": str(run), "seed": config.seed, **reward_figures(report),
            **{k: report[k] for k in ("demonstrators_from_cache", "demonstration_seconds", "train_seconds")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--variants", nargs="+", required=True,
                        help='each a quoted list of overrides ("" for the config as it is)')
    parser.add_argument("--name", default=None, help="results/<name>.json (default: reward_sweep_<config>)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    variants = {}
    for variant in args.variants:
        rows = [one(args.config, Path(run), [*args.overrides, *shlex.split(variant)]) for run in args.runs]
        summary = {k: over_runs([r[k] for r in rows if r[k] is not None]) for k in REWARD_FIGURES}
        variants[variant or "(config)"] = {"rows": rows, "summary": summary}
    print(table([{"variant": name, **{k: round(v["summary"][k]["mean"], 3) for k in REWARD_FIGURES}}
                 for name, v in variants.items()], ["variant", *REWARD_FIGURES]))
    name = args.name or f"reward_sweep_{Path(args.config).stem}"
    command = (f"bench/reward_sweep.py --config {args.config} --runs {' '.join(args.runs)} --variants "
               + " ".join(shlex.quote(v) for v in args.variants)
               + (" " + " ".join(args.overrides) if args.overrides else ""))
    print(f"results -> {save(name, {'command': command, 'variants': variants})}")


if __name__ == "__main__":
    main()
