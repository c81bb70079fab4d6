"""Stage I: the PPO teacher that plays from pixels, and the rollouts later stages record."""
