"""Prometheus collectors of the controller process (served on /metrics by the manager).

Names and labels are a contract (DESIGN section 5): Argo Rollouts' own, so its public
Grafana dashboard works unchanged, plus ours; `tests/unit/test_metrics_exposition.py`
pins them. The dashboards in `manifests/grafana/` read them.

- `exposition.render(registry)`: the text `/metrics` serves; the per-object series
  are kept as text per object (`object_blocks` for the gauges, `object_series` for the
  counters and histograms) and rewritten only for objects that changed;
- `rollout_collector`, `analysis_collector`: gauges over the informer caches, read at
  scrape time (a deleted object's series are gone at the next scrape);
- `controller_hooks`: counters and histograms the Rollout and AnalysisRun controllers
  update (reconciles, Events, step and update durations), keyed by object and dropped
  with it (`object_series`); `durations` derives the durations from Events;
- `app_metrics`: the Application controller's (`app_info`, syncs, reconciles, Git);
- `values`: pure parsing (measurement values, thresholds, provider types, redaction);
- `wiring.instrument(controllers, registry)`: the one call `rollouts controller` makes;
- `kube_requests`: API requests sent, by verb.
"""
