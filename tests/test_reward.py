"""T-REX from ranked episodes, the symbolic reading of a reward, and play scored by a learned reward."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import learn_reward
from common.config import dump_yaml
from common.errors import UserError
from common.runs import RunFolder
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.regression import SymbolicRewardRegressor, affine_fit
from gplearn_custom.rl.fitness import play
from gplearn_custom.rl.lockstep import Lockstep
from pipeline.config import Config, load_config
from reward.trex import ClipBatch, LearnedReward, clip_returns, draw_pairs, reward_network, train_member
from teacher.agent import CHECKPOINTS, MODEL_FILE
from tests.helpers import PONG, untrained_teacher_run
from tests.test_finetune import SPEC, one_torch_thread, pong_forest  # noqa: F401  (an autouse fixture)


def test_pairs_join_differently_ranked_episodes_with_clips_inside_them():
    ranks, lengths = np.array([0, 0, 1, 2, 2]), np.array([30, 5, 12, 40, 8])
    pairs = draw_pairs(ranks, lengths, 500, 10, np.random.default_rng(0))
    i, j = pairs.first[:, 0], pairs.second[:, 0]
    assert np.all(ranks[i] != ranks[j])
    assert np.array_equal(pairs.label, (ranks[j] > ranks[i]).astype(int))
    assert np.array_equal(pairs.first[:, 2], pairs.second[:, 2])
    assert np.all(pairs.first[:, 2] == np.minimum(10, np.minimum(lengths[i], lengths[j])))
    for clips in (pairs.first, pairs.second):
        assert np.all(clips[:, 1] >= 0) and np.all(clips[:, 1] + clips[:, 2] <= lengths[clips[:, 0]])
    with pytest.raises(ValueError, match="two ranks"):
        draw_pairs(np.zeros(3), np.full(3, 10), 5, 4, np.random.default_rng(0))


def test_a_share_of_pairs_compares_whole_episodes_of_unequal_length():
    ranks, lengths = np.array([0, 0, 1, 2, 2]), np.array([30, 5, 12, 40, 8])
    pairs = draw_pairs(ranks, lengths, 1000, 10, np.random.default_rng(0), whole_share=0.3)
    whole = np.ones(len(pairs.label), bool)
    for clips in (pairs.first, pairs.second):
        whole &= (clips[:, 1] == 0) & (clips[:, 2] == lengths[clips[:, 0]])
    unequal = pairs.first[:, 2] != pairs.second[:, 2]  # every episode here has its own length
    assert np.array_equal(whole, unequal) and 0.25 < whole.mean() < 0.35
    assert np.array_equal(pairs.label, (ranks[pairs.second[:, 0]] > ranks[pairs.first[:, 0]]).astype(int))


def test_clip_returns_sum_each_clip_of_any_length():
    episodes = [np.arange(12, dtype=float).reshape(6, 2), np.arange(8, dtype=float).reshape(4, 2) + 100]
    batch = ClipBatch(episodes)
    clips = np.array([[0, 1, 3], [1, 0, 4], [0, 5, 1]])
    net = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.ones_(net.weight)
    expected = [episodes[0][1:4].sum(), episodes[1].sum(), episodes[0][5].sum()]
    assert np.allclose(clip_returns(net, batch, clips).detach().numpy(), expected)


def ranked_episodes(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Episodes of 3 features whose hidden per-state reward is x0 - x1 (x2 is noise); the rank of an
    episode is its true return's order, as better checkpoints score more."""
    rng = np.random.default_rng(seed)
    episodes = []
    for k in range(n):
        skill = k / n
        X = rng.normal(size=(int(rng.integers(20, 60)), 3))
        X[:, 0] += skill
        X[:, 1] -= skill
        episodes.append(X)
    true = np.array([(X[:, 0] - X[:, 1]).sum() for X in episodes])
    return episodes, true, np.argsort(np.argsort(true)).astype(float)


def test_trex_recovers_a_reward_that_ranks_unseen_episodes():
    episodes, _, ranks = ranked_episodes(40, 0)
    batch = ClipBatch(episodes)
    pairs = draw_pairs(ranks, np.array([len(e) for e in episodes]), 2000, 20, np.random.default_rng(1))
    torch.manual_seed(0)
    net = reward_network(3, 16)
    fitted = train_member(net, batch, pairs, 6, 64, 3e-3, 0.0, np.random.default_rng(2))
    assert fitted["pair_accuracy"] > 0.8
    test, true, _ = ranked_episodes(30, 5)
    with torch.no_grad():
        predicted = [net(torch.as_tensor(X, dtype=torch.float32)).sum().item() for X in test]
    assert np.corrcoef(predicted, true)[0, 1] > 0.9


