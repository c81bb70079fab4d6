"""Stage III's pursuit forests: the agent's measured action velocities and the players built on them."""

import numpy as np
import pytest

from envs.config import EnvConfig
from gplearn_custom.config import DEFAULT_FUNCTION_SET
from gplearn_custom.data import DistillData
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.rl.config import FinetuneConfig
from gplearn_custom.rl.evolution import RewardEvolution
from gplearn_custom.rl.lockstep import Lockstep
from gplearn_custom.rl.pursuit import action_velocities, pursuit_forests

SPEC = FeatureSpec(("agent", "opponent", "ball"), (1, 1, 1), (64, 64), 3.0, agent_type=0)
ACTIONS = ["NOOP", "UP", "DOWN"]
VELOCITIES = np.array([[0.0, 0.0], [0.0, -3.0], [0.0, 3.0]])  # the built-in paddle: UP moves it up


def agent(vy: float, y: float = 30.0) -> dict:
    return {"type": 0, "x_position": 60.0, "y_position": y, "x_velocity": 0.0, "y_velocity": vy}


def still_forest() -> SymbolicForest:
    return SymbolicForest([[1.0], [0.0], [0.0]], SPEC.names, ACTIONS, list(DEFAULT_FUNCTION_SET), SPEC, 1.0)


def test_action_velocities_average_the_agents_motion_right_after_each_action_within_an_episode():
    # episode 0: UP, then DOWN twice; the state after each action shows its motion
    states = [[agent(0.0)], [agent(-2.0)], [agent(4.0)], [agent(2.0)],
              [agent(50.0)]]  # a new episode's first state follows no action of episode 0
    data = DistillData(states=states, probs=np.eye(3)[[1, 2, 2, 0, 0]], actions=np.array([1, 2, 2, 0, 0]),
                       episodes=np.array([0, 0, 0, 0, 1]), type_names=list(SPEC.type_names),
                       image_size=(64, 64), action_names=ACTIONS, agent_type=0, has_probs=True)
    velocities = action_velocities(data)
    np.testing.assert_allclose(velocities, [[0.0, 0.0], [0.0, -2.0], [0.0, 3.0]])


@pytest.mark.parametrize("ball_dy, offset, toward, away", [(0.2, 0.0, 2, 1), (-0.2, 0.0, 1, 2),
                                                             (-0.02, 0.05, 2, 1)])
def test_pursuit_forests_move_the_agent_towards_or_away_from_the_target(ball_dy, offset, toward, away):
    forests = pursuit_forests(still_forest(), VELOCITIES, [offset])
    # 2 targets x 2 signs x 1 offset on the live axis (the paddle never moves sideways: x is left out)
    assert len(forests) == 4
    features = np.zeros((1, len(SPEC.names)))
    features[0, SPEC.names.index("ball[0].present")] = 1.0
    features[0, SPEC.names.index("ball[0].dy")] = ball_dy
    acts = [int(SymbolicForest(p, SPEC.names, ACTIONS, list(DEFAULT_FUNCTION_SET), SPEC).predict(features)[0])
            for p in forests]
    # forests of the opponent come first, then the ball's: towards, then away
    assert acts[2:] == [toward, away]
    assert all(len(program) <= 30 for p in forests for program in p)


def test_both_axes_give_one_more_forest_per_target_and_sign_and_none_without_an_agent():
    moving = np.array([[0.0, 0.0], [0.0, -3.0], [0.0, 3.0]]) + np.array([[0.0, 0.0], [-2.0, 0.0], [2.0, 0.0]])
    assert len(pursuit_forests(still_forest(), moving, [0.0, 0.1])) == 2 * 2 * (2 * 2 + 1)
    no_agent = FeatureSpec(SPEC.type_names, SPEC.slots, SPEC.image_size, 3.0, agent_type=None)
    forest = SymbolicForest([[1.0], [0.0], [0.0]], no_agent.names, ACTIONS, list(DEFAULT_FUNCTION_SET),
                            no_agent)
    assert pursuit_forests(forest, VELOCITIES, [0.0]) == []
    assert pursuit_forests(still_forest(), VELOCITIES, []) == []


def test_screening_puts_a_ball_pursuing_forest_in_the_first_population_of_a_still_distilled_one():
    cfg = FinetuneConfig(population_size=6, fresh_share=0.2, fresh_pool=2, episodes=2, max_episode_steps=200,
                         objects="game")
    pursuit = pursuit_forests(still_forest(), VELOCITIES, [0.0])
    search = RewardEvolution(cfg, still_forest(), Lockstep(EnvConfig(), SPEC, None, 12), None, [1000], 0,
                             pursuit=pursuit)
    search._rng, search.env_steps = np.random.RandomState(0), 0
    population = search._initial()
    joined = [m for m in population if m.origin == "pursuit"]
    assert len(joined) == 1 and joined[0].lineage == "pursuit"
    assert joined[0].programs == pursuit[2]  # the forest that moves the paddle towards the ball
