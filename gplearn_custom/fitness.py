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
    """Scores forests, given as one output array per action, against a fixed teacher.

    ``many`` scores a batch: every array operation runs on a block of forests at once, which
    removes most of numpy's per-call overhead; only the weighted sums over states stay one dot
    product per forest, so a forest's score does not depend on the batch it came in (bit for bit).
    """

    def __init__(self, target: np.ndarray, actions: np.ndarray, weights: np.ndarray | None = None,
                 scale_states: int = 1024, max_iterations: int = 30, tolerance: float = 1e-5,
                 block_bytes: int = 2**21):
        self.target = np.ascontiguousarray(np.asarray(target, dtype=np.float64).T)  # (actions, states)
        self.actions = np.asarray(actions)
        w = np.ones(len(self.actions)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        # the scale is searched on evenly spaced states of weight (the loss is flat near its optimum,
        # so a scale found on fewer states costs little), then the loss is taken on all of them
        weighed = np.flatnonzero(w > 0)
        n = len(weighed)
        self.probe = weighed[np.unique(np.linspace(0, n - 1, min(n, scale_states)).astype(np.int64))]
        self.probe_weights = self.weights[self.probe] / self.weights[self.probe].sum()
        self.max_iterations = max_iterations
        self.tolerance = tolerance
        self.block = max(1, block_bytes // (8 * self.target.size))  # forests per block

    def __call__(self, outputs: Sequence[np.ndarray]) -> Score:
        return self.many([outputs])[0]

    def many(self, forests: Sequence[Sequence[np.ndarray]]) -> list[Score]:
        """The score of each forest (its programs' outputs, one array per action)."""
        scores: list[Score] = []
        with np.errstate(all="ignore"):
            for start in range(0, len(forests), self.block):
                scores += self._block(forests[start:start + self.block])
        return scores

    def _block(self, forests: Sequence[Sequence[np.ndarray]]) -> list[Score]:
        logits = np.array(forests, dtype=np.float64)  # (forests, actions, states)
        choice, top = _first_argmax(logits)
        gaps = logits - top[:, None]  # <= 0, so exp never overflows
        teacher = _rows_sum(self.target * gaps)  # (forests, states)
        # advanced indexing after a slice lays rows out with strides; a strided dot product rounds
        # differently, so rows are made contiguous to keep a score independent of its batch
        probe = np.ascontiguousarray(gaps[:, :, self.probe])
        teacher_gap = np.array([self.probe_weights @ t for t in np.ascontiguousarray(teacher[:, self.probe])])
        scale = self._best_scale(probe, probe * probe, teacher_gap)
        per_state = np.log(_rows_sum(np.exp(scale[:, None, None] * gaps))) - scale[:, None] * teacher
        agreements = np.count_nonzero(choice == self.actions, axis=1) / len(self.actions)
        return [Score(float(self.weights @ per_state[f]), float(scale[f]), float(agreements[f]))
                for f in range(len(forests))]

    def _stats(self, gaps: np.ndarray, squares: np.ndarray, s: np.ndarray,
               teacher_gap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Loss on the probe states at scales ``s`` (one per forest) and its first and second
        derivatives in ``s``."""
        e = np.exp(s[:, None, None] * gaps)
        total = _rows_sum(e)
        mean_gap = _rows_sum(e * gaps) / total
        mean_square = _rows_sum(e * squares) / total
        variance = mean_square - mean_gap * mean_gap
        w, log_total = self.probe_weights, np.log(total)
        loss = np.array([w @ row for row in log_total]) - s * teacher_gap
        grad = np.array([w @ row for row in mean_gap]) - teacher_gap
        curv = np.array([w @ row for row in variance])
        return loss, grad, curv

    def _best_scale(self, gaps: np.ndarray, squares: np.ndarray, teacher_gap: np.ndarray) -> np.ndarray:
        """Newton's method on each forest's convex loss(s), kept inside a shrinking bracket; a forest
        stops when its step would lower the loss by less than ``tolerance`` (nats)."""
        n = len(gaps)
        low, high = np.full(n, SCALE_RANGE[0]), np.full(n, SCALE_RANGE[1])
        spread = np.array([self.probe_weights @ row for row in _rows_sum(gaps) / gaps.shape[1]])  # <= 0
        s = np.where(spread < 0, np.clip(-1.0 / np.where(spread < 0, spread, -1.0), low, high), 1.0)
        loss, grad, curv = self._stats(gaps, squares, s, teacher_gap)
        best_loss, best_s = loss.copy(), s.copy()
        active = np.arange(n)
        for _ in range(self.max_iterations):
            g, c, x = grad[active], curv[active], s[active]
            high[active] = np.where(g > 0, x, high[active])
            low[active] = np.where(g > 0, low[active], x)
            curved = c > 1e-12
            done = curved & (g * g / (2 * np.where(curved, c, 1.0)) < self.tolerance) | (
                high[active] <= low[active] * 1.01)
            if done.any():  # the active forests' arrays are copied only when some are done
                keep = ~done
                active, g, c, x, curved = active[keep], g[keep], c[keep], x[keep], curved[keep]
                gaps, squares, teacher_gap = gaps[keep], squares[keep], teacher_gap[keep]
            if not len(active):
                break
            proposal = np.where(curved, x - g / np.where(curved, c, 1.0), high[active])
            outside = ~((low[active] < proposal) & (proposal < high[active]))
            proposal[outside] = np.sqrt(low[active][outside] * high[active][outside])
            s[active] = proposal
            loss_a, grad_a, curv_a = self._stats(gaps, squares, proposal, teacher_gap)
            grad[active], curv[active] = grad_a, curv_a
            known = best_loss[active]
            better = (loss_a < known) | (loss_a == known) & (proposal < best_s[active])
            best_loss[active[better]], best_s[active[better]] = loss_a[better], proposal[better]
        return best_s


def _first_argmax(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per forest and state, the best action (the first of equals) and its logit; a loop over the
    few actions, as numpy's argmax over a short middle axis is slow."""
    choice = np.zeros((len(logits), logits.shape[2]), dtype=np.int64)
    top = logits[:, 0].copy()
    for a in range(1, logits.shape[1]):
        np.copyto(choice, a, where=logits[:, a] > top)  # several times faster than a masked assignment
        np.maximum(top, logits[:, a], out=top)
    return choice, top


def _rows_sum(a: np.ndarray) -> np.ndarray:
    """Sum over the few actions (axis 1) of a (forests, actions, states) array: additions in
    action order beat numpy's reduction over a short middle axis several times over."""
    total = a[:, 0].copy()
    for a_index in range(1, a.shape[1]):
        total += a[:, a_index]
    return total
