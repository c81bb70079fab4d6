"""Stage III: the PPO-facing torch forest, reward fitness, fine-tuning, resume and the command line."""

import json

import numpy as np
import pytest
import torch
import yaml

from common.config import from_dict, to_dict
from common.errors import UserError
from common.runs import RunFolder
from envs.config import EnvConfig
from envs.evaluation import EvalConfig, evaluate
from gplearn_custom.config import DEFAULT_FUNCTION_SET
from gplearn_custom.evaluation import SymbolicAgent, evaluate_symbolic
from gplearn_custom.fitness import log_softmax
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS, ProgramSettings
from gplearn_custom.language.torch_forest import TorchForest
from gplearn_custom.language.variation import Variation
from gplearn_custom.rl import evolution
from gplearn_custom.rl.config import FinetuneConfig
from gplearn_custom.rl.evolution import RewardEvolution
from gplearn_custom.rl.fitness import episode_returns, play
from gplearn_custom.rl.lockstep import Lockstep
from gplearn_custom.rl.ppo import ConstantTuner, ValueNet, policy_log_probs, teacher_kl, with_biases
from see.object_types import TypeModel
from see.perception import Perception
from see.reader import agent_perceive
from see.tracking import Tracker
from space.config import DetectorConfig
from space.oracle import OracleSource
from symbolic_finetuning import main

F = FUNCTIONS
SPEC = FeatureSpec(("agent", "opponent", "ball"), (1, 1, 1), (64, 64), 3.0, agent_type=0)
ACTIONS = ["NOOP", "UP", "DOWN"]
EVAL_SEEDS = [1000, 1001, 1002]
# a fine-tuning run of a few seconds
TINY = dict(population_size=4, generations=2, episodes=2, max_episode_steps=120, selection_episodes=2,
            selection_candidates=2, selection_max_steps=200,
            p_ppo=0.3, ppo_updates=1, polish_updates=1, n_envs=2, n_steps=32, n_epochs=2, n_minibatches=2,
            kl_coef_start=0.0, objects="game")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Two threads on a shared 2-core machine make these small networks many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pong_forest(noop_bias: float = 0.02, scale: float = 20.0) -> SymbolicForest:
    """Move the paddle toward the ball unless it is within ``noop_bias`` of the image height."""
    i = SPEC.names.index
    programs = [[noop_bias], [F["neg"], i("ball[0].dy")], [i("ball[0].dy")]]
    return SymbolicForest(programs, SPEC.names, ACTIONS, list(DEFAULT_FUNCTION_SET), SPEC, scale)


def random_forest(seed: int) -> SymbolicForest:
    settings = ProgramSettings(list(FUNCTIONS.values()), SPEC.n_features, init_depth=(1, 4),
                               const_range=(-2.0, 2.0))
    rng = np.random.RandomState(seed)
    programs = [Variation(settings).grow(rng) for _ in ACTIONS]
    return SymbolicForest(programs, SPEC.names, ACTIONS, sorted(FUNCTIONS), SPEC, scale=1.7)


def features(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, SPEC.n_features)) * rng.choice([0.01, 1.0, 5.0], size=(n, SPEC.n_features))


def loss(module: TorchForest, X: torch.Tensor, actions: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """The forest's part of the PPO loss: log-probs of taken actions plus the teacher's KL."""
    log_probs = policy_log_probs(module, X)
    return log_probs.gather(1, actions[:, None]).mean() + teacher_kl(teacher, log_probs)


@pytest.mark.parametrize("seed", range(6))
def test_policy_log_probs_are_exactly_the_numpy_forests_softmax(seed):
    forest, X = random_forest(seed), features(seed=seed)
    with torch.no_grad():
        log_probs = policy_log_probs(TorchForest(forest), torch.from_numpy(X)).numpy()
    expected = log_softmax(forest.scale * forest.logits(X))
    np.testing.assert_allclose(log_probs, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_probs), forest.predict_proba(X), rtol=1e-9, atol=1e-12)
    assert np.array_equal(np.argmax(log_probs, axis=1), forest.predict(X))


