"""The dev cluster's error: one line saying which part failed and where to look."""

from __future__ import annotations


class DevClusterError(Exception):
    """A failure the user can act on; the message is one line."""
