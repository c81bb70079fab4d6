"""Where torch runs: a config's device name, with "auto" for a GPU where there is one."""

from __future__ import annotations


def torch_device(name: str) -> str:
    """``"auto"``: "cuda" if torch sees a GPU, else "cpu"; any other name as given."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