@pytest.mark.parametrize("seed", range(-1, 6))
def test_constant_gradients_match_finite_differences(seed):
    forest = pong_forest() if seed < 0 else random_forest(seed)
    X = torch.from_numpy(features(50, seed + 1))
    rng = np.random.default_rng(seed + 1)
    actions = torch.from_numpy(rng.integers(3, size=50))
    teacher = torch.from_numpy(rng.dirichlet(np.ones(3), size=50))
    module = TorchForest(forest)
    loss(module, X, actions, teacher).backward()
    params = [*module.constants, module.log_scale]
    eps = 1e-6
    for param in params:
        grad = torch.zeros_like(param) if param.grad is None else param.grad  # only inside comparisons
        for k in range(param.numel()):
            flat = param.data.view(-1)
            original = flat[k].item()
            with torch.no_grad():
                flat[k] = original + eps
                up = loss(module, X, actions, teacher).item()
                flat[k] = original - eps
                down = loss(module, X, actions, teacher).item()
                flat[k] = original
            numeric = (up - down) / (2 * eps)
            assert grad.view(-1)[k].item() == pytest.approx(numeric, rel=1e-4, abs=1e-7)
    if seed < 0:  # the hand-made forest's NOOP bias does move the loss
        assert abs(module.constants[0].grad.item()) > 1e-3


def test_no_nan_gradient_with_zero_or_absent_object_features():
    states = [[], [{"type": 0, "x_position": 59.0, "y_position": 32.0, "x_velocity": 0.0, "y_velocity": 0.0}],
              [{"type": 2, "x_position": 0.0, "y_position": 0.0, "x_velocity": 0.0, "y_velocity": 0.0}]]
    X = torch.from_numpy(np.vstack([SPEC.transform(states), np.zeros((2, SPEC.n_features))]))
    teacher = torch.tensor([[1.0, 0.0, 0.0]] * len(X), dtype=torch.float64)  # zeros in the teacher too
    actions = torch.zeros(len(X), dtype=torch.int64)
    value = ValueNet(SPEC.n_features, 8, seed=0)
    for seed in range(20):
        module = TorchForest(random_forest(seed))
        total = loss(module, X, actions, teacher) + value(X).pow(2).mean()
        assert torch.isfinite(total)
        total.backward()
        for param in [*module.parameters(), *value.parameters()]:
            assert param.grad is None or torch.all(torch.isfinite(param.grad)), seed


def test_teacher_kl_is_zero_on_the_students_own_distribution_and_positive_otherwise():
    log_probs = torch.log_softmax(torch.randn(10, 3, dtype=torch.float64), dim=1)
    assert teacher_kl(log_probs.exp(), log_probs).item() == pytest.approx(0.0, abs=1e-12)
    other = torch.softmax(torch.randn(10, 3, dtype=torch.float64), dim=1)
    expected = (other * (other.log() - log_probs)).sum(1).mean()
    assert teacher_kl(other, log_probs).item() == pytest.approx(expected.item()) and expected > 0


def test_biases_give_every_program_a_constant_without_changing_its_outputs():
    i = SPEC.names.index
    forest = SymbolicForest([[i("ball[0].dy")], [F["mul"], 0.5, i("ball[0].y")], [F["neg"], i("agent[0].y")]],
                            SPEC.names, ACTIONS, list(DEFAULT_FUNCTION_SET), SPEC)
    biased = with_biases(forest, max_program_size=3)
    assert biased.constants() == [[0.0], [0.5], []]  # the third would exceed 3 nodes
    X = features()
    np.testing.assert_array_equal(biased.logits(X), forest.logits(X))


def test_kl_coefficient_goes_linearly_from_start_to_end_then_stays():
    cfg = FinetuneConfig(kl_coef_start=1.0, kl_coef_end=0.2, kl_coef_updates=4)
    assert [cfg.kl_coef(u) for u in (0, 2, 4, 9)] == pytest.approx([1.0, 0.6, 0.2, 0.2])
    assert FinetuneConfig(kl_coef_start=0.0, kl_coef_end=0.0).uses_teacher is False


