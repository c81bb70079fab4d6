"""Shared plumbing of every stage: configuration, command line, run folders, atomic writes."""
