"""A forest compiled to a torch module whose constants are parameters (for Stage III).

Each program becomes a list of postfix instructions run on a stack; every constant is one entry
of that program's parameter vector and the forest's inverse temperature ``scale`` is a parameter
too (kept positive through its logarithm). In hard mode (``soft=False``, the default) the module's
logits equal ``SymbolicForest.logits`` exactly in float64; ``soft=True`` swaps the step-like judges
for sigmoids of width ``temperature`` (see ``language.operators``) so gradients reach the constants
inside comparisons. ``to_forest`` writes tuned constants back into a ``SymbolicForest``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from gplearn.functions import _Function
from torch import nn

from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.operators import OPERATORS

Instruction = tuple[str, object]


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: for the small tensors here threads cost more than they give (on a
    shared 2-core machine, far more), and one thread gives the same sums on every machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)  # ("feature", index) | ("constant", index) | ("operator", Operator)


def _compile(program: list) -> tuple[list[Instruction], list[float]]:
    """Postfix instructions of a prefix program, and its constants in prefix order."""
    constants = [float(n) for n in program if isinstance(n, float)]
    code: list[Instruction] = []
    slot = len(constants)
    for node in reversed(program):
        if isinstance(node, _Function):
            code.append(("operator", OPERATORS[node.name]))
        elif isinstance(node, int):
            code.append(("feature", node))
        else:
            slot -= 1
            code.append(("constant", slot))
    return code, constants


class TorchForest(nn.Module):
    """``forward(features (B, F)) -> logits (B, n_actions)``; ``probs`` applies the scale."""

    def __init__(self, forest: SymbolicForest, soft: bool = False, temperature: float = 0.05,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.forest = forest
        self.soft = soft
        self.temperature = temperature
        self.code: list[list[Instruction]] = []
        values = []
        for program in forest.programs:
            code, constants = _compile(program)
            self.code.append(code)
            values.append(constants)
        self.constants = nn.ParameterList(
            [nn.Parameter(torch.tensor(v, dtype=dtype)) for v in values]
        )
        self.log_scale = nn.Parameter(torch.tensor(math.log(forest.scale), dtype=dtype))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._run(a, features) for a in range(len(self.code))], dim=1)

    def probs(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.log_scale.exp() * self.forward(features), dim=1)

    def _run(self, action: int, features: torch.Tensor) -> torch.Tensor:
        constants = self.constants[action]
        stack: list[torch.Tensor] = []
        for kind, arg in self.code[action]:
            if kind == "feature":
                stack.append(features[:, arg])
            elif kind == "constant":
                stack.append(constants[arg])
            else:
                args = [stack.pop() for _ in range(arg.arity)]
                stack.append(arg.torch(*args, soft=self.soft, temperature=self.temperature))
        (out,) = stack
        return out.expand(features.shape[0]) if out.dim() == 0 else out

    def to_forest(self) -> SymbolicForest:
        """The forest with this module's current constants and scale."""
        forest = self.forest.with_constants([c.detach().cpu().tolist() for c in self.constants])
        forest.scale = self.log_scale.detach().exp().item()
        return forest
