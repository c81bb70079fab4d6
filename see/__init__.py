"""Seeing objects: operators ("judges") and features that symbolic policies read."""
