"""The chaos harness (`make chaos`, issue 12 item 5): faults injected into a real local
control plane and real controller processes, each run checked for the right end state.

Not part of `make test`: it brings up its own dev cluster (~/.cache/rollouts/chaos-cluster)
and takes about half an hour. `harness` holds the shared parts (cluster, controller
processes, Lease, Events, the per-fault `Outcome`); `rollout_faults` the leader kills,
control-plane restarts and the Prometheus outage; `git_fault` the Git server outage;
`run` is the entry point that prints the table and records it in BENCHMARKS.md.
"""