def test_only_whole_episode_pairs_learn_that_shorter_games_are_better():
    """States that all look alike, episodes ranked by length alone (shorter is better): equal clips
    cannot tell two episodes apart, whole episodes can, through the reward's level."""
    lengths = np.arange(10, 50, 2)
    episodes = [np.ones((n, 2)) for n in lengths]
    ranks = -lengths.astype(float)
    for share, learns in ((0.0, False), (1.0, True)):
        torch.manual_seed(0)
        net = reward_network(2, 8)
        pairs = draw_pairs(ranks, lengths, 600, 8, np.random.default_rng(0), whole_share=share)
        fitted = train_member(net, ClipBatch(episodes), pairs, 5, 32, 1e-2, 0.0, np.random.default_rng(1))
        if learns:
            assert fitted["pair_accuracy"] > 0.95
            assert net(torch.ones(1, 2)).item() < 0  # each state costs: a shorter game sums higher
        else:
            assert fitted["loss"] == pytest.approx(np.log(2), abs=1e-5)  # every pair: two equal clips


def test_a_saved_learned_reward_loads_with_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    nets = [reward_network(SPEC.n_features, 8).eval() for _ in range(2)]
    X = np.random.default_rng(0).normal(size=(50, SPEC.n_features))
    reward = LearnedReward(SPEC, nets, 8, X.mean(axis=0), X.std(axis=0), input_clip=3.0)
    reward.standardise_on(X)
    members = (reward.members(X) - reward.out_mean[:, None]) / reward.out_std[:, None]
    assert np.allclose(members.mean(axis=1), 0, atol=1e-6) and np.allclose(members.std(axis=1), 1, atol=1e-6)
    reward.save(tmp_path)
    loaded = LearnedReward.load(tmp_path)
    assert np.array_equal(loaded.of_features(X), reward.of_features(X))
    assert loaded.spec == SPEC and len(loaded.of_features(X[:0])) == 0
    far, edge = (X.mean(axis=0) + k * X.std(axis=0) for k in (100, 3))  # 100 deviations out reads as 3
    assert np.array_equal(loaded.of_features(far[None]), loaded.of_features(edge[None]))


def test_the_symbolic_reward_finds_a_linear_reward_on_its_scale():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(500, 4))
    y = 3.0 * (X[:, 0] - 0.5 * X[:, 2]) + 1.0
    model = SymbolicRewardRegressor(population_size=200, generations=8, random_state=0).fit(X, y)
    assert model.r2_ > 0.99 and model.score(X, y) > 0.99
    assert np.allclose(model.predict(X), y, atol=0.1)
    assert "X0" in model.text() and "X2" in model.text() and model.program_.action_names == ["reward"]
    assert affine_fit(np.ones(5), np.arange(5.0)) == (0.0, 0.0, 2.0)  # a constant explains nothing


def test_a_learned_reward_replaces_the_score_for_every_state_acted_on():
    """Reward 1 per state: each episode's return is its length, whoever plays and beside whom."""
    config = Config()
    ones = Lockstep(config.env, SPEC, None, 3, reward=lambda states: np.ones(len(states)))
    game = Lockstep(config.env, SPEC, None, 3)
    try:
        forests = [pong_forest(0.02), pong_forest(0.3)]
        returns, lengths = play(forests, [7, 8], ones, 120)
        scores, same_lengths = play(forests, [7, 8], game, 120)
        # a lost point is the game's, never a learned reward's sign (these are all positive)
        cut_returns, cut_lengths = play(forests, [7, 8], ones, 400, end_on_loss=True)
        cut_scores, same_cut_lengths = play(forests, [7, 8], game, 400, end_on_loss=True)
    finally:
        ones.close()
        game.close()
    assert np.array_equal(returns, lengths) and np.array_equal(lengths, same_lengths)
    assert not np.array_equal(scores, returns)
    assert np.array_equal(cut_lengths, same_cut_lengths) and np.array_equal(cut_returns, cut_lengths)
    assert (cut_scores[1] == -1).any() and (cut_lengths[1] < 400).all()  # the weak player lost a point


def test_episodes_rank_by_their_demonstrator_or_by_their_score():
    from pipeline.reward import ranks
    from reward.demos import Demonstration

    episodes = [Demonstration("random", 0, 1, [], 3.0), Demonstration("ppo_5_steps.zip", 1, 1, [], -2.0)]
    assert list(ranks(episodes, "checkpoint")) == [0.0, 1.0]
    assert list(ranks(episodes, "return")) == [3.0, -2.0]


