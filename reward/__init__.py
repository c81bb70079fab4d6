"""Learned rewards: T-REX from the teacher's own checkpoints, ranked demonstrations for free."""
