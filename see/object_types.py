"""Object types: detections' embeddings clustered once, then assigned the same way everywhere.

A learned detector (SPACE) or the colour segmenter says where objects are, not what they are.
k-means on their standardised embeddings gives the types; the number of types comes from the
config or from the best silhouette score over a range; a chosen count may still split one sprite
(a detector's embedding of the ball that differs by where it sits in a cell), so look-alike
clusters that never share a frame become one type. The scaling and centroids are saved in
``dataset.meta.json``, so distillation, fine-tuning and the symbolic agent while it plays give an
embedding the same type. Types are named by what they look like (``t1_white_2x4``); where the game
knows its true objects, type purity against them is a diagnostic and names nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from common.errors import UserError
from see.dataset_config import DatasetConfig
from space.metrics import match_centres
from space.sources import Detection

# Names under which games call the object the agent controls (built-in games, OCAtari's "Player").
AGENT_NAMES = ("agent", "player", "chicken")


@dataclass
class TypeModel:
    """Detections -> type indices: nearest centroid of the scaled embedding, or the source's type."""

    names: list[str]
    centroids: np.ndarray | None = None  # (K, D) in scaled space; None: the source knows the types
    mean: np.ndarray | None = None  # (D,) subtracted before scaling
    scale: np.ndarray | None = None  # (D,) divided after centring
    centroid_types: np.ndarray | None = None  # (K,) type of each centroid; None: centroid k is type k

    @property
    def method(self) -> str:
        return "source" if self.centroids is None else "kmeans"

    def assign(self, detections: Sequence[Detection]) -> np.ndarray:
        if not detections:
            return np.zeros(0, dtype=np.int64)
        if self.centroids is None:
            if any(d.type is None for d in detections):
                raise UserError("the object source gave detections without a type; "
                                "dataset.meta.json has no type centroids to assign them")
            return np.array([d.type for d in detections], dtype=np.int64)
        return self.assign_embeddings(np.stack([np.ravel(d.embedding) for d in detections]))

    def assign_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        x = np.asarray(embeddings, dtype=np.float64)
        if x.shape[1] != self.centroids.shape[1]:
            raise UserError(f"embeddings of size {x.shape[1]} do not fit type centroids of size "
                            f"{self.centroids.shape[1]}; regenerate the dataset with this detector")
        z = (x - self.mean) / self.scale
        dist = ((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(-1)
        nearest = np.argmin(dist, axis=1)
        return nearest if self.centroid_types is None else self.centroid_types[nearest]

    def to_dict(self) -> dict:
        data: dict = {"method": self.method, "names": list(self.names)}
        if self.centroids is not None:
            data.update(centroids=self.centroids.tolist(), mean=self.mean.tolist(), scale=self.scale.tolist())
        if self.centroid_types is not None:
            data["centroid_types"] = self.centroid_types.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TypeModel:
        if data.get("method") == "source":
            return cls(list(data["names"]))
        grouped = data.get("centroid_types")
        return cls(list(data["names"]), np.asarray(data["centroids"], dtype=np.float64),
                   np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64),
                   None if grouped is None else np.asarray(grouped, dtype=np.int64))


def fit_types(embeddings: np.ndarray, n_types: int | None, type_range: Sequence[int], seed: int,
              silhouette_points: int = 2000, tolerance: float = 0.05) -> tuple[TypeModel, dict[int, float]]:
    """k-means on scaled embeddings -> (model with names ``type0``..., silhouette score per k tried).

    Embeddings are centred and divided by one overall scale, not per dimension, so a dimension
    that barely varies (a collapsed latent, a sprite's size) is not blown up into a cluster axis.
    Without ``n_types``, the fewest types whose silhouette is within ``tolerance`` of the best win:
    identical embeddings score a perfect silhouette for any split, so the best score alone would
    split one sprite into its clipped sizes at the frame's edge.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise UserError(f"only {len(x)} detections to learn object types from; check the detector "
                        "(python -m space eval) or raise dataset.cluster_frames")
    mean = x.mean(0)
    spread = float(np.sqrt(((x - mean) ** 2).sum(1).mean()))
    scale = np.full(x.shape[1], spread if spread > 1e-12 else 1.0)
    z = (x - mean) / scale
    distinct = len(np.unique(np.round(z, 6), axis=0))
    scores: dict[int, float] = {}
    if n_types is None:
        high = min(type_range[1], distinct, len(z) - 1)
        candidates = list(range(max(type_range[0], 2), high + 1))
        for k in candidates if len(candidates) > 1 else ():
            labels = _kmeans(z, k, seed).labels_
            scores[k] = float(silhouette_score(z, labels, sample_size=min(len(z), silhouette_points),
                                               random_state=seed))
        if scores:
            best = max(scores.values())
            n_types = min(k for k, score in scores.items() if score >= best - tolerance)
        else:
            n_types = candidates[0] if candidates else min(type_range[0], distinct)
    elif n_types > distinct:
        raise UserError(f"dataset.n_types is {n_types} but the detections have only {distinct} distinct "
                        "embeddings; lower dataset.n_types or set it to null")
    centroids = _kmeans(z, n_types, seed).cluster_centers_
    return TypeModel([f"type{k}" for k in range(n_types)], centroids, mean, scale), scores


def learn_types(frames: np.ndarray, detections: Sequence[Sequence[Detection]], d: DatasetConfig,
                seed: int) -> tuple[TypeModel, dict]:
    """(types of ``detections`` in ``frames``, how they were fitted): k-means, look-alikes that never
    meet merged where the silhouette chose the count, named by their colour and size."""
    flat = [det for frame in detections for det in frame]
    embeddings = np.stack([np.ravel(det.embedding) for det in flat]) if flat else np.zeros((0, 1))
    types, scores = fit_types(embeddings, d.n_types, d.type_range, seed, d.silhouette_points,
                              d.silhouette_tolerance)
    merged: list[list[int]] = []
    if d.n_types is None and d.lookalike_shared is not None:
        types, merged = merge_lookalikes(types, frames, detections, d.lookalike_shared)
    types.names = describe_types(len(types.names), frames, detections,
                                 [types.assign(frame_dets) for frame_dets in detections])
    return types, {"frames": len(frames), "detections": len(flat),
                   "silhouette": {str(k): v for k, v in scores.items()}, "merged_clusters": merged}


def _kmeans(z: np.ndarray, k: int, seed: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z)


class TypeConfusion:
    """Counts of (assigned type, true type) over detections matched to true objects by centre."""

    def __init__(self, n_types: int, n_true: int, tolerance: float):
        self.counts = np.zeros((n_types, n_true), dtype=np.int64)
        self.tolerance = tolerance
        self.unmatched = 0  # detections with no true object near them
        self.missed = 0  # true objects with no detection near them

    def add(self, types: np.ndarray, centres: np.ndarray,
            true_objects: Sequence[dict]) -> list[tuple[int, int]]:
        """Match one frame; returns the (detection, true object) index pairs."""
        truth = np.array([[o["x"], o["y"]] for o in true_objects], dtype=np.float64).reshape(-1, 2)
        pairs = match_centres(np.asarray(centres, dtype=np.float64).reshape(-1, 2), truth, self.tolerance)
        for i, j in pairs:
            self.counts[int(types[i]), int(true_objects[j]["type"])] += 1
        self.unmatched += len(centres) - len(pairs)
        self.missed += len(true_objects) - len(pairs)
        return pairs

    @property
    def purity(self) -> float:
        """Share of matched detections whose type's majority true type is their own true type."""
        total = self.counts.sum()
        return float(self.counts.max(1).sum() / total) if total else float("nan")

    def majority(self) -> list[int | None]:
        """Each type's most common true type (None for a type no detection of which matched)."""
        return [int(np.argmax(row)) if row.sum() else None for row in self.counts]

    def summary(self, names: Sequence[str], true_names: Sequence[str]) -> dict:
        matched = int(self.counts.sum())
        per_type = {}
        for k, row in enumerate(self.counts):
            if row.sum():
                per_type[names[k]] = {"detections": int(row.sum()),
                                      "true_type": true_names[int(np.argmax(row))],
                                      "purity": float(row.max() / row.sum())}
        return {"purity": self.purity, "matched": matched, "unmatched_detections": self.unmatched,
                "missed_true_objects": self.missed,
                "detection_precision": matched / max(matched + self.unmatched, 1),
                "detection_recall": matched / max(matched + self.missed, 1), "per_type": per_type}


# A few colour names, enough to tell sprites apart in a program's text (nearest in RGB wins).
COLOURS = {
    "black": (0, 0, 0), "grey": (128, 128, 128), "white": (236, 236, 236), "red": (200, 50, 50),
    "orange": (227, 140, 40), "yellow": (220, 210, 60), "green": (60, 170, 60), "cyan": (60, 190, 200),
    "blue": (60, 80, 210), "purple": (150, 60, 180), "pink": (230, 130, 180), "brown": (140, 90, 40),
}


def colour_name(rgb: Sequence[float]) -> str:
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float64)
    return names[int(np.argmin(((palette - np.asarray(rgb, dtype=np.float64)) ** 2).sum(1)))]


