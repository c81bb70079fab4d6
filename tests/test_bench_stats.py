"""The statistics the bench scripts report over runs: mean, bootstrap interval, interquartile mean."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from benchlib import over_runs  # noqa: E402


def test_interquartile_mean_from_five_runs_on():
    assert "iqm" not in over_runs([1.0, 2.0, 3.0, 4.0])
    five = over_runs([1.0, 2.0, 3.0, 4.0, 100.0])  # one odd run moves the mean, not the IQM
    assert five["mean"] == 22.0 and five["iqm"] == pytest.approx(3.0)
    eight = over_runs([8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0])
    assert eight["iqm"] == pytest.approx(np.mean([3, 4, 5, 6]))
    low, high = five["ci95"]
    assert 1.0 <= low <= five["mean"] <= high <= 100.0
