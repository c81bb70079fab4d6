"""PPO on a forest's constants, with the teacher's soft supervision (DiffSES's differentiable search).

The policy is exactly the forest's action distribution, ``softmax(scale * logits)``, computed by
``TorchForest`` (hard judges, so it equals the numpy forest): its parameters are the programs'
constants and the scale, and nothing is added to it that would be dropped later. The value
function is a separate small MLP on the same features, used only here. The loss follows CleanRL's
PPO (clipped surrogate, value loss, entropy bonus) plus ``kl_coef * KL(teacher || student)`` on
the visited states, the teacher being queried on the very frames the student saw. Tuning starts
from the scale ``ppo_scale``: the greedy action does not depend on the scale, and the distilled
one, fitted to the teacher's sharpness, may explore too little (or sample near-random play).

A program without constants gets one first (``with_biases``: ``add(program, 0.0)``, the same
outputs), so PPO can shift that action's logit. Constants inside comparisons (``gt``, ``ifgt``) get
no gradient in hard mode; the genetic constant mutation moves those. All randomness comes from
the caller's ``RandomState``, so a run is reproducible and resumable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from common.seeds import draw_selection_seeds
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS
from gplearn_custom.language.torch_forest import TorchForest
from gplearn_custom.rl.config import FinetuneConfig
from gplearn_custom.rl.lockstep import Lockstep
from teacher.agent import BatchTeacher

DTYPE = torch.float64
RolloutState = tuple[np.ndarray, list[np.ndarray], np.ndarray]  # features, frames, running returns


def with_biases(forest: SymbolicForest, max_program_size: int) -> SymbolicForest:
    """Each program that holds no constant becomes ``add(program, 0.0)`` (if it stays within
    ``max_program_size``): identical logits, and a constant for PPO to move that action's logit."""
    programs = [list(p) if any(isinstance(n, float) for n in p) or len(p) + 2 > max_program_size
                else [FUNCTIONS["add"], *p, 0.0] for p in forest.programs]
    return SymbolicForest(programs, forest.feature_names, forest.action_names, forest.function_names,
                          forest.feature_spec, forest.scale)


def policy_log_probs(module: TorchForest, features: torch.Tensor) -> torch.Tensor:
    """log softmax(scale * logits): the forest's own action distribution (B, n_actions)."""
    return torch.log_softmax(module.log_scale.exp() * module(features), dim=1)


