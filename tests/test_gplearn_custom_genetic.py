"""Evolution of forests: learns the scripted Pong teacher, reproducible, resumable, size-limited."""

import json
import os

import numpy as np
import pytest

from common.devices import cores
from gplearn_custom.constants import ConstantOptimizer
from gplearn_custom.fitness import DistillationLoss, cross_entropy, soften
from gplearn_custom.genetic import SymbolicPolicyDistiller
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS
from see.synthetic import scripted_pong_dataset


@pytest.fixture(scope="module")
def pong():
    entries, meta = scripted_pong_dataset(episodes=4, seed=0, max_steps=300)
    states = [e["state"] for e in entries]
    spec = FeatureSpec.fit(states, meta["object_types"], meta["image_size"], agent_type=0)
    probs = np.array([e["teacher_probs"] for e in entries])
    return spec, spec.transform(states), probs


def estimator(spec, **kwargs):
    settings = dict(population_size=150, generations=6, random_state=3, feature_names=spec.names,
                    action_names=["NOOP", "UP", "DOWN"], feature_spec=spec, temperature=0.3)
    settings.update(kwargs)
    return SymbolicPolicyDistiller(**settings)


def test_learns_the_scripted_teacher(pong):
    spec, X, probs = pong
    est = estimator(spec, population_size=400, generations=15, random_state=0).fit(X, probs)
    majority = np.bincount(probs.argmax(1)).max() / len(probs)
    agreement = np.mean(est.predict(X) == probs.argmax(1))
    assert agreement > max(0.9, majority + 0.2)
    assert agreement == pytest.approx(est.run_details_[-1]["best_agreement"])
    assert all(size <= 30 for size in est.forest_.sizes)
    assert est.forest_.feature_spec == spec
    fitness = [d["best_fitness"] for d in est.run_details_]
    assert fitness == sorted(fitness, reverse=True)  # elitism: the best never gets worse


def test_same_seed_same_run_other_seed_other_run(pong):
    spec, X, probs = pong
    a, b = estimator(spec).fit(X, probs), estimator(spec).fit(X, probs)
    c = estimator(spec, random_state=4).fit(X, probs)
    assert a.forest_.programs == b.forest_.programs
    assert [d["best_fitness"] for d in a.run_details_] == [d["best_fitness"] for d in b.run_details_]
    assert [d["average_fitness"] for d in a.run_details_] != [d["average_fitness"] for d in c.run_details_]


@pytest.mark.parametrize("strategy", ["joint", "coordinate"])
def test_resume_from_checkpoint_equals_an_uninterrupted_run(pong, tmp_path, strategy):
    spec, X, probs = pong
    whole = estimator(spec, strategy=strategy, generations=6).fit(X, probs)
    path = tmp_path / "checkpoint.json"
    estimator(spec, strategy=strategy, generations=3).fit(X, probs, checkpoint=path)  # "interrupted"
    assert json.loads(path.read_text())["generation"] == 2
    resumed = estimator(spec, strategy=strategy, generations=6).fit(X, probs, checkpoint=path)
    assert resumed.forest_.programs == whole.forest_.programs
    assert resumed.best_fitness_ == whole.best_fitness_
    strip = [{k: v for k, v in d.items() if k not in ("seconds", "evaluations")} for d in whole.run_details_]
    assert [{k: v for k, v in d.items() if k not in ("seconds", "evaluations")}
            for d in resumed.run_details_] == strip


