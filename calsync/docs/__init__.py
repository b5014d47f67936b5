"""Backends for the shared agenda doc of each 1on1 pair."""