def test_config_rejects_bad_values():
    for bad in ({"objects": "pixels"}, {"population_size": 0}, {"elitism": 24}, {"p_crossover": 0.9},
                {"p_ppo": 1.5}, {"init_depth": [3, 1]}, {"learning_rate": 0.0}):
        with pytest.raises(UserError, match="finetune"):
            from_dict(FinetuneConfig, bad)


def oracle_perception() -> Perception:
    return Perception(OracleSource("BuiltinPong-v0"), TypeModel(list(SPEC.type_names)), Tracker(8.0, 3))


@pytest.mark.parametrize("perception", [None, oracle_perception()], ids=["game", "perception"])
def test_lockstep_returns_equal_common_evaluation(perception):
    forests = [pong_forest(), pong_forest(0.2)]
    game = Lockstep(EnvConfig(), SPEC, perception, copies=4)  # fewer copies than episodes: two batches
    returns = episode_returns(forests, EVAL_SEEDS, game, max_steps=150)
    eval_cfg = EvalConfig(seeds=EVAL_SEEDS, max_steps=150)
    for forest, row in zip(forests, returns, strict=True):
        expected = evaluate(SymbolicAgent(forest, agent_perceive(perception)), EnvConfig(), eval_cfg).returns
        assert row.tolist() == expected
    assert returns[0].mean() > returns[1].mean()  # the perturbed forest plays worse


def test_episodes_ending_on_a_lost_point_stop_at_the_first_one():
    forests = [pong_forest(), pong_forest(0.2)]  # the second loses points, the first wins them
    game = Lockstep(EnvConfig(), SPEC, None, copies=6)
    whole, whole_lengths = play(forests, EVAL_SEEDS, game, 2000)
    cut, cut_lengths = play(forests, EVAL_SEEDS, game, 2000, end_on_loss=True)
    game.close()
    lost = whole < 5  # the game is to 5 points: a return below 5 lost at least one
    assert lost[1].all() and not lost[0].any()
    np.testing.assert_array_equal(cut[~lost], whole[~lost])  # no point lost: the whole game
    np.testing.assert_array_equal(cut_lengths[~lost], whole_lengths[~lost])
    # up to four points won, then the lost one ends the episode, before the game's end
    assert ((cut[lost] >= -1) & (cut[lost] <= 3)).all() and (cut_lengths[lost] < whole_lengths[lost]).all()


@pytest.mark.parametrize("perception", [None, oracle_perception()], ids=["game", "perception"])
def test_lockstep_evaluation_equals_playing_one_seed_after_the_other(perception):
    eval_cfg = EvalConfig(seeds=EVAL_SEEDS, max_steps=400)
    for forest in (pong_forest(), pong_forest(0.2)):
        together = evaluate_symbolic(forest, EnvConfig(), eval_cfg, perception)
        alone = evaluate(SymbolicAgent(forest, agent_perceive(perception)), EnvConfig(), eval_cfg)
        assert (together.returns, together.lengths) == (alone.returns, alone.lengths)


def run_search(cfg: FinetuneConfig, forest: SymbolicForest, checkpoint=None, on_generation=None):
    game = Lockstep(EnvConfig(), SPEC, None, cfg.population_size * cfg.episodes)
    tuner = ConstantTuner(cfg, Lockstep(EnvConfig(), SPEC, None, cfg.n_envs), None, EVAL_SEEDS, seed=0)
    return RewardEvolution(cfg, forest, game, tuner, EVAL_SEEDS, seed=0).run(checkpoint, on_generation)


def test_ppo_reports_approximate_kl_clip_fraction_and_explained_variance():
    cfg = FinetuneConfig(**{**TINY, "n_steps": 64, "n_epochs": 4})
    tuner = ConstantTuner(cfg, Lockstep(EnvConfig(), SPEC, None, cfg.n_envs), None, EVAL_SEEDS, seed=0)
    updates = []
    tuner.tune(with_biases(pong_forest(0.2), cfg.max_program_size), 3, 0, np.random.RandomState(0),
               lambda update, stats: updates.append(stats))
    assert len(updates) == 3
    for stats in updates:
        assert stats["approx_kl"] >= 0 and 0 <= stats["clip_fraction"] <= 1  # (r - 1) - log r >= 0
        assert stats["explained_variance"] <= 1
    assert any(stats["approx_kl"] > 0 for stats in updates)  # the constants moved the policy