@pytest.mark.parametrize("every", [0.0, float("inf")])
def test_an_interrupted_run_replays_from_its_last_checkpoint(pong, tmp_path, monkeypatch, every):
    """Checkpoints are written at most every ``checkpoint_seconds``: after an interruption the search
    replays from the generation written (the one before it: 0 s; none at all: inf) and ends where an
    uninterrupted run ends."""
    spec, X, probs = pong
    whole = estimator(spec, generations=6).fit(X, probs)
    monkeypatch.setattr(SymbolicPolicyDistiller, "checkpoint_seconds", every)
    path = tmp_path / "checkpoint.json"

    def interrupt(stats, _):
        if stats["generation"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        estimator(spec, generations=6).fit(X, probs, checkpoint=path, callback=interrupt)
    assert (json.loads(path.read_text())["generation"] == 3) if every == 0 else not path.exists()
    resumed = estimator(spec, generations=6).fit(X, probs, checkpoint=path)
    assert resumed.forest_.programs == whole.forest_.programs
    assert resumed.best_fitness_ == whole.best_fitness_


def test_checkpoint_of_other_settings_is_refused(pong, tmp_path):
    spec, X, probs = pong
    path = tmp_path / "checkpoint.json"
    estimator(spec, generations=2).fit(X, probs, checkpoint=path)
    with pytest.raises(ValueError, match="other data or settings"):
        estimator(spec, generations=4, parsimony_coefficient=0.1).fit(X, probs, checkpoint=path)


def test_actions_as_labels_and_warm_start(pong):
    spec, X, probs = pong
    actions = probs.argmax(1)
    good = SymbolicForest([[0.0234], [FUNCTIONS["neg"], spec.names.index("ball[0].dy")],
                           [spec.names.index("ball[0].dy")]], spec.names, ["NOOP", "UP", "DOWN"],
                          ["neg"], spec)
    assert np.mean(good.predict(X) == actions) > 0.95
    est = estimator(spec, population_size=30, generations=1).fit(X, actions, initial_forests=[good])
    assert np.mean(est.predict(X) == actions) >= np.mean(good.predict(X) == actions)


def test_bad_arguments_raise_value_errors(pong):
    spec, X, probs = pong
    with pytest.raises(ValueError, match="strategy"):
        estimator(spec, strategy="greedy").fit(X, probs)
    with pytest.raises(ValueError, match="states"):
        estimator(spec).fit(X[:10], probs)
    with pytest.raises(ValueError, match="sum"):
        estimator(spec, p_crossover=0.9, p_point_mutation=0.5).fit(X, probs)


def test_fitness_uses_the_best_scale():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 3))
    probs = np.exp(4 * logits) / np.exp(4 * logits).sum(1, keepdims=True)
    target = soften(probs, 1.0)
    score = DistillationLoss(target, probs.argmax(1))(list(logits.T))
    assert score.scale == pytest.approx(4.0, rel=2e-2)  # the search stops within 1e-5 nats
    assert score.loss == pytest.approx(cross_entropy(score.scale * logits, target), abs=1e-9)
    for s in (score.scale * 0.9, score.scale * 1.1):
        assert cross_entropy(s * logits, target) > score.loss
    assert score.agreement == 1.0


def test_a_batch_of_forests_scores_each_as_alone_bit_for_bit():
    rng = np.random.default_rng(1)
    n, actions = 700, 4
    probs = rng.dirichlet(np.full(actions, 0.3), n)
    forests = [[rng.normal(size=n) * rng.uniform(0.1, 5) for _ in range(actions)] for _ in range(23)]
    forests.append([np.zeros(n)] * actions)  # ties everywhere: the first action is chosen
    weights = rng.uniform(0.5, 2.0, n)
    alone = DistillationLoss(soften(probs, 0.3), probs.argmax(1), weights)
    small_blocks = DistillationLoss(soften(probs, 0.3), probs.argmax(1), weights,
                                    block_bytes=3 * 8 * n * actions)
    expected = [alone(f) for f in forests]
    assert alone.many(forests) == expected == small_blocks.many(forests)
    assert expected[-1].agreement == np.mean(probs.argmax(1) == 0)
    logits = np.stack(forests[0], axis=1)
    assert expected[0].agreement == np.mean(logits.argmax(1) == probs.argmax(1))


def test_states_of_no_weight_do_not_move_the_score():
    """Decisive weights are 0 on most states: the scale and the loss are those of the weighted states
    alone (the scale's probe states are drawn among them, not among states that count for nothing)."""
    rng = np.random.default_rng(2)
    n, actions = 3000, 3
    probs = rng.dirichlet(np.full(actions, 0.5), n)
    weights = (rng.uniform(size=n) < 0.2).astype(float)
    kept = weights > 0
    forest = [rng.normal(size=n) for _ in range(actions)]
    target = soften(probs, 0.3)
    weighted = DistillationLoss(target, probs.argmax(1), weights, scale_states=200)
    alone = DistillationLoss(target[kept], probs.argmax(1)[kept], scale_states=200)
    assert kept[weighted.probe].all() and len(weighted.probe) == 200
    full, part = weighted(forest), alone([f[kept] for f in forest])
    assert full.scale == pytest.approx(part.scale, rel=1e-9)
    assert full.loss == pytest.approx(part.loss, rel=1e-9)


