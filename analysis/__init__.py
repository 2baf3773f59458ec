"""Analysis: AnalysisRuns measured by providers (Prometheus, web, Job) that gate rollouts.

Talks to the Rollout controller only through AnalysisRun objects in the API server.
"""
