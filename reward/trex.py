"""T-REX (Brown et al., ICML 2019): a reward on one state, learned from ranked episodes alone.

A pair of equally long clips from two differently ranked episodes (or, for a share of the pairs,
the two whole episodes) is labelled by which comes from the better one; the clips' predicted
returns (sums of the per-state reward) are the logits of a Bradley-Terry model, trained with
cross-entropy. The reward reads the object features of a state
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
    """Clip pairs: ``first``/``second`` hold (episode, start, length) rows; ``label`` 1 where the second
    clip's episode ranks higher."""

    first: np.ndarray
    second: np.ndarray
    label: np.ndarray


def draw_pairs(ranks: np.ndarray, lengths: np.ndarray, n: int, clip_length: int, rng: np.random.Generator,
               whole_share: float = 0.0) -> Pairs:
    """``n`` pairs of episodes of different rank. Most compare two equally long clips at random starts,
    as T-REX does; a ``whole_share`` of them compare the two whole episodes, whose lengths differ.
    Equal clips leave the reward's level free (adding a constant to every state changes no clip
    pair's order), but a whole episode's predicted return is a sum over all its states: without
    whole pairs a reward can rank by how long a game lasts instead of what it scores."""
    ranks, lengths = np.asarray(ranks, dtype=np.float64), np.asarray(lengths, dtype=np.int64)
    if len(np.unique(ranks)) < 2:
        raise ValueError("T-REX needs episodes of at least two ranks")
    first, second = np.zeros((n, 3), np.int64), np.zeros((n, 3), np.int64)
    label = np.zeros(n, np.int64)
    for k in range(n):
        i, j = rng.integers(len(ranks), size=2)
        while ranks[i] == ranks[j]:
            i, j = rng.integers(len(ranks), size=2)
        if whole_share > 0 and rng.random() < whole_share:
            first[k], second[k] = (i, 0, lengths[i]), (j, 0, lengths[j])
        else:
            length = min(clip_length, lengths[i], lengths[j])
            first[k] = i, rng.integers(lengths[i] - length + 1), length
            second[k] = j, rng.integers(lengths[j] - length + 1), length
        label[k] = int(ranks[j] > ranks[i])
    return Pairs(first, second, label)


def reward_network(n_features: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


class ClipBatch:
    """Rows of every training state in one tensor, and the rows of a batch of clips."""

    def __init__(self, episodes: Sequence[np.ndarray]):
        self.offsets = np.concatenate([[0], np.cumsum([len(e) for e in episodes])])
        self.rows = torch.as_tensor(np.concatenate(episodes), dtype=torch.float32)

    def indices(self, clips: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The row of every state of clips given as (episode, start, length) rows, one after another,
        and the clip each belongs to: clips of any lengths, with no padding."""
        length = clips[:, 2]
        owner = np.repeat(np.arange(len(clips)), length)
        step = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
        index = self.offsets[clips[owner, 0]] + clips[owner, 1] + step
        return torch.as_tensor(index), torch.as_tensor(owner)


def clip_returns(net: nn.Module, batch: ClipBatch, clips: np.ndarray) -> torch.Tensor:
    index, owner = batch.indices(clips)
    rewards = net(batch.rows[index]).squeeze(-1)
    return torch.zeros(len(clips), dtype=rewards.dtype).index_add(0, owner, rewards)


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
            logits = torch.stack([clip_returns(net, batch, pairs.first[chunk]),
                                  clip_returns(net, batch, pairs.second[chunk])], dim=1)
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
                 x_std: np.ndarray, out_mean: np.ndarray | None = None, out_std: np.ndarray | None = None,
                 input_clip: float | None = None):
        self.spec, self.nets, self.hidden, self.input_clip = spec, nets, hidden, input_clip
        self.x_mean, self.x_std = np.asarray(x_mean, np.float64), np.asarray(x_std, np.float64)
        self.out_mean = np.zeros(len(nets)) if out_mean is None else np.asarray(out_mean, np.float64)
        self.out_std = np.ones(len(nets)) if out_std is None else np.asarray(out_std, np.float64)

    def scaled(self, X: np.ndarray) -> np.ndarray:
        """Features as the networks take them: standardised on the training states, and clipped to
        +-``input_clip`` standard deviations (as SB3's ``VecNormalize`` clips observations): a flag that is
        nearly always set (an object seen in all but a few frames) has a tiny spread, and the frame
        without it would otherwise reach the network a hundred deviations out, where an MLP's output
        is anything."""
        scaled = (np.asarray(X, np.float64) - self.x_mean) / self.x_std
        return scaled if self.input_clip is None else np.clip(scaled, -self.input_clip, self.input_clip)

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
            "x_mean": self.x_mean.tolist(), "x_std": self.x_std.tolist(), "input_clip": self.input_clip,
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
                   meta["out_std"], meta.get("input_clip"))  # rewards saved before the clip have none