@dataclass(frozen=True)
class Look:
    """What a type looks like: colour name at the detections' centres and median size in pixels."""

    colour: str
    width: int
    height: int

    def like(self, other: Look) -> bool:
        """Same colour name and sizes within a pixel: one sprite, as far as the pixels tell."""
        return (self.colour == other.colour and abs(self.width - other.width) <= 1
                and abs(self.height - other.height) <= 1)


def type_looks(n_types: int, frames: np.ndarray, detections: Sequence[Sequence[Detection]],
               types: Sequence[np.ndarray]) -> list[Look | None]:
    """Each type's look over its detections (None for a type nothing was assigned to)."""
    colours: list[list[np.ndarray]] = [[] for _ in range(n_types)]
    sizes: list[list[tuple[float, float]]] = [[] for _ in range(n_types)]
    height, width = frames.shape[1:3]
    for frame, frame_dets, frame_types in zip(frames, detections, types, strict=True):
        for det, kind in zip(frame_dets, frame_types, strict=True):
            y = min(max(int(det.y), 0), height - 1)
            x = min(max(int(det.x), 0), width - 1)
            colours[kind].append(frame[y, x, :3])
            sizes[kind].append((det.width, det.height))
    looks: list[Look | None] = []
    for k in range(n_types):
        if not colours[k]:
            looks.append(None)
            continue
        w, h = np.median(np.array(sizes[k]), axis=0)
        looks.append(Look(colour_name(np.median(np.stack(colours[k]), axis=0)),
                          max(round(float(w)), 1), max(round(float(h)), 1)))
    return looks