def test_constant_tuning_fixes_a_misplaced_threshold(pong):
    spec, X, probs = pong
    dy = spec.names.index("ball[0].dy")
    forest = SymbolicForest([[0.2], [FUNCTIONS["neg"], dy], [dy]], spec.names, ["NOOP", "UP", "DOWN"],
                            ["neg"], spec)
    actions = probs.argmax(1)
    forest.scale = DistillationLoss(soften(probs, 0.3), actions)(list(forest.logits(X).T)).scale  # as in fit
    tuned = ConstantOptimizer(X, soften(probs, 0.3))(forest)
    assert np.mean(forest.predict(X) == actions) < 0.8 < 0.95 < np.mean(tuned.predict(X) == actions)
    assert 0.01 < tuned.constants()[0][0] < 0.04  # the paddle's dead zone: 1.5 of 64 pixels
    assert tuned.programs[1:] == forest.programs[1:] and tuned.scale > forest.scale
    no_constants = SymbolicForest([[dy], [dy], [dy]], spec.names, ["NOOP", "UP", "DOWN"], [], spec)
    assert ConstantOptimizer(X, soften(probs, 0.3))(no_constants) is None


def test_a_scikit_learn_classifier_whose_warm_start_continues_one_run(pong):
    from sklearn.base import clone, is_classifier

    spec, X, probs = pong
    est = estimator(spec, generations=2, warm_start=True)
    assert is_classifier(est) and clone(est).get_params() == est.get_params()
    est.fit(X, probs)
    assert list(est.classes_) == [0, 1, 2]
    assert est.score(X, probs) == pytest.approx(est.run_details_[-1]["best_agreement"])
    assert est.score(X, probs.argmax(1)) == est.score(X, probs)
    est.set_params(generations=5).fit(X, probs)  # three more generations, same population and stream
    longer = estimator(spec, generations=5).fit(X, probs)
    assert len(est.run_details_) == 5 and est.forest_.programs == longer.forest_.programs
    with pytest.raises(ValueError, match="fewer"):
        est.set_params(generations=3).fit(X, probs)
    with pytest.raises(ValueError, match="same data"):
        est.set_params(generations=6).fit(X[:-1], probs[:-1])


def test_threads_evaluate_the_same_forests(pong):
    spec, X, probs = pong
    one, two = (estimator(spec, generations=3, n_jobs=n).fit(X, probs) for n in (1, 2))
    assert one.forest_.programs == two.forest_.programs and one.n_evaluations_ == two.n_evaluations_
    with pytest.raises(ValueError, match="n_jobs"):
        estimator(spec, n_jobs=0).fit(X, probs)


def test_n_jobs_counts_cores_as_gplearn_does(monkeypatch):
    """A number of cores, or counted back from every core (joblib's rule, gplearn's n_jobs)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert [cores(n) for n in (1, 3, -1, -2, -4, -9)] == [1, 3, 4, 3, 1, 1]


def test_soft_judges_move_a_threshold_inside_a_comparison_that_hard_ones_cannot():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(600, 1))
    acts = (X[:, 0] > 0.6).astype(int)  # the teacher acts when the feature passes 0.6
    target = soften(np.eye(2)[acts] * 0.98 + 0.01, 1.0)
    forest = SymbolicForest([[0.0], [FUNCTIONS["gt"], 0, 0.3]], ["x"], ["wait", "act"], ["gt"], None, 5.0)
    hard = ConstantOptimizer(X, target)(forest)
    soft = ConstantOptimizer(X, target, soft_temperature=0.05)(forest)
    assert hard.programs[1][2] == 0.3  # no gradient reaches a threshold through a hard step
    assert 0.55 < soft.programs[1][2] < 0.65
    assert np.mean(soft.predict(X) == acts) > 0.97 > 0.8 > np.mean(forest.predict(X) == acts)
