"""run_pipeline.py end to end on tiny settings: every stage's artifacts, skip, resume and refusal."""

from __future__ import annotations

import json

import pytest
import yaml

import run_pipeline
import symbolic_finetuning
from common import seeds
from common.errors import UserError
from gplearn_custom.rl import evolution
from tests.helpers import PONG, TINY_TEACHER

STAGES = ("teacher", "frames", "space", "dataset", "distill", "finetune", "report")
# every stage in seconds: segment detection (SPACE has its own tests), a few hundred states
TINY = [*TINY_TEACHER, "frames.n_frames=64", "frames.shard_size=32", "detector.source=segment",
        "dataset.n_steps=200", "dataset.cluster_frames=100", "distill.population_size=60",
        "distill.generations=2", "distill.restarts=1", "distill.baseline_population=40",
        "distill.baseline_generations=1", "distill.mlp_epochs=10", "distill.speed_decisions=50",
        "distill.dagger_rounds=1", "distill.dagger_steps=60", "distill.select_episodes=1",
        "distill.select_max_steps=50",
        "finetune.population_size=4", "finetune.generations=3", "finetune.episodes=1",
        "finetune.max_episode_steps=40", "finetune.selection_episodes=1",
        "finetune.selection_max_steps=50", "finetune.polish_updates=1", "finetune.n_envs=2",
        "finetune.n_steps=16", "finetune.n_epochs=1", "finetune.n_minibatches=1"]


def check_seed_ranges(run):
    """Every rollout's seeds in a finished run are development seeds, every fitness and selection game's
    selection seeds, and only the reported returns are played on test seeds."""
    frames = json.loads((run / "frames" / "meta.json").read_text())["episode_seeds"]
    dataset = json.loads((run / "dataset.meta.json").read_text())["stats"]["episode_seeds"]
    rounds = json.loads((run / "distill" / "eval.json").read_text())["dagger"]
    dagger = [s for r in rounds for s in r["episode_seeds"]]
    finetune = json.loads((run / "finetune" / "eval.json").read_text())
    fitness = [s for h in finetune["history"] for s in h["episode_seeds"]]
    assert frames and dataset and dagger and fitness
    assert all(seeds.is_development(s) for s in frames + dataset + dagger)
    assert all(s in seeds.SELECTION for s in fitness)
    reported = yaml.safe_load((run / "finetune" / "config.yaml").read_text())
    assert all(s in seeds.TEST for s in reported["evaluation"]["seeds"])


def test_interrupted_pipeline_resumes_and_skips_finished_stages(tmp_path, monkeypatch, capsys):
    run = tmp_path / "demo"
    argv = ["--config", str(PONG), "--run", str(run), *TINY]
    original = evolution.RewardEvolution._save

    def save_then_interrupt(self, *args, **kwargs):  # Ctrl-C right after fine-tuning's first checkpoint
        original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(evolution.RewardEvolution, "_save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline.main(argv)
    assert all((run / stage / "complete.json").is_file() for stage in STAGES[:5])
    assert (run / "finetune" / "checkpoint.json").is_file()
    assert not (run / "finetune" / "complete.json").exists()
    assert not (run / "report").exists()
    dagger = json.loads((run / "distill" / "eval.json").read_text())["dagger"]
    assert dagger[0]["states_added"] > 0 and (run / "distill" / "dagger-r1.json").is_file()
    capsys.readouterr()

    monkeypatch.setattr(evolution.RewardEvolution, "_save", original)
    run_pipeline.main(argv)
    out = capsys.readouterr().out
    for stage in STAGES[:5]:
        assert f"[{stage}] complete, skipped" in out
    assert "[finetune] resuming" in out
    call = json.loads((run / "pipeline.json").read_text())  # this call's record: made in parts
    assert call["stages_skipped"] == list(STAGES[:5])
    assert call["stages_run"] == ["finetune", "report"] and call["stages_resumed"] == ["finetune"]
    assert all((run / stage / "complete.json").is_file() for stage in STAGES)
    history = json.loads((run / "finetune" / "checkpoint.json").read_text())["history"]
    assert [h["generation"] for h in history] == [0, 1, 2]  # resumed after generation 0, not restarted
    assert "random actions" in (run / "report" / "report.md").read_text()  # the floor beside the agents
    finetuned = json.loads((run / "finetune" / "eval.json").read_text())["finetuned"]
    assert finetuned["policy_decisions_per_second"] > finetuned["policy_numpy_decisions_per_second"] > 0

    check_seed_ranges(run)
    run_pipeline.main(argv)  # everything finished: nothing is redone
    assert capsys.readouterr().out.count("complete, skipped") == len(STAGES)
    assert json.loads((run / "pipeline.json").read_text()) == call  # the record of the call that made them
    symbolic_finetuning.main([*argv, "--force"])  # fine-tuning redone by hand: the report is now stale
    run_pipeline.main(argv)
    out = capsys.readouterr().out
    assert out.count("complete, skipped") == len(STAGES) - 1 and "[report] stale" in out
    assert json.loads((run / "report" / "complete.json").read_text())["upstream"]["finetune"] is not None
    with pytest.raises(UserError, match="--force"):
        run_pipeline.main([*argv[:4], *TINY[:-1], "finetune.n_minibatches=2"])


@pytest.mark.slow
def test_the_airstriker_pipeline_runs_end_to_end_on_stable_retro(tmp_path):
    """stable-retro allows one emulator per process: every stage runs anyway, the symbolic agents'
    games in one worker process per emulator (envs.workers)."""
    run = tmp_path / "airstriker"
    argv = ["--config", str(PONG.parent / "airstriker.yaml"), "--run", str(run), *TINY,
            "distill.dagger_rounds=0", "evaluation.max_steps=200", "finetune.max_episode_steps=100",
            "finetune.selection_max_steps=100", "distill.select_max_steps=100"]
    run_pipeline.main(argv)
    assert all((run / stage / "complete.json").is_file() for stage in STAGES)
    finetune = json.loads((run / "finetune" / "eval.json").read_text())
    assert finetune["finetuned"]["episode_lengths"] and finetune["env_steps"] > 0
    assert "## Results" in (run / "report" / "report.md").read_text()
    assert (run / "report" / "agent.gif").is_file()  # the symbolic agent recorded on the retro game
