"""Features from hand-made states: slot order, missing and surplus objects, scaling, names."""

import numpy as np
import pytest

from gplearn_custom.language.features import FeatureSpec, object_features

TYPES = ("agent", "enemy", "ball")


def obj(kind, x, y, vx=0.0, vy=0.0):
    return {"type": kind, "x_position": x, "y_position": y, "x_velocity": vx, "y_velocity": vy}


def spec(**kwargs):
    settings = dict(type_names=TYPES, slots=(1, 2, 1), image_size=(100, 200), velocity_scale=4.0,
                    agent_type=0, relative=True)
    settings.update(kwargs)
    return FeatureSpec(**settings)


def row(features, names, prefix):
    return {n.split(".")[1]: features[i] for i, n in enumerate(names) if n.startswith(prefix)}


def test_names_follow_the_layout():
    names = spec().names
    assert names[:5] == ["agent[0].present", "agent[0].x", "agent[0].y", "agent[0].vx", "agent[0].vy"]
    assert "enemy[1].dx" in names and "ball[0].dy" in names and "agent[0].dx" not in names
    assert len(names) == 5 + 2 * 7 + 7 == spec().n_features


def test_slots_nearest_to_the_agent_first_with_scaled_values():
    s = spec()
    state = [obj(1, 180, 10), obj(0, 100, 50, 2.0, -4.0), obj(1, 90, 60, 1.0, 0.0), obj(2, 20, 80)]
    features = s.transform([state])[0]
    agent, near, far = (row(features, s.names, p) for p in ("agent[0]", "enemy[0]", "enemy[1]"))
    assert agent == {"present": 1, "x": 0.5, "y": 0.5, "vx": 0.5, "vy": -1.0}
    assert near["x"] == 90 / 200 and near["dx"] == -10 / 200 and near["dy"] == 10 / 100 and near["vx"] == 0.25
    assert far["x"] == 180 / 200 and far["dy"] == -40 / 100


def test_missing_objects_leave_zero_slots_and_surplus_ones_are_dropped():
    s = spec()
    state = [obj(0, 100, 50)] + [obj(1, 100 + d, 50) for d in (30, 10, 20)] + [obj(7, 1, 1)]
    features = s.transform([state])[0]
    assert row(features, s.names, "enemy[0]")["x"] == 110 / 200
    assert row(features, s.names, "enemy[1]")["x"] == 120 / 200
    assert all(v == 0 for v in row(features, s.names, "ball[0]").values())


def test_without_agent_objects_are_ordered_left_to_right():
    s = spec()
    features = s.transform([[obj(1, 150, 10), obj(1, 40, 90)]])[0]
    assert row(features, s.names, "agent[0]")["present"] == 0
    assert row(features, s.names, "enemy[0]")["x"] == 40 / 200
    assert row(features, s.names, "enemy[0]")["dx"] == 0  # no agent, no offset
    no_agent = spec(agent_type=None)
    assert "enemy[0].dx" not in no_agent.names
    assert no_agent.transform([[obj(1, 150, 10), obj(1, 40, 90)]])[0][5 + 1] == 40 / 200


def test_a_batch_equals_its_states_one_by_one_and_empty_states_are_zero():
    rng = np.random.default_rng(0)
    states = [[obj(int(rng.integers(3)), *rng.uniform(0, 100, 2), *rng.normal(size=2))
               for _ in range(rng.integers(0, 6))] for _ in range(30)]
    batch = spec().transform(states)
    for state, features in zip(states, batch, strict=True):
        np.testing.assert_array_equal(spec().transform([state])[0], features)
    assert not spec().transform([[]]).any()
    assert spec().transform([]).shape == (0, spec().n_features)


def test_spec_round_trips_and_plain_function_agrees():
    s = spec()
    assert FeatureSpec.from_dict(s.to_dict()) == s
    state = [obj(0, 10, 10), obj(2, 30, 40, 1, 1)]
    np.testing.assert_array_equal(object_features([state], s.to_dict()), s.transform([state]))


def test_fit_takes_slots_from_the_data_and_the_config():
    states = [[obj(0, 1, 1), obj(1, 2, 2, 8.0)], [obj(1, 1, 1)] * 5]
    fitted = FeatureSpec.fit(states, TYPES, (64, 64), agent_type=0, max_slots=3)
    assert fitted.slots == (1, 3, 1)  # ball never seen: one empty slot
    assert fitted.velocity_scale == pytest.approx(np.percentile([0, 0, 8, 0] + [0] * 10, 99))
    assert FeatureSpec.fit(states, TYPES, (64, 64), slots={"enemy": 2}).slots == (1, 2, 1)
    with pytest.raises(ValueError, match="unknown object types"):
        FeatureSpec.fit(states, TYPES, (64, 64), slots={"dragon": 1})


def test_fit_ignores_a_slot_that_only_rare_states_fill():
    """One false detection in 200 states must not add a slot that programs could learn by heart."""
    states = [[obj(0, 1, 1), obj(1, 2, 2)]] * 199 + [[obj(0, 1, 1), obj(1, 2, 2), obj(1, 9, 9), obj(1, 5, 5)]]
    assert FeatureSpec.fit(states, TYPES, (64, 64), agent_type=0).slots == (1, 3, 1)
    assert FeatureSpec.fit(states, TYPES, (64, 64), agent_type=0, min_slot_share=0.01).slots == (1, 1, 1)
    assert FeatureSpec.fit(states, TYPES, (64, 64), agent_type=0, min_slot_share=0.005).slots == (1, 3, 1)
    assert FeatureSpec.fit(states[:2], TYPES, (64, 64), agent_type=0, min_slot_share=0.5).slots == (1, 1, 1)
