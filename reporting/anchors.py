"""Published returns on the games we report, shown beside ours with their sources.

None of them is a like-for-like comparison: SCoBots read the true objects from the console RAM,
VIPER hand-coded features, RL-Zoo's PPO a CNN at 10M steps. Ours play from pixels through a learned
or colour-segment perception. The figures are the ones the project's issue tracker quoted from
each paper; INSIGHT (pixels; arXiv 2403.12451) is named without a figure, since its table could
not be read here.
"""

from __future__ import annotations

from envs.atari import game_name

ANCHORS: dict[str, list[dict]] = {
    "pong": [
        {"anchor": "SCoBots' best interpretable agents (RAM objects, not pixels)", "return": 17.5,
         "source": "Delfosse et al., NeurIPS 2024"},
        {"anchor": "VIPER (depth-12 tree on hand-coded features)", "return": 21.0,
         "source": "Bastani et al., NeurIPS 2018"},
        {"anchor": "RL-Zoo PPO (CNN, 10M steps)", "return": 20.99, "source": "rl-baselines3-zoo benchmark"},
    ],
    "freeway": [
        {"anchor": "SCoBots' best interpretable agents (RAM objects, not pixels)", "return": 32.9,
         "source": "Delfosse et al., NeurIPS 2024"},
    ],
    "boxing": [
        {"anchor": "SCoBots' best interpretable agents (RAM objects, not pixels)", "return": 97.1,
         "source": "Delfosse et al., NeurIPS 2024"},
    ],
}


def anchors_for(env_id: str) -> list[dict]:
    """The published anchors of an Atari id's game (none for other games)."""
    return ANCHORS.get(game_name(env_id), [])
