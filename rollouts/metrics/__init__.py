"""Prometheus collectors of the controller process (served on /metrics by the manager)."""
