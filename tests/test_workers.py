"""Game copies in worker processes (envs.workers): the same games as in one process, the detector in
the workers, one emulator per process for stable-retro, clear errors."""

import numpy as np
import pytest

from common.config import from_dict
from common.errors import UserError
from envs.config import EnvConfig
from envs.play import EnvCopies
from envs.workers import OBSERVED, WorkerCopies, copies_for
from gplearn_custom.rl.fitness import episode_returns
from gplearn_custom.rl.lockstep import Lockstep
from see.object_types import TypeModel
from see.perception import Perception
from see.tracking import Tracker
from space.oracle import OracleSource
from tests.test_finetune import SPEC, pong_forest

SEEDS = [1000, 1001, 1002]


def oracle_perception() -> Perception:
    return Perception(OracleSource("BuiltinPong-v0"), TypeModel(list(SPEC.type_names)), Tracker(8.0, 3))


def test_workers_play_the_same_games_as_one_process():
    forests = [pong_forest(), pong_forest(0.2)]
    returns = {}
    for n_jobs in (1, 2):
        # five copies for six episodes: two batches, and the workers hold three and two copies
        game = Lockstep(EnvConfig(n_jobs=n_jobs), SPEC, oracle_perception(), copies=5)
        assert isinstance(game.envs, WorkerCopies if n_jobs == 2 else EnvCopies)
        try:
            returns[n_jobs] = episode_returns(forests, SEEDS, game, max_steps=150)
        finally:
            game.close()
    np.testing.assert_array_equal(returns[1], returns[2])
    assert returns[1][0].mean() > returns[1][1].mean()  # the games were really played


def test_workers_run_the_detector_on_their_frames():
    source = OracleSource("BuiltinPong-v0")
    envs = copies_for(EnvConfig(n_jobs=2), 3, source.detect)
    try:
        frames, infos = envs.reset([0, 1, 2], SEEDS)
        out = envs.step([2, 0], [1, 2])
    finally:
        envs.close()
    assert len(frames) == 3 and frames[0].shape == (64, 64, 3)
    for frame, info in zip(out.frames, out.infos, strict=True):
        expected = source.detect(frame[None], [info])[0]
        assert [(d.x, d.y) for d in info[OBSERVED]] == [(d.x, d.y) for d in expected]
    assert envs.steps == 2


def test_one_process_per_retro_emulator():
    envs = copies_for(EnvConfig(id="Airstriker-Genesis"), 2)  # stable-retro: one emulator per process
    try:
        assert isinstance(envs, WorkerCopies) and envs.workers == 2
        frames, _ = envs.reset([0, 1], [0, 1])
        out = envs.step([0, 1], [0, 0])
    finally:
        envs.close()
    assert frames[0].shape == (224, 320, 3) and len(out.frames) == 2


def test_a_stopped_worker_is_a_clear_error():
    envs = WorkerCopies(EnvConfig(), 2, 2)
    try:
        envs.reset([0, 1], SEEDS[:2])
        envs.processes[1].kill()
        envs.processes[1].join()
        with pytest.raises(RuntimeError, match="game worker 1 of 2 stopped"):
            envs.step([0, 1], [0, 0])
    finally:
        envs.close()


def test_bad_process_counts_are_user_errors():
    with pytest.raises(UserError, match="env.n_jobs"):
        from_dict(EnvConfig, {"n_jobs": 0})
    assert from_dict(EnvConfig, {"n_jobs": -2}).n_jobs == -2  # all cores but one, as in gplearn
