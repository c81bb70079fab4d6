"""Gradient tuning of a forest's constants on the distillation loss (a memetic step of evolution).

Genetic operators find the shape of a program well but its constants poorly: a threshold off by
a factor of two costs agreement that mutation recovers only slowly. The forest is compiled to
``TorchForest`` (hard mode, so the loss is the one evolution scores) and its constants and scale
are tuned by L-BFGS on up to 2048 evenly spaced states. With ``soft_temperature`` the step-like
judges (``gt``, ``ifgt``) become sigmoids of that width while tuning, so a threshold inside a
comparison gets a gradient too (hard judges give it none). Either way the tuned forest is kept only
if evolution's own fitness, on the hard judges, agrees.
"""

from __future__ import annotations

import numpy as np
import torch

from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.torch_forest import TorchForest, single_thread


class ConstantOptimizer:
    """``optimizer(forest)`` -> the forest with tuned constants, or None if it has none to tune."""

    def __init__(self, X: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None, steps: int = 20,
                 max_states: int = 2048, soft_temperature: float | None = None):
        rows = np.unique(np.linspace(0, len(X) - 1, min(len(X), max_states)).astype(np.int64))
        self.X = torch.from_numpy(np.ascontiguousarray(X[rows], dtype=np.float64))
        self.target = torch.from_numpy(np.ascontiguousarray(target[rows], dtype=np.float64))
        w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)[rows]
        self.weights = torch.from_numpy(w / w.sum())
        self.steps = steps
        self.soft_temperature = soft_temperature

    def __call__(self, forest: SymbolicForest) -> SymbolicForest | None:
        with single_thread():
            return self._tune(forest)

    def _tune(self, forest: SymbolicForest) -> SymbolicForest | None:
        soft = self.soft_temperature is not None
        module = TorchForest(forest, soft=soft, temperature=self.soft_temperature if soft else 0.05)
        constants = [p for p in module.constants if p.numel()]
        if not constants:
            return None
        optimizer = torch.optim.LBFGS([*constants, module.log_scale], max_iter=self.steps,
                                      line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            logp = torch.log_softmax(module.log_scale.exp() * module(self.X), dim=1)
            loss = -((self.target * logp).sum(dim=1) @ self.weights)
            loss.backward()
            return loss

        optimizer.step(closure)
        tuned = module.to_forest()
        values = [v for program in tuned.constants() for v in program]
        return tuned if np.all(np.isfinite(values)) else None
