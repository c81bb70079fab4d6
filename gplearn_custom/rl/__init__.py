"""Stage III: symbolic fine-tuning with reward fitness, PPO on constants and soft expert supervision."""
