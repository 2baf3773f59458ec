"""`make bench-compare`: the same scenarios against our controller and the real Argo
Rollouts v1.10.2, side by side (`python -m tests.bench.compare`; see `__main__`)."""