def test_config_rejects_a_bad_ranking_or_reward_choice():
    with pytest.raises(UserError, match="reward.rank_by"):
        load_config(PONG, ["reward.rank_by=score"])
    with pytest.raises(UserError, match="finetune.reward"):
        load_config(PONG, ["finetune.reward=teacher"])
    with pytest.raises(UserError, match="heldout_share"):
        load_config(PONG, ["reward.heldout_share=1.0"])
    with pytest.raises(UserError, match="whole_episode_share"):
        load_config(PONG, ["reward.whole_episode_share=1.5"])
    with pytest.raises(UserError, match="input_clip"):
        load_config(PONG, ["reward.input_clip=-1"])


def test_held_out_ranking_counts_ordered_pairs_and_the_ceiling_that_ties_set():
    from pipeline.reward import correlations
    from reporting.build import _reward_lines

    true, predicted = np.array([1.0, 1.0, 2.0, 3.0]), np.array([0.5, 0.2, 3.0, 2.0])
    found = correlations(predicted, true)
    assert found["pairs_ordered"] == pytest.approx(4 / 5)  # only the 2-point and 3-point games swap
    assert 0.9 < found["spearman_ceiling"] < 1  # the two 1-point games can only tie by chance
    tie_breaking = correlations(true + 0.01 * np.arange(4), true)  # every differently scored pair right
    assert tie_breaking["spearman"] == pytest.approx(found["spearman_ceiling"])
    assert correlations(predicted, np.ones(4))["pairs_ordered"] is None
    lines = _reward_lines({"heldout": found, "extrapolation": found, "symbolic_heldout": {},
                           "symbolic": {"size": 1, "program": "x"}})
    assert "0.8 of differently scored pairs in order" in lines and "(at most 0.949" in lines


# ----------------------------------------------------------------------------- the stage


@pytest.fixture(scope="module")
def run_with_checkpoints(tmp_path_factory):
    """A finished untrained teacher with two checkpoints and an oracle-typed dataset."""
    import generate_dataset

    config = load_config(PONG, ["teacher.n_envs=1", "teacher.features_dim=32"])
    run = untrained_teacher_run(tmp_path_factory.mktemp("runs") / "pong", config)
    (run / "teacher" / "config.yaml").write_text(dump_yaml(config))
    (run / "teacher" / CHECKPOINTS).mkdir()
    for steps in (100, 200):
        (run / "teacher" / CHECKPOINTS / f"ppo_{steps}_steps.zip").write_bytes(
            (run / "teacher" / MODEL_FILE).read_bytes())
    generate_dataset.main(["--config", str(PONG), "--run", str(run), "detector.source=oracle",
                           "dataset.n_steps=150", "dataset.cluster_frames=60", "dataset.chunk=64"])
    return run


SMALL = ["reward.episodes_per_checkpoint=3", "reward.max_episode_steps=40", "reward.pairs=100",
         "reward.ensemble=2", "reward.epochs=1", "reward.clip_length=8", "reward.symbolic_population=40",
         "reward.symbolic_generations=2", "reward.heldout_share=0.34",
         "reward.rank_by=checkpoint"]  # 40 steps of an untrained player score nothing to rank by


