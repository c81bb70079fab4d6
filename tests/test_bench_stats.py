"""The statistics the bench scripts report over runs (mean, bootstrap interval, interquartile mean)
and how a bench run in parts merges its rows."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import benchlib  # noqa: E402
from benchlib import merged_rows, over_runs  # noqa: E402


def test_interquartile_mean_from_five_runs_on():
    assert "iqm" not in over_runs([1.0, 2.0, 3.0, 4.0])
    five = over_runs([1.0, 2.0, 3.0, 4.0, 100.0])  # one odd run moves the mean, not the IQM
    assert five["mean"] == 22.0 and five["iqm"] == pytest.approx(3.0)
    eight = over_runs([8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0])
    assert eight["iqm"] == pytest.approx(np.mean([3, 4, 5, 6]))
    low, high = five["ci95"]
    assert 1.0 <= low <= five["mean"] <= high <= 100.0


def test_a_partial_bench_run_replaces_only_its_own_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(benchlib, "RESULTS", tmp_path)

    def key(row: dict) -> tuple:
        return row["game"], row["play"]

    first = [{"game": "Pong", "play": "random", "f1": 0.9}]
    assert merged_rows("detector", first, key) == first  # nothing earlier
    earlier = [*first, {"game": "Boxing", "play": "teacher", "f1": 0.8},
               {"game": "Boxing", "play": "random", "f1": 0.7}]
    (tmp_path / "detector.json").write_text(json.dumps({"machine": {}, "rows": earlier}))
    now = [{"game": "Boxing", "play": "teacher", "f1": 0.5}, {"game": "Freeway", "play": "random", "f1": 0.6}]
    assert merged_rows("detector", now, key) == [earlier[0], now[0], earlier[2], now[1]]