def describe_types(n_types: int, frames: np.ndarray, detections: Sequence[Sequence[Detection]],
                   types: Sequence[np.ndarray]) -> list[str]:
    """Neutral names from what each type looks like: index, colour at the centre, median size.

    ``t1_white_2x4`` is the second type, white, 2 by 4 pixels. Only the pixels decide; the game's
    true objects never name a type.
    """
    return [f"t{k}" if look is None else f"t{k}_{look.colour}_{look.width}x{look.height}"
            for k, look in enumerate(type_looks(n_types, frames, detections, types))]


def merge_lookalikes(model: TypeModel, frames: np.ndarray, detections: Sequence[Sequence[Detection]],
                     max_shared: float) -> tuple[TypeModel, list[list[int]]]:
    """(model whose look-alike types that (almost) never share a frame are one, merged centroid groups).

    Two types of one look seen together in a frame are two objects (a row of cars); seen only in
    turns, they are one sprite that the embedding split. ``max_shared`` is the most share of the
    rarer one's frames they may share. Types are visited most frequent first; each joins the first
    group it looks like and whose frames it (almost) never shares, else starts its own.
    """
    n = len(model.names)
    assigned = [model.assign(frame_dets) for frame_dets in detections]
    looks = type_looks(n, frames, detections, assigned)
    seen = np.zeros((len(detections), n), dtype=bool)
    for f, kinds in enumerate(assigned):
        seen[f, kinds] = True
    groups: list[list[int]] = []
    group_seen: list[np.ndarray] = []
    for k in sorted(range(n), key=lambda k: -seen[:, k].sum()):
        look = looks[k]
        for g, members in enumerate(groups):
            first = looks[members[0]]
            shared = (seen[:, k] & group_seen[g]).sum()
            rarer = min(seen[:, k].sum(), group_seen[g].sum())
            if look is not None and first is not None and look.like(first) and shared <= max_shared * rarer:
                members.append(k)
                group_seen[g] |= seen[:, k]
                break
        else:
            groups.append([k])
            group_seen.append(seen[:, k].copy())
    if len(groups) == n:
        return model, []
    groups.sort(key=min)
    centroid_types = np.empty(n, dtype=np.int64)
    for g, members in enumerate(groups):
        centroid_types[members] = g
    base = model.centroid_types if model.centroid_types is not None else np.arange(n)
    merged = TypeModel([f"type{g}" for g in range(len(groups))], model.centroids, model.mean, model.scale,
                       centroid_types[base])
    return merged, [sorted(members) for members in groups if len(members) > 1]


def true_agent_type(true_names: Sequence[str] | None) -> int | None:
    """Index of the true type that is the agent's own object, if the game names one (diagnostics only)."""
    for i, name in enumerate(true_names or ()):
        if name.lower() in AGENT_NAMES:
            return i
    return None
