"""The run report: results table, programs, curves, detector frames and a GIF of the agent."""
