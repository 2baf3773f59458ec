"""The ApplicationSet of `make demo-multicluster` (rollouts.demo_multicluster), through the
real generator and renderer: with the cluster Secret `rollouts cluster add` writes, it
stamps one Application per cluster, the local one included, each aimed at its server.
The demo end to end: tests/integration/test_demo_multicluster.py."""

from __future__ import annotations

from reconciler.appset.generators import Sources, generate
from reconciler.appset.render import Engine, application
from reconciler.appset.spec import read_spec
from reconciler.clusters import read_clusters
from rollouts.cli.cluster_cmds import cluster_secret
from rollouts.demo_multicluster import APPS, application_set

SECOND = "https://127.0.0.1:6443"


def test_the_clusters_generator_stamps_one_application_per_cluster() -> None:
    manifest = application_set("git://127.0.0.1:9418/repo", "ns")
    spec = read_spec(manifest["spec"])
    secret = cluster_secret(name="second", server=SECOND, token="t", ca_data=None,
                            insecure=True, namespace="ns")
    clusters, problems = read_clusters([secret])
    assert not problems
    [generated] = generate(spec, Sources(clusters=clusters))
    engine = Engine(spec.go_template, spec.missing_key_error)
    apps = [application(generated.template, params, engine, namespace="ns",
                        preserve_resources=False) for params in generated.params]
    assert {a["metadata"]["name"]: a["spec"]["destination"] for a in apps} == {
        APPS[0]: {"server": "https://kubernetes.default.svc", "namespace": "ns"},
        APPS[1]: {"server": SECOND, "namespace": "ns"}}
    assert all(a["spec"]["source"]["repoURL"] == "git://127.0.0.1:9418/repo" for a in apps)
