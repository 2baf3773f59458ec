"""The Git-sourced reconciler: renders Applications from Git and keeps the cluster in sync.

Talks to the Rollout controller only through the objects it applies.
"""
