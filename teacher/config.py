"""The ``teacher`` and ``frames`` sections of a config (RL-Zoo's PPO hyperparameter names)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TeacherConfig:
    """PPO on pixels with Stable-Baselines3; schedules may be ``lin_<value>`` as in RL-Zoo."""

    # "compact": small CNN for built-in games; "keypoints": its spatial-softmax version, which
    # reads object positions (teacher/cnn.py); "small": the Nature CNN's first two layers at half
    # width, the Atari network for CPUs; "CnnPolicy": the Nature CNN (Atari on a GPU)
    policy: str = "compact"
    total_timesteps: int = 300_000
    n_envs: int = 8
    # "dummy" (one process), "subproc" (retro needs it) or "ale" (Atari: ale-py's C++ vector env)
    vec_env: str = "dummy"
    learning_rate: float | str = 2.5e-4
    n_steps: int = 128
    batch_size: int = 256
    n_epochs: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float | str = 0.1
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    features_dim: int = 256  # width of the CNN's output layer
    checkpoint_freq: int = 50_000  # timesteps between checkpoints
    eval_freq: int = 50_000  # timesteps between evaluations (the best is saved as best_model.zip)
    eval_episodes: int = 5
    # the teacher later stages use: "best", the best-evaluated model (SB3's EvalCallback), or
    # "final", the last one; with a learning rate annealed to zero and few evaluation episodes,
    # the final model is often the better one, while "best" picks a lucky evaluation
    keep: str = "best"
    # stop once an evaluation reaches this mean return (SB3's StopTrainingOnRewardThreshold), e.g.
    # the game's maximum: the best model cannot improve on it; None trains total_timesteps
    stop_at_return: float | None = None
    max_minutes: float | None = None  # wall-clock budget: training stops after it, keeping the model
    zoo: str | None = None  # a shipped teacher (zoo/GAME) to copy instead of training; see README
    device: str = "cpu"
    torch_threads: int = 1  # one thread: small CNNs gain little from more, and lose much under load
    # the network's tensors in channels-last (NHWC) order, which oneDNN's CPU convolutions prefer:
    # about a fifth more PPO steps/s on Atari (README: Atari teacher speed); the same function, summed
    # in another order, so a training differs in the last bits from one without it
    channels_last: bool = False


@dataclass
class FramesConfig:
    """How ``save_frames.py`` records frames for the detector."""

    n_frames: int = 4000
    random_action_prob: float = 0.3  # share of random actions, so frames leave the teacher's path
    shard_size: int = 1000  # frames per compressed shard
    deterministic: bool = False  # teacher actions: argmax instead of sampled