def teacher_kl(teacher_probs: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """Mean over states of KL(teacher || student) = sum_a t_a (log t_a - log s_a)."""
    return (torch.xlogy(teacher_probs, teacher_probs) - teacher_probs * log_probs).sum(dim=1).mean()


class ValueNet(nn.Module):
    """Features -> state value; a critic for PPO only, never part of the symbolic policy."""

    def __init__(self, n_features: int, hidden: int, seed: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                 nn.Tanh(), nn.Linear(hidden, 1)).to(DTYPE)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer, gain in zip(self.net[::2], (np.sqrt(2), np.sqrt(2), 1.0), strict=True):
                nn.init.orthogonal_(layer.weight, gain, generator=generator)
                layer.bias.zero_()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


@dataclass
class Rollout:
    """``n_steps`` x ``n_envs`` transitions, flattened after the advantages are computed."""

    features: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray
    teacher_probs: np.ndarray | None
    episode_returns: list[float]


class ConstantTuner:
    """Tunes forests' constants with PPO on ``game`` (``n_envs`` copies) against one shared critic.

    The critic persists across calls, since the forests tuned during one stage are close to one
    another; ``value_state``/``load_value_state`` carry it through checkpoints.
    """

    def __init__(self, cfg: FinetuneConfig, game: Lockstep, teacher: BatchTeacher | None,
                 exclude_seeds: Collection[int], seed: int):
        self.cfg = cfg
        self.game = game
        self.teacher = teacher
        self.exclude = set(exclude_seeds)
        self.value = ValueNet(game.spec.n_features, cfg.value_hidden, seed)

    def tune(self, forest: SymbolicForest, updates: int, first_update: int, rng: np.random.RandomState,
             log: Callable[[int, dict], None] | None = None) -> SymbolicForest:
        """``updates`` PPO updates of ``forest``'s constants; ``first_update`` indexes the KL schedule."""
        if updates == 0:
            return forest
        cfg = self.cfg
        module = TorchForest(forest)
        with torch.no_grad():
            module.log_scale.fill_(float(np.log(cfg.ppo_scale)))
        optimizer = torch.optim.Adam([
            {"params": list(module.parameters()), "lr": cfg.learning_rate},
            {"params": list(self.value.parameters()), "lr": cfg.value_learning_rate},
        ])
        copies = np.arange(cfg.n_envs)
        state = self._reset(copies, rng)
        for u in range(updates):
            rollout, state = self._collect(module, state, rng)
            kl_coef = cfg.kl_coef(first_update + u) if self.teacher is not None else 0.0
            stats = self._update(module, optimizer, rollout, kl_coef, rng)
            if log is not None:
                log(first_update + u, stats)
        return module.to_forest()

    # ----------------------------------------------------------------------------- rollouts

    def _reset(self, copies: np.ndarray, rng: np.random.RandomState) -> RolloutState:
        seeds = draw_selection_seeds(rng, len(copies), self.exclude)
        features, frames = self.game.reset(copies, seeds)
        if self.teacher is not None:
            for copy in copies:
                self.teacher.reset(int(copy))
        return features, frames, np.zeros(len(copies))

    def _collect(self, module: TorchForest, state: RolloutState,
                 rng: np.random.RandomState) -> tuple[Rollout, RolloutState]:
        cfg = self.cfg
        features, frames, running = state
        copies = np.arange(cfg.n_envs)
        T, N = cfg.n_steps, cfg.n_envs
        X = np.zeros((T, N, features.shape[1]))
        actions = np.zeros((T, N), dtype=np.int64)
        log_probs, values, rewards, dones = (np.zeros((T, N)) for _ in range(4))
        teacher = np.zeros((T, N, module.forest.n_actions)) if self.teacher is not None else None
        finished: list[float] = []
        for t in range(T):
            X[t] = features
            if teacher is not None:
                teacher[t] = self.teacher.probs(frames, copies)
            with torch.no_grad():
                x = torch.from_numpy(features)
                logp = policy_log_probs(module, x).numpy()
                values[t] = self.value(x).numpy()
            actions[t] = _sample(np.exp(logp), rng)
            log_probs[t] = logp[copies, actions[t]]
            out = self.game.step(copies, actions[t])
            rewards[t] = out.rewards
            running += out.rewards
            cut = out.truncated & ~out.terminated
            if cut.any():  # a time limit is not an end: bootstrap from the last observation
                with torch.no_grad():
                    rewards[t, cut] += cfg.gamma * self.value(torch.from_numpy(out.features[cut])).numpy()
            done = out.terminated | out.truncated
            dones[t] = done
            features, frames = out.features, out.frames
            if done.any():
                ended = copies[done]
                finished.extend(running[done].tolist())
                new_features, new_frames, _ = self._reset(ended, rng)
                features = features.copy()
                features[done] = new_features
                for k, copy in enumerate(ended):
                    frames[copy] = new_frames[k]
                running[done] = 0.0
        with torch.no_grad():
            last_value = self.value(torch.from_numpy(features)).numpy()
        advantages = _gae(rewards, values, dones, last_value, cfg.gamma, cfg.gae_lambda)
        rollout = Rollout(
            features=X.reshape(T * N, -1), actions=actions.reshape(-1), log_probs=log_probs.reshape(-1),
            advantages=advantages.reshape(-1), returns=(advantages + values).reshape(-1),
            teacher_probs=None if teacher is None else teacher.reshape(T * N, -1), episode_returns=finished,
        )
        return rollout, (features, frames, running)

    # ----------------------------------------------------------------------------- update

    def _update(self, module: TorchForest, optimizer: torch.optim.Optimizer, rollout: Rollout,
                kl_coef: float, rng: np.random.RandomState) -> dict:
        cfg = self.cfg
        X = torch.from_numpy(rollout.features)
        actions = torch.from_numpy(rollout.actions)
        old_log_probs = torch.from_numpy(rollout.log_probs)
        advantages = torch.from_numpy(rollout.advantages)
        returns = torch.from_numpy(rollout.returns)
        teacher = None if rollout.teacher_probs is None else torch.from_numpy(rollout.teacher_probs)
        totals = dict.fromkeys(("policy_loss", "value_loss", "entropy", "kl_teacher", "clip_fraction",
                                "approx_kl"), 0.0)
        batches = 0
        for _ in range(cfg.n_epochs):
            for idx in np.array_split(rng.permutation(len(actions)), cfg.n_minibatches):
                if len(idx) == 0:
                    continue
                mb = torch.from_numpy(idx)
                logp_all = policy_log_probs(module, X[mb])
                logp = logp_all.gather(1, actions[mb, None]).squeeze(1)
                ratio = torch.exp(logp - old_log_probs[mb])
                adv = advantages[mb]
                adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
                clipped = torch.clamp(ratio, 1 - cfg.clip_range, 1 + cfg.clip_range)
                policy_loss = torch.max(-adv * ratio, -adv * clipped).mean()
                value_loss = 0.5 * ((self.value(X[mb]) - returns[mb]) ** 2).mean()
                entropy = -(logp_all.exp() * logp_all).sum(dim=1).mean()
                kl = torch.zeros((), dtype=DTYPE) if teacher is None else teacher_kl(teacher[mb], logp_all)
                loss = policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * value_loss + kl_coef * kl
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(list(module.parameters()), cfg.max_grad_norm)
                nn.utils.clip_grad_norm_(list(self.value.parameters()), cfg.max_grad_norm)
                optimizer.step()
                batches += 1
                for key, value in (("policy_loss", policy_loss), ("value_loss", value_loss),
                                   ("entropy", entropy), ("kl_teacher", kl)):
                    totals[key] += float(value.detach())
                with torch.no_grad():  # diagnostics as CleanRL and SB3 log them
                    log_ratio = logp - old_log_probs[mb]
                    totals["approx_kl"] += float(((ratio - 1) - log_ratio).mean())
                    totals["clip_fraction"] += float(((ratio - 1).abs() > cfg.clip_range).double().mean())
        stats = {k: v / max(batches, 1) for k, v in totals.items()}
        values = rollout.returns - rollout.advantages  # the critic's estimates when the rollout was played
        stats["explained_variance"] = explained_variance(values, rollout.returns)
        stats["kl_coef"] = kl_coef
        stats["scale"] = float(module.log_scale.detach().exp())
        stats["episodes"] = len(rollout.episode_returns)
        stats["episode_return"] = float(np.mean(rollout.episode_returns)) if rollout.episode_returns else None
        return stats

    # ----------------------------------------------------------------------------- checkpoints

    def value_state(self) -> dict[str, list]:
        return {k: v.tolist() for k, v in self.value.state_dict().items()}

    def load_value_state(self, state: dict[str, list]) -> None:
        self.value.load_state_dict({k: torch.tensor(v, dtype=DTYPE) for k, v in state.items()})


def explained_variance(values: np.ndarray, returns: np.ndarray) -> float:
    """1 - Var(returns - values) / Var(returns): 1 is a perfect critic, 0 no better than a constant
    (SB3's definition; NaN when the returns do not vary)."""
    spread = float(np.var(returns))
    return float("nan") if spread == 0 else 1.0 - float(np.var(returns - values)) / spread


def _sample(probs: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """One action per row of ``probs`` by inverse transform sampling."""
    cumulative = np.cumsum(probs, axis=1)
    draws = rng.random(len(probs)) * cumulative[:, -1]
    return np.minimum((cumulative <= draws[:, None]).sum(axis=1), probs.shape[1] - 1)


def _gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_value: np.ndarray,
         gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates; ``dones[t]`` marks an episode that ended after step ``t``."""
    advantages = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(len(rewards) - 1, -1, -1):
        following = last_value if t == len(rewards) - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
    return advantages
