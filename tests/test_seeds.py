"""The three seed ranges: disjoint, rollouts step over the test range, evaluation only on it."""

import numpy as np
import pytest

from common import seeds
from common.errors import UserError
from pipeline.config import load_config
from tests.helpers import PONG


def test_rollout_seeds_count_up_from_the_base_and_never_enter_the_test_range():
    assert [seeds.rollout_seed(0, e) for e in range(3)] == [0, 1, 2]  # the default pipeline's seeds
    played = [seeds.rollout_seed(base, e) for base in (0, 1, 2, 7919) for e in range(20_000)]
    assert all(seeds.is_development(s) for s in played)
    assert len(set(seeds.rollout_seed(0, e) for e in range(20_000))) == 20_000


def test_selection_seeds_are_drawn_from_their_own_range():
    drawn = seeds.draw_selection_seeds(np.random.RandomState(0), 500, exclude={seeds.SELECTION.start})
    assert len(set(drawn)) == 500 and all(s in seeds.SELECTION and not seeds.is_development(s) for s in drawn)
    assert not set(seeds.TEST) & set(range(seeds.SELECTION.start, seeds.SELECTION.start + 10))


def test_a_config_that_reports_returns_off_the_test_range_is_refused():
    assert load_config(PONG).evaluation.seeds[0] in seeds.TEST
    with pytest.raises(UserError, match="test range"):
        load_config(PONG, ["evaluation.seeds=[1, 2]"])
