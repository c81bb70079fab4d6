"""Pixels only: stages II-A to III give the same artifacts when the game's truth is deleted from every step.

``env.hide_truth`` removes ``info["objects"]`` and the RAM, as a user's own game would have none. With
SPACE as the object source, nothing that any stage learns or chooses may change; only the privileged
diagnostics (detector F1, type purity, the agent check) disappear.
"""

from __future__ import annotations

import json

import pipeline.run
import run_pipeline
from tests.helpers import PONG
from tests.test_pipeline import TINY

SPACE = [item for item in TINY if not item.startswith(("detector.source", "distill.dagger"))] + [
    # a SPACE that finds objects after 150 steps (short warm-up and prior schedules, a low threshold):
    # the test is about what reads the truth, not about detection quality
    "detector.source=space", "detector.train.steps=150", "detector.train.batch_size=8",
    "detector.train.fix_alpha_steps=10", "detector.train.pres_prior_steps=[10,60]",
    "detector.train.scale_prior_steps=[10,60]", "detector.train.tau_steps=[0,60]", "detector.threshold=0.1",
    "detector.train.checkpoint_every=100", "detector.train.torch_threads=1", "distill.dagger_rounds=0",
    "dataset.n_steps=150", "dataset.cluster_frames=64"]


def _artifacts(run) -> dict:
    meta = json.loads((run / "dataset.meta.json").read_text())
    return {
        "dataset": (run / "dataset.json").read_text(),
        "types": meta["types"], "agent": meta["agent_type"], "evidence": meta["agent_evidence"],
        "distilled": (run / "distill" / "program.json").read_text(),
        "finetuned": (run / "finetune" / "program.json").read_text(),
        "diagnostics": "diagnostics" in meta,
    }


def test_deleting_the_truth_changes_no_artifact(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline.run, "PIPELINE", [s for s in pipeline.run.PIPELINE if s[0] != "report"])
    with_truth, without = tmp_path / "truth", tmp_path / "pixels"
    run_pipeline.main(["--config", str(PONG), "--run", str(with_truth), *SPACE])
    run_pipeline.main(["--config", str(PONG), "--run", str(without), *SPACE, "env.hide_truth=true"])
    seen, blind = _artifacts(with_truth), _artifacts(without)
    assert seen.pop("diagnostics") and not blind.pop("diagnostics")  # truth only ever fed diagnostics
    assert len(json.loads(seen["dataset"])) > 0
    assert seen == blind
    assert not json.loads((without / "finetune" / "eval.json").read_text())["privileged"]
