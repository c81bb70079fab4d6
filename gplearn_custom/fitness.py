"""Distillation fitness (Rusu et al., "Policy Distillation", 2016) and agreement.

The student's programs give logits; the loss is the cross-entropy from the teacher's action
distribution at a temperature, which differs from KL(teacher || student) only by the teacher's
entropy, a constant of the data. Programs compute on features scaled to about [-1, 1] and
evolve constants in a small range, so they can order actions correctly long before they can
reach the sharpness of a teacher's logits. The fitness therefore scores each forest at its best
inverse temperature ``scale > 0`` (one number per forest, found by a safeguarded Newton search
on up to 1024 evenly spaced states, since the loss is convex in it): the argmax, and so the
agreement, does not depend on it, and the scale is kept with the forest for sampling and for
Stage III.

The loss is computed column by column (one array per action) because numpy reduces along a short
last axis slowly; ``cross_entropy`` and ``agreement`` on a logits matrix are for reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gplearn_custom.language.forest import log_softmax

SCALE_RANGE = (1e-2, 1e3)


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Teacher distribution at ``temperature``: p^(1/T), renormalised (T < 1 sharpens)."""
    logp = np.log(np.clip(probs, 1e-12, None)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean over states of -sum_a target[a] * log softmax(logits)[a] (weighted if given)."""
    per_state = -(target * log_softmax(logits)).sum(axis=1)
    return float(np.average(per_state, weights=weights))


def agreement(logits: np.ndarray, actions: np.ndarray) -> float:
    """Share of states where argmax of the logits (first on ties) equals the teacher's action."""
    return float(np.mean(np.argmax(logits, axis=1) == actions))


@dataclass
class Score:
    loss: float  # cross-entropy at the best scale
    scale: float  # inverse temperature applied to the logits
    agreement: float


class DistillationLoss:
    """Scores forests, given as one output array per action, against a fixed teacher."""

    def __init__(self, target: np.ndarray, actions: np.ndarray, weights: np.ndarray | None = None,
                 scale_states: int = 1024, max_iterations: int = 30, tolerance: float = 1e-5):
        self.target = np.ascontiguousarray(np.asarray(target, dtype=np.float64).T)  # (actions, states)
        self.actions = np.asarray(actions)
        w = np.ones(len(self.actions)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        # the scale is searched on evenly spaced states (the loss is flat near its optimum, so a
        # scale found on fewer states costs little), then the loss is taken on all of them
        n = len(self.actions)
        self.probe = np.unique(np.linspace(0, n - 1, min(n, scale_states)).astype(np.int64))
        self.probe_weights = self.weights[self.probe] / self.weights[self.probe].sum()
        self.max_iterations = max_iterations
        self.tolerance = tolerance

    def __call__(self, outputs: Sequence[np.ndarray]) -> Score:
        logits = np.stack(outputs)  # (actions, states): reductions over actions are row additions
        with np.errstate(all="ignore"):
            gaps = logits - logits.max(axis=0)  # <= 0, so exp never overflows
            teacher = _rows_sum(self.target * gaps)
            probe = gaps[:, self.probe]
            scale = self._best_scale(probe, probe * probe, float(self.probe_weights @ teacher[self.probe]))
            total = _rows_sum(np.exp(scale * gaps))
            loss = float(self.weights @ (np.log(total) - scale * teacher))
        return Score(loss, scale, self._agreement(logits))

    def _stats(self, gaps: np.ndarray, squares: np.ndarray, s: float,
               teacher_gap: float) -> tuple[float, float, float]:
        """Loss on the probe states at scale ``s`` and its first and second derivatives in ``s``."""
        e = np.exp(s * gaps)
        total = _rows_sum(e)
        mean_gap = _rows_sum(e * gaps) / total
        mean_square = _rows_sum(e * squares) / total
        w = self.probe_weights
        return (float(w @ np.log(total)) - s * teacher_gap, float(w @ mean_gap) - teacher_gap,
                float(w @ (mean_square - mean_gap * mean_gap)))

    def _best_scale(self, gaps: np.ndarray, squares: np.ndarray, teacher_gap: float) -> float:
        """Newton's method on the convex loss(s), kept inside a shrinking bracket; stops when the
        step would lower the loss by less than ``tolerance`` (nats)."""
        low, high = SCALE_RANGE
        spread = float(self.probe_weights @ gaps.mean(axis=0))  # <= 0; start where s * gaps ~ -1
        s = float(np.clip(-1.0 / spread, low, high)) if spread < 0 else 1.0
        loss, grad, curv = self._stats(gaps, squares, s, teacher_gap)
        best = (loss, s)
        for _ in range(self.max_iterations):
            if grad > 0:
                high = s
            else:
                low = s
            if curv > 1e-12 and grad * grad / (2 * curv) < self.tolerance or high <= low * 1.01:
                break
            proposal = s - grad / curv if curv > 1e-12 else high
            if not low < proposal < high:
                proposal = float(np.sqrt(low * high))
            s = proposal
            loss, grad, curv = self._stats(gaps, squares, s, teacher_gap)
            best = min(best, (loss, s))
        return best[1]

    def _agreement(self, logits: np.ndarray) -> float:
        """Share of argmax (first on ties) equal to the teacher's action."""
        choice = np.zeros(logits.shape[1], dtype=np.int64)
        top = logits[0].copy()
        for a in range(1, len(logits)):
            choice[logits[a] > top] = a
            np.maximum(top, logits[a], out=top)
        return np.count_nonzero(choice == self.actions) / len(self.actions)


def _rows_sum(a: np.ndarray) -> np.ndarray:
    """Sum over the few rows (actions) of an (actions, states) array: row additions beat numpy's
    axis-0 reduction several times over at this shape."""
    total = a[0].copy()
    for row in a[1:]:
        total += row
    return total
