"""How a symbolic policy is measured: agreement, size, speed and return in the game.

``evaluate_symbolic`` plays every evaluation seed at once in lockstep, so a learned detector runs
on batches of frames; the returns are those of ``envs.evaluation.evaluate`` playing a
``SymbolicAgent`` one seed after the other (tested). The whole agent's steps per second are timed
the way it plays, one frame at a time. ``true_objects`` reads a built-in game's own objects.
"""

from __future__ import annotations

import time

import numpy as np

from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from see.reader import Perceive, agent_perceive, true_objects


class SymbolicAgent:
    """A forest that plays from frames: perception -> objects -> features -> argmax."""

    def __init__(self, forest: SymbolicForest, perceive: Perceive = true_objects):
        self.forest = forest
        self.perceive = perceive

    def reset(self) -> None:
        reset = getattr(self.perceive, "reset", None)
        if reset is not None:
            reset()

    def act(self, frame: np.ndarray, info: dict) -> int:
        return int(self.forest.act_objects([self.perceive(frame, info)])[0])


def evaluate_symbolic(forest: SymbolicForest, env_cfg, eval_cfg, perception=None):
    """``EvalResult`` of greedy play on the evaluation seeds, all in lockstep, through ``perception``
    (``None``: the game's own objects)."""
    from envs.evaluation import play_seeds  # the game stack is only needed here
    from gplearn_custom.rl.lockstep import ForestPlayers, Lockstep

    game = Lockstep(env_cfg, forest.feature_spec, perception, len(eval_cfg.seeds))
    return play_seeds(ForestPlayers([forest], game), game.envs, eval_cfg)


def selection_player(env_cfg, eval_cfg, spec: FeatureSpec, perception, episodes: int, max_steps: int,
                     seed: int, max_copies: int = 32):
    """A function forests -> mean return of each over ``episodes`` whole games on seeds drawn from
    ``seed``, none of them an evaluation seed, so choosing by it leaves the reported return unbiased;
    every forest plays the same seeds, all in one lockstep game through ``perception``."""
    from gplearn_custom.rl.fitness import selection_returns
    from gplearn_custom.rl.lockstep import Lockstep

    def mean_returns(forests: list[SymbolicForest]) -> np.ndarray:
        game = Lockstep(env_cfg, spec, perception, min(len(forests) * episodes, max_copies))
        try:
            rng = np.random.RandomState(seed)
            returns = selection_returns(forests, rng, episodes, set(eval_cfg.seeds), game, max_steps)
            return returns.mean(axis=1)
        finally:
            game.close()

    return mean_returns


def evaluate_policy_return(forest: SymbolicForest, env_cfg, eval_cfg, perception=None,
                           speed_steps: int = 300) -> dict:
    """Return over the evaluation seeds (lockstep) and steps/s of the whole agent playing one frame
    at a time (perception, features, decision) over ``speed_steps`` steps of the first seed."""
    from envs.evaluation import EvalConfig, evaluate

    summary = evaluate_symbolic(forest, env_cfg, eval_cfg, perception).summary()
    timed = evaluate(SymbolicAgent(forest, agent_perceive(perception)), env_cfg,
                     EvalConfig(seeds=list(eval_cfg.seeds[:1]), max_steps=speed_steps))
    return {**summary, "agent_steps_per_second": timed.decisions_per_second}


DECISIVE = 0.9  # a state is decisive where the teacher's top action has at least this probability


def criticality(probs: np.ndarray) -> np.ndarray:
    """How much the action matters in each state, VIPER-style: the gap between the teacher's log
    probabilities of its best and its worst action. (VIPER weighs by Q-value gaps; a PPO teacher has
    a state value only, and its logits are the advantage-like quantity it has.)"""
    log_probs = np.log(np.clip(probs, 1e-8, 1.0))
    return log_probs.max(axis=1) - log_probs.min(axis=1)


STATE_WEIGHTS = ("uniform", "critical", "decisive")


def state_weights(probs: np.ndarray, kind: str) -> np.ndarray | None:
    """The fitness weight of each state (``distill.state_weights``); None: all states alike.
    "decisive" keeps only the states where the teacher is sure (weight 1, others 0): where it
    hesitates, its soft targets pull a small program towards ties instead of towards its choice."""
    if kind == "uniform":
        return None
    weights = criticality(probs) if kind == "critical" else (probs.max(axis=1) >= DECISIVE).astype(float)
    if not weights.sum() > 0:
        return None  # a teacher indifferent everywhere: nothing to weigh by
    return weights


def agreement_measures(predicted: np.ndarray, actions: np.ndarray, probs: np.ndarray | None = None) -> dict:
    """Plain agreement and, given the teacher's distributions, agreement on decisive states (top
    probability >= ``DECISIVE``) and criticality-weighted agreement: where a student's choice matters."""
    hits = predicted == actions
    out = {"agreement": float(np.mean(hits))}
    if probs is not None:
        decisive = probs.max(axis=1) >= DECISIVE
        weights = criticality(probs)
        out.update(decisive_agreement=float(np.mean(hits[decisive])) if decisive.any() else None,
                   decisive_share=float(np.mean(decisive)),
                   critical_agreement=float(weights @ hits / weights.sum()) if weights.sum() > 0 else None)
    return out


def agreement_report(forest: SymbolicForest, X: np.ndarray, actions: np.ndarray,
                     probs: np.ndarray | None = None) -> dict:
    """``agreement_measures`` and the agreement per teacher action (recall of each action)."""
    predicted = forest.predict(X)
    per_action = {
        name: float(np.mean(predicted[actions == a] == a)) if np.any(actions == a) else None
        for a, name in enumerate(forest.action_names)
    }
    return {**agreement_measures(predicted, actions, probs), "agreement_per_action": per_action,
            "states": int(len(actions))}


def decisions_per_second(forest: SymbolicForest, X: np.ndarray, states: list[list[dict]],
                         n: int = 2000) -> dict:
    """Batch-1 decisions/s of the policy alone: compiled to plain Python (``scalar``) and through
    numpy from features, and from objects (numpy features built, then the compiled forest)."""
    from gplearn_custom.language.scalar import compile_forest

    decide = compile_forest(forest)
    rows = [X[i % len(X)] for i in range(n)]
    start = time.perf_counter()
    for row in rows:
        forest.predict(row)
    numpy_path = n / (time.perf_counter() - start)
    vectors = [row.tolist() for row in rows] * 20  # a microsecond each: time enough of them to be steady
    start = time.perf_counter()
    for vector in vectors:
        decide(vector)
    compiled = len(vectors) / (time.perf_counter() - start)
    picked = [[states[i % len(states)]] for i in range(n)]
    start = time.perf_counter()
    spec = forest.feature_spec
    for state in picked:
        decide(spec.transform(state)[0].tolist())
    from_objects = n / (time.perf_counter() - start)
    return {"policy_decisions_per_second": compiled, "policy_numpy_decisions_per_second": numpy_path,
            "policy_with_features_decisions_per_second": from_objects}
