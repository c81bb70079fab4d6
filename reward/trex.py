"""T-REX (Brown et al., ICML 2019): a reward on one state, learned from ranked episodes alone.

A pair of equally long clips from two differently ranked episodes is labelled by which comes from
the better one; the clips' predicted returns (sums of the per-state reward) are the logits of a
Bradley-Terry model, trained with cross-entropy. The reward reads the object features of a state
(``gplearn_custom.language.features``), so it sees what the symbolic policy sees. An ensemble of
small MLPs, each on its own bootstrap draw of the pairs, is averaged after each member's output is
standardised on the training states (T-REX rewards are defined up to scale and shift).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.io import read_json, write_json
from gplearn_custom.language.features import FeatureSpec

MODEL = "model.pt"
MODEL_META = "model.json"


@dataclass
class Pairs:
    """Clip pairs: ``first``/``second`` hold (episode, start) rows; ``length`` per pair; ``label`` 1 where
    the second clip's episode ranks higher."""

    first: np.ndarray
    second: np.ndarray
    length: np.ndarray
    label: np.ndarray


def draw_pairs(ranks: np.ndarray, lengths: np.ndarray, n: int, clip_length: int,
               rng: np.random.Generator) -> Pairs:
    """``n`` pairs of clips from episodes of different rank, each clip at a random start."""
    ranks, lengths = np.asarray(ranks, dtype=np.float64), np.asarray(lengths, dtype=np.int64)
    if len(np.unique(ranks)) < 2:
        raise ValueError("T-REX needs episodes of at least two ranks")
    first, second = np.zeros((n, 2), np.int64), np.zeros((n, 2), np.int64)
    length, label = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for k in range(n):
        i, j = rng.integers(len(ranks), size=2)
        while ranks[i] == ranks[j]:
            i, j = rng.integers(len(ranks), size=2)
        length[k] = min(clip_length, lengths[i], lengths[j])
        first[k] = i, rng.integers(lengths[i] - length[k] + 1)
        second[k] = j, rng.integers(lengths[j] - length[k] + 1)
        label[k] = int(ranks[j] > ranks[i])
    return Pairs(first, second, length, label)


def reward_network(n_features: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


class ClipBatch:
    """Rows of every training state in one tensor, and the padded row indices of a batch of clips."""

    def __init__(self, episodes: Sequence[np.ndarray]):
        self.offsets = np.concatenate([[0], np.cumsum([len(e) for e in episodes])])
        # one zero row at the end: where the padding of short clips points
        self.rows = torch.as_tensor(np.concatenate([*episodes, np.zeros((1, episodes[0].shape[1]))]),
                                    dtype=torch.float32)
        self.pad = len(self.rows) - 1

    def indices(self, clips: np.ndarray, length: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) row indices and mask of clips given as (episode, start) rows."""
        width = int(length.max())
        steps = np.arange(width)
        index = self.offsets[clips[:, 0], None] + clips[:, 1, None] + steps
        mask = steps < length[:, None]
        return torch.as_tensor(np.where(mask, index, self.pad)), torch.as_tensor(mask, dtype=torch.float32)


def clip_returns(net: nn.Module, batch: ClipBatch, clips: np.ndarray, length: np.ndarray) -> torch.Tensor:
    index, mask = batch.indices(clips, length)
    return (net(batch.rows[index]).squeeze(-1) * mask).sum(dim=1)


def train_member(net: nn.Module, batch: ClipBatch, pairs: Pairs, epochs: int, batch_size: int,
                 learning_rate: float, weight_decay: float, rng: np.random.Generator,
                 log: Callable[[int, float, float], None] | None = None) -> dict:
    """Bradley-Terry cross-entropy on the pairs, Adam, shuffled minibatches; returns the last epoch's
    loss and pair accuracy."""
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    label = torch.as_tensor(pairs.label)
    loss_sum = correct = 0.0
    for epoch in range(epochs):
        loss_sum = correct = 0.0
        for chunk in np.array_split(rng.permutation(len(label)), max(len(label) // batch_size, 1)):
            logits = torch.stack([clip_returns(net, batch, pairs.first[chunk], pairs.length[chunk]),
                                  clip_returns(net, batch, pairs.second[chunk], pairs.length[chunk])], dim=1)
            loss = nn.functional.cross_entropy(logits, label[chunk])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(chunk)
            correct += (logits.argmax(dim=1) == label[chunk]).sum().item()
        if log is not None:
            log(epoch, loss_sum / len(label), correct / len(label))
    return {"loss": loss_sum / len(label), "pair_accuracy": correct / len(label)}


class LearnedReward:
    """``reward(states)`` -> one reward per state: the ensemble's mean standardised output on the
    states' features. Saved as ``model.pt`` (weights) and ``model.json`` (everything else)."""

    def __init__(self, spec: FeatureSpec, nets: list[nn.Module], hidden: int, x_mean: np.ndarray,
                 x_std: np.ndarray, out_mean: np.ndarray | None = None, out_std: np.ndarray | None = None):
        self.spec, self.nets, self.hidden = spec, nets, hidden
        self.x_mean, self.x_std = np.asarray(x_mean, np.float64), np.asarray(x_std, np.float64)
        self.out_mean = np.zeros(len(nets)) if out_mean is None else np.asarray(out_mean, np.float64)
        self.out_std = np.ones(len(nets)) if out_std is None else np.asarray(out_std, np.float64)

    def scaled(self, X: np.ndarray) -> np.ndarray:
        """Features as the networks take them: standardised on the training states."""
        return (np.asarray(X, np.float64) - self.x_mean) / self.x_std

    @torch.no_grad()
    def members(self, X: np.ndarray) -> np.ndarray:
        """(members, states) raw outputs on feature rows ``X``."""
        rows = torch.as_tensor(self.scaled(X), dtype=torch.float32)
        return np.stack([net(rows).squeeze(-1).double().numpy() for net in self.nets])

    def standardise_on(self, X: np.ndarray) -> None:
        """Each member's outputs on ``X`` (the training states) get mean 0 and standard deviation 1."""
        raw = self.members(X)
        self.out_mean, self.out_std = raw.mean(axis=1), np.maximum(raw.std(axis=1), 1e-8)

    def of_features(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        return ((self.members(X) - self.out_mean[:, None]) / self.out_std[:, None]).mean(axis=0)

    def __call__(self, states: Sequence[Sequence[dict]]) -> np.ndarray:
        return self.of_features(self.spec.transform(states))

    def save(self, folder: Path) -> None:
        torch.save([net.state_dict() for net in self.nets], folder / MODEL)
        write_json(folder / MODEL_META, {
            "feature_spec": self.spec.to_dict(), "hidden": self.hidden, "members": len(self.nets),
            "x_mean": self.x_mean.tolist(), "x_std": self.x_std.tolist(),
            "out_mean": self.out_mean.tolist(), "out_std": self.out_std.tolist()})

    @classmethod
    def load(cls, folder: Path) -> LearnedReward:
        meta = read_json(folder / MODEL_META)
        spec = FeatureSpec.from_dict(meta["feature_spec"])
        nets = []
        for weights in torch.load(folder / MODEL, weights_only=True):
            net = reward_network(spec.n_features, int(meta["hidden"]))
            net.load_state_dict(weights)
            nets.append(net.eval())
        return cls(spec, nets, int(meta["hidden"]), meta["x_mean"], meta["x_std"], meta["out_mean"],
                   meta["out_std"])
