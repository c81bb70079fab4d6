"""``python -m space train | eval | show`` on a tiny run folder made of built-in Pong frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from common.errors import UserError
from common.io import read_json, write_json
from common.runs import RunFolder
from common.shards import write_shard
from envs.builtin import BuiltinPong
from pipeline.detector import main
from tests.helpers import run_script

TINY = {
    "model": {"image_size": 32, "grid": 4, "glimpse_size": 8, "channels": 8, "z_what_dim": 4, "z_bg_dim": 4},
    "train": {"steps": 3, "batch_size": 4, "log_every": 1, "image_every": 3, "checkpoint_every": 3,
              "eval_frames": 8, "torch_threads": 1},
}


@pytest.fixture
def run_args(tmp_path: Path) -> list[str]:
    """A run folder holding 40 recorded frames with their objects, and a tiny config."""
    run = tmp_path / "run"
    RunFolder(run).open("BuiltinPong-v0", create=True).create_marker("BuiltinPong-v0")
    env = BuiltinPong()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps = [env.step(int(rng.integers(3))) for _ in range(40)]
    write_shard(run / "frames" / "shard_00000.npz", np.stack([s[0] for s in steps]),
                [s[4]["objects"] for s in steps])
    write_json(run / "frames" / "meta.json", {"shards": ["shard_00000.npz"]})
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"env": {"id": "BuiltinPong-v0"}, "detector": TINY}))
    return ["--config", str(config), "--run", str(run)]


def test_train_eval_show_and_force(run_args: list[str]) -> None:
    run = Path(run_args[3])
    main(["train", *run_args])
    folder = run / "space"
    for name in ("complete.json", "model.pt", "checkpoint.pt", "eval.json", "eval.png", "config.yaml", "tb"):
        assert (folder / name).exists(), name
    report = read_json(folder / "eval.json")
    assert report["frames"] == 8 and report["objects_known"] and 0.0 <= report["f1"] <= 1.0
    assert read_json(folder / "complete.json")["summary"]["steps"] == 3

    main(["show", *run_args])
    assert (folder / "show.png").is_file()
    with pytest.raises(UserError, match="--force"):
        main(["train", *run_args])

    main(["train", *run_args, "--force", "detector.source=segment"])
    assert not (folder / "model.pt").exists()
    assert read_json(folder / "eval.json")["f1"] == 1.0
    main(["eval", *run_args, "detector.source=oracle"])
    assert read_json(folder / "eval.json")["source"] == "oracle"


def test_user_errors_exit_with_status_2(run_args: list[str], tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown key 'detector.model.nope'"):
        main(["train", *run_args, "detector.model.nope=1"])
    with pytest.raises(UserError, match="no finished space"):
        main(["eval", *run_args])
    result = run_script("-m", "space", "train", "--config", run_args[1], "--run", str(tmp_path / "none"))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
