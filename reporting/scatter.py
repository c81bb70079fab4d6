"""Predicted against true returns, one point per episode: how a learned reward is read at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common.io import atomic_write  # noqa: E402


def plot_scatter(groups: dict[str, tuple[Sequence[float], Sequence[float]]], path: Path, title: str,
                 xlabel: str, ylabel: str) -> Path:
    """One colour per group of (x, y) points."""
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    for label, (x, y) in groups.items():
        if len(x):
            ax.scatter(x, y, s=18, alpha=0.7, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path
