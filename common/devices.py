"""Where work runs: a config's torch device (with "auto" for a GPU where there is one) and its number
of cores (``n_jobs``)."""

from __future__ import annotations

import os


def cores(n_jobs: int) -> int:
    """gplearn's (joblib's) meaning of ``n_jobs``: that many; negative counts back from every core
    (-1 every core, -2 all but one), at least one. 0 means nothing and is refused where it is set."""
    return max((os.cpu_count() or 1) + 1 + n_jobs, 1) if n_jobs < 0 else n_jobs


def check_n_jobs(setting: str, n_jobs: int, error: type[Exception] = ValueError) -> None:
    """Refuses ``n_jobs == 0`` (``cores`` gives it no meaning) in the words of every setting: configs
    raise their ``UserError``, the estimator gplearn's ``ValueError``."""
    if n_jobs == 0:
        raise error(f"{setting} must be a number of cores, or negative to count back from every core "
                    "(-1: every core, -2: all but one), as in gplearn; not 0")


def torch_device(name: str) -> str:
    """``"auto"``: "cuda" if torch sees a GPU, else "cpu"; any other name as given."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