def test_short_finetuning_does_not_lower_the_return_of_a_perturbed_forest():
    perturbed = pong_forest(noop_bias=0.2)
    cfg = FinetuneConfig(**{**TINY, "generations": 3, "population_size": 6})
    result = run_search(cfg, perturbed)
    # the output is the candidate of highest selection fitness (the distilled forest among them)
    assert "distilled" in result.selection
    assert result.chosen == max(result.selection, key=lambda name: result.selection[name]["fitness"])
    game = Lockstep(EnvConfig(), SPEC, None, 6)
    before, after = episode_returns([perturbed, result.forest], EVAL_SEEDS, game, 300).mean(axis=1)
    assert after >= before
    assert len(result.history) == cfg.generations


def still_forest() -> SymbolicForest:
    """A distilled forest that never moves the paddle: no mutation of it alone reads the ball."""
    return SymbolicForest([[1.0], [0.0], [0.0]], SPEC.names, ACTIONS, list(DEFAULT_FUNCTION_SET), SPEC, 1.0)


@pytest.mark.parametrize("fresh_share", [0.0, 0.5])
def test_first_population_mixes_the_distilled_forest_fresh_forests_and_mutants(fresh_share):
    cfg = FinetuneConfig(**{**TINY, "population_size": 8, "fresh_share": fresh_share})
    search = RewardEvolution(cfg, still_forest(), Lockstep(EnvConfig(), SPEC, None, 8), None, EVAL_SEEDS, 0)
    search._rng, search.env_steps = np.random.RandomState(0), 0
    population = search._initial()
    origins = [m.origin for m in population]
    assert len(population) == 8 and origins[0] == "distilled"
    assert origins.count("fresh") == round(fresh_share * 8)
    assert all(len(p) <= cfg.max_program_size for m in population for p in m.programs)
    lineages = [m.lineage for m in population]
    assert lineages.count("fresh") == origins.count("fresh")
    assert lineages.count("distilled") == 8 - lineages.count("fresh")


def test_fresh_forests_let_the_reward_find_a_player_the_distilled_forest_is_not():
    cfg = FinetuneConfig(**{**TINY, "population_size": 8, "generations": 2, "episodes": 2,
                            "max_episode_steps": 300, "p_ppo": 0.0, "polish_updates": 0})
    result = run_search(cfg, still_forest())
    assert result.chosen != "distilled"
    assert result.selection[result.chosen]["return_mean"] > result.selection["distilled"]["return_mean"]
    # a still paddle's mutants never read the ball: the player found descends from a fresh forest
    assert result.selection[result.chosen]["lineage"] in ("fresh", "mixed")
    assert result.selection["distilled"]["lineage"] == "distilled, unchanged"


def test_resume_after_an_interruption_ends_where_an_uninterrupted_run_ends(tmp_path):
    cfg = FinetuneConfig(**TINY)
    forest = pong_forest(noop_bias=0.1)
    whole = run_search(cfg, forest, tmp_path / "whole.json")

    def interrupt(stats):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, forest, tmp_path / "cut.json", interrupt)
    assert json.loads((tmp_path / "cut.json").read_text())["generation"] == 0
    resumed = run_search(cfg, forest, tmp_path / "cut.json")
    assert resumed.forest.to_json() == whole.forest.to_json()
    timeless = [[{k: v for k, v in h.items() if k != "seconds"} for h in r.history] for r in (resumed, whole)]
    assert timeless[0] == timeless[1] and resumed.selection == whole.selection
    with pytest.raises(UserError, match="--force"):
        run_search(FinetuneConfig(**{**TINY, "episodes": 3}), forest, tmp_path / "cut.json")


# ----------------------------------------------------------------------------- command line


