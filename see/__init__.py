"""Perception: objects from frames (types, tracking, the agent's type), the dataset format, and how a
playing policy reads objects."""