def test_the_stage_writes_the_reward_its_evaluation_and_its_program(run_with_checkpoints):
    run = run_with_checkpoints
    args = ["--config", str(PONG), "--run", str(run), *SMALL]
    report = learn_reward.main(args)
    out = run / "reward"
    for name in ("model.pt", "model.json", "program.json", "program.txt", "eval.json", "scatter.png",
                 "config.yaml", "complete.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "eval.json").read_text())
    episodes = saved["episodes"]
    assert len(episodes) == 3 * 3 and [d["name"] for d in saved["demonstrators"]] == [
        "random", "ppo_100_steps.zip", "ppo_200_steps.zip"]
    # the last checkpoint is only evaluated; the others keep two episodes each for training
    assert {e["part"] for e in episodes if e["source"] == "ppo_200_steps.zip"} == {"heldout"}
    assert sum(e["part"] == "train" for e in episodes) == 4
    assert saved["extrapolation"]["episodes"] == 3 and saved["heldout"]["episodes"] == 5
    assert all(e["length"] <= 40 for e in episodes)
    seeds = [e["seed"] for e in episodes]
    assert all(s not in range(1000, 10_000) for s in seeds) and len(set(seeds)) == 3
    loaded = LearnedReward.load(out)
    assert loaded.spec.names == FeatureSpec.from_dict(json.loads((out / "model.json").read_text())
                                                      ["feature_spec"]).names
    assert report["symbolic"]["size"] >= 1 and "reward (" in (out / "program.txt").read_text()
    with pytest.raises(UserError, match="--force"):
        learn_reward.main(args)


def test_learning_again_with_other_training_settings_replays_no_demonstration(run_with_checkpoints,
                                                                              monkeypatch):
    import reward.demos

    run = run_with_checkpoints
    if not (run / "reward" / "complete.json").is_file():
        learn_reward.main(["--config", str(PONG), "--run", str(run), *SMALL])
    before = json.loads((run / "reward" / "eval.json").read_text())
    assert len(list((run / "cache" / "demonstrations").glob("*.npz"))) == 3  # one per demonstrator

    def no_play(*args, **kwargs):
        raise AssertionError("a kept demonstration was played again")

    monkeypatch.setattr(reward.demos, "play", no_play)
    again = learn_reward.main(["--config", str(PONG), "--run", str(run), "--force", *SMALL, "reward.epochs=2",
                               "reward.episodes_per_checkpoint=2"])  # the first two of three kept
    assert again["demonstrators_from_cache"] == 3 and before["demonstrators_from_cache"] == 0
    kept = {(e["source"], e["seed"]): e for e in before["episodes"]}
    for e in again["episodes"]:
        assert {k: e[k] for k in ("length", "true_return")} == {
            k: kept[(e["source"], e["seed"])][k] for k in ("length", "true_return")}
    with pytest.raises(AssertionError, match="played again"):  # more than were kept: played anew
        learn_reward.main(["--config", str(PONG), "--run", str(run), "--force", *SMALL,
                           "reward.episodes_per_checkpoint=4"])
    monkeypatch.undo()
    learn_reward.main(["--config", str(PONG), "--run", str(run), "--force", *SMALL])  # as the next tests want


def test_the_demonstration_cache_gives_back_the_objects_exactly(tmp_path):
    from reward.demos import Demonstration, DemonstrationCache, Demonstrator

    source = Demonstrator("ppo_5_steps.zip", 5, None, "ppo_5_steps.zip:abc")
    obj = {"type": 2, "x_velocity": -0.125, "y_velocity": 1 / 3, "x_position": 10.5, "y_position": 7.0,
           "width": 1.0, "height": 9.0, "score": 0.9375}
    episodes = [Demonstration(source.name, 1, 7, [[obj, {**obj, "type": 0}], [], [obj]], 2.0),
                Demonstration(source.name, 1, 8, [[]], -1.0)]
    cache = DemonstrationCache(tmp_path, {"seed": 0})
    cache.save(source, episodes)
    assert cache.load(source, 1, 2) == episodes and cache.load(source, 1, 1) == episodes[:1]
    assert isinstance(cache.load(source, 1, 1)[0].states[0][0]["type"], int)
    assert cache.load(source, 1, 3) == []  # fewer kept than asked
    assert DemonstrationCache(tmp_path, {"seed": 1}).load(source, 1, 1) == []  # other settings
    other = Demonstrator(source.name, 5, None, "ppo_5_steps.zip:def")  # same name, other bytes
    assert cache.load(other, 1, 1) == []


def test_the_stage_refuses_too_few_ranks_before_writing(run_with_checkpoints, tmp_path):
    run = tmp_path / "run"
    RunFolder(run).create_marker("BuiltinPong-v0")
    with pytest.raises(UserError, match="no finished teacher"):
        learn_reward.main(["--config", str(PONG), "--run", str(run)])
    with pytest.raises(UserError, match="fewer than two ranks"):
        learn_reward.main(["--config", str(PONG), "--run", str(run_with_checkpoints), "--force", *SMALL,
                           "reward.include_random=false"])
    assert (run_with_checkpoints / "reward" / "complete.json").is_file()  # the finished stage is kept


def test_finetuning_on_the_learned_reward_needs_the_stage_and_reports_the_games_score(run_with_checkpoints):
    import distill_teacher
    import symbolic_finetuning
    from pipeline.finetune import reads
    from pipeline.run import WANTED
    from tests.test_pipeline import TINY

    run = run_with_checkpoints
    tiny = [a for a in TINY if a.startswith(("distill.", "finetune.", "evaluation."))]
    base = ["--config", str(PONG), "--run", str(run), *tiny]
    distill_teacher.main(base)
    learned = [*base, "finetune.reward=learned"]
    if not (run / "reward" / "complete.json").is_file():
        learn_reward.main([*base, *SMALL])
    report = symbolic_finetuning.main(learned)
    assert report["search_reward"] == "learned" and len(report["finetuned"]["returns"]) == 1
    wanting = load_config(PONG, ["finetune.reward=learned"])
    assert "reward" in reads(wanting) and "reward" not in reads(Config())
    assert WANTED["learn_reward"](wanting)
    assert not WANTED["learn_reward"](Config())
    (run / "reward" / "complete.json").unlink()
    with pytest.raises(UserError, match="no finished reward"):
        symbolic_finetuning.main([*learned, "--force"])