def write_oracle_meta(folder):
    """``dataset.meta.json`` as generate_dataset.py writes it for the oracle object source."""
    meta = {"env_id": "BuiltinPong-v0", "detector": to_dict(DetectorConfig(source="oracle")),
            "types": TypeModel(list(SPEC.type_names)).to_dict(), "tracking": {"gate": 8.0, "memory": 3},
            "object_types": list(SPEC.type_names)}
    (folder / "dataset.meta.json").write_text(json.dumps(meta))


def make_run(folder, forest: SymbolicForest, **finetune):
    """A run folder with a finished distill stage and a config for a tiny fine-tuning run."""
    RunFolder(folder).create_marker("BuiltinPong-v0")
    forest.save(folder / "distill" / "program.json")
    (folder / "distill" / "complete.json").write_text("{}")
    config = folder.parent / f"{folder.name}.yaml"
    config.write_text(yaml.safe_dump({"seed": 0, "env": {"id": "BuiltinPong-v0"},
                                      "evaluation": {"seeds": EVAL_SEEDS, "max_steps": 150},
                                      "finetune": {**TINY, **finetune}}))
    return ["--config", str(config), "--run", str(folder)]


def test_cli_writes_every_artifact_and_resumes(tmp_path, monkeypatch):
    args = make_run(tmp_path / "pong", pong_forest(0.2), objects="perception")
    write_oracle_meta(tmp_path / "pong")
    saves = {"n": 0}
    original = RewardEvolution._save

    def save_then_stop(self, *a, **k):
        original(self, *a, **k)
        saves["n"] += 1
        if saves["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(evolution.RewardEvolution, "_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    with pytest.raises(UserError, match="--resume"):
        main(args)
    report = main([*args, "--resume"])
    out = tmp_path / "pong" / "finetune"
    for name in ("program.json", "program.txt", "policy.py", "eval.json", "complete.json", "config.yaml",
                 "checkpoint.json"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    saved = json.loads((out / "eval.json").read_text())
    assert saved["finetuned"]["returns"] == report["finetuned"]["returns"]
    assert len(saved["distilled"]["returns"]) == len(EVAL_SEEDS) and saved["teacher"] is None
    assert saved["finetuned"]["size"] == SymbolicForest.load(out / "program.json").size
    assert saved["search_objects"] == saved["evaluation_objects"] == "perception"
    assert saved["chosen"] in saved["selection"]
    assert len(saved["history"]) == TINY["generations"]
    with pytest.raises(UserError, match="--force"):
        main(args)


def test_cli_searches_on_game_objects_but_selects_and_evaluates_through_perception(tmp_path):
    args = make_run(tmp_path / "pong", pong_forest(0.2), objects="game")
    write_oracle_meta(tmp_path / "pong")
    report = main(args)
    assert report["search_objects"] == "game" and report["evaluation_objects"] == "perception"
    assert report["finetuned"]["return_mean"] >= report["distilled"]["return_mean"]


def test_cli_reports_missing_inputs(tmp_path):
    args = make_run(tmp_path / "pong", pong_forest(), objects="perception")
    with pytest.raises(UserError, match="dataset.meta.json"):
        main(args)
    with pytest.raises(UserError, match="teacher"):
        main([*args, "finetune.objects=game", "finetune.kl_coef_start=0.5"])
    (tmp_path / "pong" / "distill" / "complete.json").unlink()
    with pytest.raises(UserError, match="distill_teacher.py"):
        main(args)
    assert not (tmp_path / "pong" / "finetune").exists()


def test_the_scripted_ceiling_wins_every_game_and_is_named_privileged():
    from pipeline.config import Config
    from pipeline.finetune import scripted_return

    config = from_dict(Config, {"evaluation": {"seeds": [1000, 1001], "max_steps": 2000}})
    ceiling = scripted_return(config)
    assert ceiling["privileged"] and ceiling["returns"] == [5.0, 5.0]  # 5 points is the game's maximum
    assert scripted_return(from_dict(Config, {"env": {"hide_truth": True}})) is None
