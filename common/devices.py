"""Where work runs: a config's torch device (with "auto" for a GPU where there is one) and its number
of cores (``n_jobs``)."""

from __future__ import annotations

import os


def cores(n_jobs: int) -> int:
    """gplearn's meaning of ``n_jobs``: that many, or every core for -1."""
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def torch_device(name: str) -> str:
    """``"auto"``: "cuda" if torch sees a GPU, else "cpu"; any other name as given."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
