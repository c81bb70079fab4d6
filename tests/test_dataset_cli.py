"""generate_dataset.py end to end on the built-in Pong with an untrained teacher (plumbing, not skill)."""

import json

import numpy as np
import pytest

import generate_dataset
from common.errors import UserError
from pipeline.config import Config
from see.dataset import load_dataset
from see.perception import Perception
from teacher.agent import TeacherAgent
from teacher.config import TeacherConfig
from teacher.rollout import rollout
from tests.helpers import PONG, untrained_teacher_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder holding a finished, untrained teacher: seconds instead of a training run."""
    config = Config(teacher=TeacherConfig(n_envs=1, n_steps=64, batch_size=64, features_dim=32))
    return untrained_teacher_run(tmp_path_factory.mktemp("runs") / "pong", config)


def args(run, *extra):
    return ["--config", str(PONG), "--run", str(run), "dataset.n_steps=200", "dataset.cluster_frames=60",
            "dataset.chunk=64", *extra]


def test_a_dataset_from_elsewhere_is_not_replaced_without_force(run_dir):
    (run_dir / "dataset.json").write_text("[]")
    with pytest.raises(UserError, match="not made by generate_dataset.py; pass --force"):
        generate_dataset.main(args(run_dir, "detector.source=oracle"))
    assert (run_dir / "dataset.json").read_text() == "[]"
    (run_dir / "dataset.json").unlink()


def test_oracle_dataset_end_to_end(run_dir, capsys):
    generate_dataset.main(args(run_dir, "detector.source=oracle"))
    assert capsys.readouterr().out.startswith("dataset: 200 states from 200 steps")
    entries, meta = load_dataset(run_dir / "dataset.json")
    assert len(entries) == 200 and entries[0]["episode"] == entries[0]["step"] == 0
    for before, after in zip(entries, entries[1:], strict=False):
        assert (after["episode"], after["step"]) in ((before["episode"], before["step"] + 1),
                                                     (before["episode"] + 1, 0))
    assert all(e["teacher_action"] == int(np.argmax(e["teacher_probs"])) for e in entries)
    assert meta["object_types"] == ["agent", "opponent", "ball"] and meta["agent_type"] == 0
    assert meta["image_size"] == [64, 64] and meta["action_names"] == ["NOOP", "UP", "DOWN"]
    diagnostics = meta["diagnostics"]
    assert diagnostics["privileged"] and diagnostics["agent_type_check"]["correct"]
    assert diagnostics["types_vs_truth"]["purity"] == 1.0 and diagnostics["velocity_mae"]["y"] < 0.5
    # found from motion: the paddle obeys the actions, the ball and the opponent do not
    share = meta["agent_evidence"]["explained_share"]
    assert share["agent"] > 0.2 > 0.05 > max(share["opponent"], share["ball"])
    assert 0.05 < meta["stats"]["explored_share"] < 0.4  # dataset.random_action_prob = 0.2 by default
    assert (run_dir / "dataset" / "complete.json").is_file()
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


def test_finished_dataset_is_kept_without_force(run_dir):
    before = (run_dir / "dataset.json").read_bytes()
    with pytest.raises(UserError, match="--force"):
        generate_dataset.main(args(run_dir, "detector.source=segment"))
    assert (run_dir / "dataset.json").read_bytes() == before


def test_segment_dataset_types_and_perception_replayed_from_meta(run_dir):
    meta = generate_dataset.main(args(run_dir, "detector.source=segment", "--force"))
    # types named by their looks, never by the truth; the truth only checks them (privileged)
    assert len(meta["object_types"]) == 3 and all(name.startswith(f"t{k}_")
                                                  for k, name in enumerate(meta["object_types"]))
    assert not {"agent", "opponent", "ball"} & set(meta["object_types"])
    check = meta["diagnostics"]["agent_type_check"]
    assert check["correct"] and check["found_type"] == meta["object_types"][meta["agent_type"]]
    assert meta["type_fit"]["frames_from"] == "rollout"
    assert meta["diagnostics"]["types_vs_truth"]["purity"] >= 0.95
    entries, saved = load_dataset(run_dir / "dataset.json")
    assert json.loads((run_dir / "dataset.meta.json").read_text())["types"]["method"] == "kmeans"
    # the same perception, rebuilt from the meta file, reads the same states from the same frames
    perception = Perception.from_meta(saved, run_dir)
    teacher = TeacherAgent.load(run_dir / "teacher", frame_stack=2)
    steps = rollout(Config().env, teacher, 50, random_action_prob=0.2, seed=0)
    for step, written in zip(steps, entries, strict=False):
        if step.step == 0:
            perception.reset()
        assert perception(step.frame, step.info) == written["state"]


def test_resume_starts_an_interrupted_dataset_over(run_dir):
    # an interrupted run: no completion record, a temporary file left behind, the old dataset in place
    (run_dir / "dataset" / "complete.json").unlink()
    (run_dir / ".dataset.json.abc.tmp").write_text("[{\"state\"")
    with pytest.raises(UserError, match="--resume"):
        generate_dataset.main(args(run_dir, "detector.source=segment"))
    before = (run_dir / "dataset.json").read_bytes()
    generate_dataset.main(args(run_dir, "detector.source=segment", "--resume"))
    assert not list(run_dir.glob(".dataset.json.*")) and (run_dir / "dataset" / "complete.json").is_file()
    assert (run_dir / "dataset.json").read_bytes() == before  # seeded: the same dataset again


def test_bad_dataset_settings_are_refused_before_any_work(run_dir):
    before = (run_dir / "dataset.json").read_bytes()
    with pytest.raises(UserError, match="dataset.random_action_prob must be in"):
        generate_dataset.main(args(run_dir, "dataset.random_action_prob=2", "--force"))
    assert (run_dir / "dataset.json").read_bytes() == before
    assert (run_dir / "dataset" / "complete.json").is_file()
