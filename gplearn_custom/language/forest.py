"""A symbolic policy: a forest of one program per action whose outputs are logits.

The action is the argmax of the logits (the first on ties) or a softmax sample during RL. The
forest is what distillation produces, what ``program.json`` stores and what Stage III tunes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.io import read_json, write_json
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.program import Node, execute, from_tokens, to_tokens

FORMAT = "diffses-symbolic-policy"



def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, shifted by the row maximum so that exp never overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

@dataclass
class SymbolicForest:
    """Programs (gplearn prefix lists) over named features, one per named action."""

    programs: list[list[Node]]
    feature_names: list[str]
    action_names: list[str]
    function_names: list[str]
    feature_spec: FeatureSpec | None = None
    scale: float = 1.0  # inverse temperature of the logits' softmax (argmax ignores it)

    def __post_init__(self) -> None:
        if len(self.programs) != len(self.action_names):
            raise ValueError(f"{len(self.programs)} programs for {len(self.action_names)} actions")
        if self.feature_spec is not None and self.feature_spec.names != list(self.feature_names):
            raise ValueError("feature names differ from those of the feature spec")

    @property
    def n_actions(self) -> int:
        return len(self.programs)

    @property
    def sizes(self) -> list[int]:
        """Nodes per program."""
        return [len(p) for p in self.programs]

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def logits(self, X: np.ndarray) -> np.ndarray:
        """(n_states, n_actions) program outputs."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return np.stack([execute(p, X) for p in self.programs], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(X), axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """softmax(scale * logits): the policy's action distribution."""
        return np.exp(log_softmax(self.scale * self.logits(X)))

    def act_objects(self, states: Sequence[Sequence[Mapping]]) -> np.ndarray:
        """Actions for a batch of object states, features built by the saved spec."""
        if self.feature_spec is None:
            raise ValueError("this forest has no feature spec; pass features to predict()")
        return self.predict(self.feature_spec.transform(states))

    def constants(self) -> list[list[float]]:
        """Constants of each program in prefix order (what Stage III tunes)."""
        return [[n for n in p if isinstance(n, float)] for p in self.programs]

    def with_constants(self, constants: Sequence[Sequence[float]]) -> SymbolicForest:
        """A copy whose constants are replaced, program by program in prefix order."""
        programs = []
        for program, values in zip(self.programs, constants, strict=True):
            slots = [i for i, n in enumerate(program) if isinstance(n, float)]
            if len(slots) != len(values):
                raise ValueError(f"{len(values)} constants for a program that holds {len(slots)}")
            program = list(program)
            for i, v in zip(slots, values, strict=True):
                program[i] = float(v)
            programs.append(program)
        return SymbolicForest(programs, self.feature_names, self.action_names, self.function_names,
                              self.feature_spec, self.scale)

    def to_json(self) -> dict:
        """The ``program.json`` payload: prefix programs with features by name."""
        return {
            "format": FORMAT,
            "version": 1,
            "action_names": list(self.action_names),
            "feature_names": list(self.feature_names),
            "function_set": list(self.function_names),
            "programs": [to_tokens(p, self.feature_names) for p in self.programs],
            "sizes": self.sizes,
            "scale": self.scale,
            "feature_spec": None if self.feature_spec is None else self.feature_spec.to_dict(),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> SymbolicForest:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a symbolic policy (format is {data.get('format')!r}, expected {FORMAT})")
        names = list(data["feature_names"])
        spec = data.get("feature_spec")
        return cls(
            programs=[from_tokens(tokens, names) for tokens in data["programs"]],
            feature_names=names,
            action_names=list(data["action_names"]),
            function_names=list(data["function_set"]),
            feature_spec=None if spec is None else FeatureSpec.from_dict(spec),
            scale=float(data.get("scale", 1.0)),
        )

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> SymbolicForest:
        return cls.from_json(read_json(path))
