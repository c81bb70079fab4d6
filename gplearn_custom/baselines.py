"""Baselines distilled from the same data and seed, reported beside the symbolic forest.

Each returns its test-state actions as ``predicted`` (scored by the caller with the forest's own
measures) and what describes it: method, size, time.

- ``stock_gplearn``: the original DiffSES recipe, one gplearn ``SymbolicRegressor`` fitted to the
  action index with mean absolute error; its output is rounded and clipped to an action.
- ``decision_tree``: a CART tree (scikit-learn) with as many nodes as the forest, VIPER's kind of
  readable policy.
- ``random_forest``: 100 unbounded trees, a ceiling for what the features allow, not readable.
- ``mlp_student``: a small MLP trained with the same distillation loss (KL to the teacher at the
  same temperature), the usual neural student.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from gplearn.genetic import SymbolicRegressor
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier
from torch import nn

from gplearn_custom.fitness import soften
from gplearn_custom.language.torch_forest import single_thread


def stock_gplearn(X: np.ndarray, actions: np.ndarray, X_test: np.ndarray, n_actions: int,
                  population_size: int, generations: int, seed: int) -> dict:
    """gplearn's SymbolicRegressor on the action index (MAE), rounded and clipped to actions."""
    start = time.perf_counter()
    model = SymbolicRegressor(
        population_size=population_size, generations=generations, metric="mean absolute error",
        function_set=("add", "sub", "mul", "div", "neg", "abs", "max", "min"),
        random_state=seed, n_jobs=1,
    )
    model.fit(X, actions.astype(np.float64))
    seconds = time.perf_counter() - start
    predicted = np.clip(np.rint(model.predict(X_test)), 0, n_actions - 1).astype(np.int64)
    return {
        "method": "gplearn SymbolicRegressor on the action index, mean absolute error",
        "predicted": predicted,
        "size": int(model._program.length_),
        "program": str(model._program),
        "seconds": seconds,
        "evaluations": population_size * generations,
    }


def decision_tree(X: np.ndarray, actions: np.ndarray, X_test: np.ndarray, nodes: int, seed: int) -> dict:
    """CART with at most ``nodes`` nodes (a binary tree of L leaves has 2L - 1)."""
    start = time.perf_counter()
    tree = DecisionTreeClassifier(max_leaf_nodes=max(2, (nodes + 1) // 2), random_state=seed).fit(X, actions)
    return {"method": f"CART decision tree, at most {nodes} nodes", "predicted": tree.predict(X_test),
            "size": int(tree.tree_.node_count), "seconds": time.perf_counter() - start}


def random_forest(X: np.ndarray, actions: np.ndarray, X_test: np.ndarray, seed: int) -> dict:
    start = time.perf_counter()
    model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(X, actions)
    return {"method": "random forest, 100 unbounded trees (a ceiling, not readable)",
            "predicted": model.predict(X_test),
            "size": int(sum(tree.tree_.node_count for tree in model.estimators_)),
            "seconds": time.perf_counter() - start}


def mlp_student(X: np.ndarray, probs: np.ndarray, X_test: np.ndarray, temperature: float, hidden: int,
                epochs: int, seed: int) -> dict:
    """Two hidden layers, full-batch Adam on the KL to the teacher distribution at ``temperature``."""
    with single_thread():
        return _mlp_student(X, probs, X_test, temperature, hidden, epochs, seed)


def _mlp_student(X: np.ndarray, probs: np.ndarray, X_test: np.ndarray, temperature: float, hidden: int,
                 epochs: int, seed: int) -> dict:
    torch.manual_seed(seed)
    start = time.perf_counter()
    n_features, n_actions = X.shape[1], probs.shape[1]
    model = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, n_actions)).double()
    inputs = torch.as_tensor(X, dtype=torch.float64)
    target = torch.as_tensor(soften(probs, temperature), dtype=torch.float64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    kl = nn.KLDivLoss(reduction="batchmean")
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = kl(torch.log_softmax(model(inputs), dim=1), target)
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        predicted = model(torch.as_tensor(X_test, dtype=torch.float64)).argmax(dim=1).numpy()
        one = torch.as_tensor(X_test[:1], dtype=torch.float64)
        n, tick = 1000, time.perf_counter()
        for _ in range(n):
            model(one).argmax(dim=1)
        speed = n / (time.perf_counter() - tick)
    return {
        "method": f"MLP {n_features}-{hidden}-{hidden}-{n_actions}, KL at temperature {temperature}",
        "predicted": predicted,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "final_kl": loss.item(),
        "seconds": seconds,
        "decisions_per_second": speed,
    }
