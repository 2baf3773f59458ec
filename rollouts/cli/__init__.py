"""The `rollouts` (and `kubectl-rollouts`) command line."""
