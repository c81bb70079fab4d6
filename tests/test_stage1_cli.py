"""Stage I and the frames stage from the shell: artifacts, bad input, resume after SIGINT."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from common.shards import load_frames
from tests.helpers import PONG, ROOT, TINY_TEACHER, run_script


def listing(path):
    return sorted(p.relative_to(path) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "pong"
    result = run_script("train_visual_rl.py", "--config", str(PONG), "--run", str(run), *TINY_TEACHER)
    assert result.returncode == 0, result.stderr
    return run


def test_teacher_artifacts(trained_run):
    teacher = trained_run / "teacher"
    for name in ("teacher.zip", "final_model.zip", "config.yaml", "complete.json"):
        assert (teacher / name).is_file(), name
    assert list((teacher / "checkpoints").glob("ppo_*_steps.zip"))
    assert list((teacher / "tensorboard").rglob("events.out.tfevents.*"))
    assert "total_timesteps: 512" in (teacher / "config.yaml").read_text()
    # the teacher is read against a random player on the same seeds; 512 steps seldom beat it
    summary = json.loads((teacher / "complete.json").read_text())["summary"]
    assert summary["better_than_random"] == (summary["return_mean"] > summary["random_return_mean"])


def test_a_teacher_no_better_than_random_play_is_named_with_what_to_do():
    from pipeline.teacher import no_better_than_random

    message = no_better_than_random({"return_mean": -2.0, "random_return_mean": -1.5})
    assert message.startswith("warning:") and "(-2.00)" in message and "(-1.50)" in message
    assert "teacher.total_timesteps" in message and "--seed" in message and "\n" not in message


def test_finished_stage_is_not_replaced_without_force(trained_run):
    before = (trained_run / "teacher" / "teacher.zip").stat().st_mtime
    result = run_script("train_visual_rl.py", "--config", str(PONG), "--run", str(trained_run), *TINY_TEACHER)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "--force" in result.stderr
    assert (trained_run / "teacher" / "teacher.zip").stat().st_mtime == before


def test_save_frames_with_true_objects(trained_run):
    result = run_script("save_frames.py", "--config", str(PONG), "--run", str(trained_run),
                        "frames.n_frames=120", "frames.shard_size=50")
    assert result.returncode == 0, result.stderr
    shard = load_frames(trained_run / "frames")
    assert shard.frames.shape == (120, 64, 64, 3)
    assert len(shard.objects) == 120 and all(len(o) == 3 for o in shard.objects)
    assert len(np.unique(shard.frames.reshape(120, -1), axis=0)) > 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "configs/nope.yaml"], "not found"),
        (["--config", str(PONG), "env.id=NoSuchGame-v1"], "unknown environment id"),
        (["--config", str(PONG), "teacher.n_env=2"], "unknown key 'teacher.n_env'"),
        (["--config", str(PONG), "teacher.learning_rate=fast"], "lin_<number>"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    run = tmp_path / "run"
    result = run_script("train_visual_rl.py", "--run", str(run), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert listing(run) == []


def test_malformed_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [BuiltinPong\n")
    result = run_script("train_visual_rl.py", "--config", str(bad), "--run", str(tmp_path / "r"))
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    assert not (tmp_path / "r").exists()


def test_missing_and_foreign_run_folders(tmp_path):
    result = run_script("save_frames.py", "--config", str(PONG), "--run", str(tmp_path / "none"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = run_script("train_visual_rl.py", "--config", str(PONG), "--run", str(foreign))
    assert result.returncode == 2 and "not a run folder" in result.stderr
    assert listing(foreign) == [listing(foreign)[0]]


def test_run_folder_of_another_game(trained_run):
    result = run_script("save_frames.py", "--config", "configs/freeway.yaml", "--run", str(trained_run))
    assert result.returncode == 2 and "belongs to BuiltinPong-v0" in result.stderr


def test_sigint_leaves_a_checkpoint_that_resume_continues(tmp_path):
    run = tmp_path / "run"
    args = ["train_visual_rl.py", "--config", str(PONG), "--run", str(run), "teacher.total_timesteps=8000",
            "teacher.n_envs=2", "teacher.checkpoint_freq=1000000", "teacher.eval_freq=1000000",
            "evaluation.seeds=[1000]", "evaluation.max_steps=20"]
    # a shell that starts jobs in the background ignores SIGINT, and children inherit that: restore
    # the default, so the test sends what a user's Ctrl-C sends however pytest was launched
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    tensorboard = run / "teacher" / "tensorboard"
    deadline = time.time() + 60
    while time.time() < deadline and not list(tensorboard.rglob("events.*")):
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    checkpoints = list((run / "teacher" / "checkpoints").glob("ppo_*_steps.zip"))
    assert len(checkpoints) == 1
    steps = int(checkpoints[0].stem.split("_")[1])
    assert 0 < steps < 8000
    refused = run_script(*args)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = run_script(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {checkpoints[0]} at {steps} steps" in resumed.stdout
    assert (run / "teacher" / "complete.json").is_file()


def test_a_zoo_teacher_is_copied_and_evaluated_instead_of_trained(trained_run, tmp_path):
    zoo = tmp_path / "zoo" / "pong"
    zoo.mkdir(parents=True)
    for name in ("teacher.zip", "config.yaml"):
        (zoo / name).write_bytes((trained_run / "teacher" / name).read_bytes())
    run = tmp_path / "from_zoo"
    result = run_script("train_visual_rl.py", "--config", str(PONG), "--run", str(run), *TINY_TEACHER,
                        f"teacher.zoo={zoo}")
    assert result.returncode == 0, result.stderr
    assert (run / "teacher" / "teacher.zip").read_bytes() == (zoo / "teacher.zip").read_bytes()
    assert not (run / "teacher" / "checkpoints").exists()  # nothing trained
    assert '"from_zoo"' in (run / "teacher" / "complete.json").read_text()
    other = run_script("train_visual_rl.py", "--config", str(PONG), "--run", str(tmp_path / "other"),
                       *TINY_TEACHER, f"teacher.zoo={zoo}", "env.frame_stack=3")
    assert other.returncode == 2 and "other env settings (frame_stack)" in other.stderr
