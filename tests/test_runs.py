"""Stage keys: a stage re-run upstream makes what read it stale; other settings are told apart."""

from common import runs
from common.config import from_dict
from common.io import write_json
from common.runs import RunFolder, project_version
from pipeline.config import Config


def test_an_upstream_rerun_makes_a_finished_stage_stale_and_other_settings_differ(tmp_path):
    run = RunFolder(tmp_path / "run")
    config = Config()
    teacher, frames = run.stage("teacher", "train_visual_rl.py"), run.stage("frames", "save_frames.py")
    (tmp_path / "run" / "teacher").mkdir(parents=True)
    teacher.finish(teacher.key(config, ("teacher",), ()), {"return_mean": 1.0})
    key = frames.key(config, ("frames",), ("teacher",))
    assert frames.state(key) == "new"
    frames.prepare(config, key, resume=False, force=False)
    assert frames.state(key) == "started"
    frames.finish(key, {})
    assert frames.state(frames.key(config, ("frames",), ("teacher",))) == "complete"

    teacher.finish(teacher.key(config, ("teacher",), ()), {"return_mean": 2.0})  # the teacher is re-run
    assert frames.state(frames.key(config, ("frames",), ("teacher",))) == "stale"
    other = from_dict(Config, {"frames": {"n_frames": 7}})
    assert frames.state(frames.key(other, ("frames",), ("teacher",))) == "other settings"


def test_input_files_count_by_their_bytes_and_the_version_is_in_the_key(tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "run")
    stage = run.stage("distill", "distill_teacher.py")
    write_json(tmp_path / "run" / "dataset.json", [])
    before = stage.key(Config(), ("distill",), ("dataset.json",))
    write_json(tmp_path / "run" / "dataset.json", [{"state": [], "teacher_action": 0}])
    after = stage.key(Config(), ("distill",), ("dataset.json",))
    assert before.settings == after.settings and before.value != after.value
    assert project_version().count(".") == 2  # read from pyproject.toml
    monkeypatch.setattr(runs, "project_version", lambda: "99.0.0")
    assert stage.key(Config(), ("distill",), ("dataset.json",)).settings != after.settings
