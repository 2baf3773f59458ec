"""Our CRDs on a real API server: installed, established, and accepting what Argo users have.

The compatibility corpus in ../shared/compat/argo-rollouts is sent, file by file, to
`kubectl create --dry-run=server` (Services, Ingresses, Deployments and Secrets in the
same file included): the malformed files must be refused naming the bad field, every
other file must be accepted. Some files need the Istio / SMI CRDs, so the traffic
router CRDs in ../shared/compat/crds are installed once first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from tests.conftest import TestCluster

pytestmark = pytest.mark.integration

COMPAT = Path(__file__).resolve().parents[2].parent / "shared" / "compat"
ARGO_COMPAT = COMPAT / "argo-rollouts"
ROUTER_CRDS = COMPAT / "crds"

OUR_CRDS = [
    "rollouts.argoproj.io",
    "analysistemplates.argoproj.io",
    "clusteranalysistemplates.argoproj.io",
    "analysisruns.argoproj.io",
    "applications.argoproj.io",
]

# The e2e files are templates: Argo's e2e suite replaces these before applying them.
# Upper-case names are not valid object names, so we do the same (in memory only).
PLACEHOLDERS = ("ROLLOUT_NAME", "REPLACEME")


def _compat_files() -> list[Path]:
    return sorted(ARGO_COMPAT.glob("*.yaml")) if ARGO_COMPAT.is_dir() else []


MALFORMED = [p for p in _compat_files() if "malformed" in p.name]
WELLFORMED = [p for p in _compat_files() if "malformed" not in p.name]


def _instantiate(path: Path, name: str) -> str:
    text = path.read_text()
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, name)
    return text


def _established(cluster: TestCluster, crd: str) -> bool:
    obj = json.loads(cluster.kubectl_run("get", "crd", crd, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
    return conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True"


def _crd_names(path: Path) -> list[str]:
    return [
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]


@pytest.fixture(scope="module")
def router_crds(cluster: TestCluster) -> list[str]:
    """Install the Gateway API / Istio / SMI CRDs once; their names."""
    files = sorted(ROUTER_CRDS.glob("*.yaml"))
    if not files:
        pytest.skip("compat traffic-router CRDs not present")
    args = ["apply", "--server-side", "--force-conflicts"]
    for f in files:
        args += ["-f", str(f)]
    cluster.kubectl_run(*args)
    names = [n for f in files for n in _crd_names(f)]
    cluster.state.wait_for_crds(names, timeout=120)
    return names


def _headers(output: str) -> str:
    lines = output.splitlines()
    assert lines, "no output"
    return " ".join(lines[0].split())


def _create(cluster: TestCluster, namespace: str, manifest: dict[str, Any] | str) -> None:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
    cluster.kubectl_run("create", "-n", namespace, "-f", "-", input=text)


def _dry_run(
    cluster: TestCluster, namespace: str, manifest: dict[str, Any] | str
) -> tuple[int, str]:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
    result = cluster.kubectl_run(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=text, check=False
    )
    return result.returncode, result.stdout + result.stderr


def _rollout(name: str, **canary: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
            "strategy": {
                "canary": canary or {"steps": [{"setWeight": 20}, {"pause": {}}]},
            },
        },
    }


# ------------------------------------------------------------------------ installation


@pytest.mark.parametrize("crd", OUR_CRDS)
def test_our_crd_is_established(cluster: TestCluster, crd: str) -> None:
    assert _established(cluster, crd)


def test_router_crds_install_and_become_established(
    cluster: TestCluster, router_crds: list[str]
) -> None:
    assert {
        "httproutes.gateway.networking.k8s.io",
        "gateways.gateway.networking.k8s.io",
        "gatewayclasses.gateway.networking.k8s.io",
        "virtualservices.networking.istio.io",
        "destinationrules.networking.istio.io",
        "trafficsplits.split.smi-spec.io",
    } <= set(router_crds)
    for crd in router_crds:
        assert _established(cluster, crd), crd


def test_short_names_resolve(cluster: TestCluster, namespace: str) -> None:
    for short in ["ro", "at", "ar", "app", "apps"]:
        cluster.kubectl_run("get", short, "-n", namespace)
    cluster.kubectl_run("get", "cat")
    resources = cluster.kubectl_run("api-resources", "--api-group=argoproj.io").stdout
    assert "clusteranalysistemplates" in resources
    assert "cat" in resources.split()


def test_schema_is_published_for_kubectl_explain(cluster: TestCluster) -> None:
    out = cluster.kubectl_run("explain", "rollouts.spec.strategy.canary.steps").stdout
    assert "setWeight" in out
    out = cluster.kubectl_run("explain", "applications.spec.syncPolicy.automated").stdout
    assert "selfHeal" in out


# ------------------------------------------------------------- the compatibility corpus


@pytest.mark.skipif(not WELLFORMED, reason="compat corpus not present")
@pytest.mark.parametrize("path", WELLFORMED, ids=lambda p: p.name)
def test_compat_file_is_accepted_by_the_api_server(
    cluster: TestCluster, router_crds: list[str], namespace: str, path: Path
) -> None:
    code, output = _dry_run(cluster, namespace, _instantiate(path, "compat-demo"))
    assert code == 0, f"{path.name} refused:\n{output}"
    assert "created (server dry run)" in output
    assert "unknown field" not in output


@pytest.mark.skipif(not MALFORMED, reason="compat corpus not present")
@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.name)
def test_malformed_compat_file_is_refused_naming_the_field(
    cluster: TestCluster, namespace: str, path: Path
) -> None:
    code, output = _dry_run(cluster, namespace, path.read_text())
    assert code != 0, f"{path.name} was accepted:\n{output}"
    assert "resources.requests.memory" in output, output


# ----------------------------------------------------------------- schema on the server


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ({"setWieght": 20}, 'unknown field "spec.strategy.canary.steps[0].setWieght"'),
        ({"setWeight": 120}, "spec.strategy.canary.steps[0].setWeight"),
        ({"pause": {"duration": "10x"}}, "spec.strategy.canary.steps[0].pause.duration"),
        ({"setWeight": 20, "pause": {}}, "spec.strategy.canary.steps[0]"),
    ],
)
def test_bad_canary_step_is_refused_naming_the_field(
    cluster: TestCluster, namespace: str, step: dict[str, Any], needle: str
) -> None:
    code, output = _dry_run(cluster, namespace, _rollout("bad", steps=[step]))
    assert code != 0, output
    assert needle in output, output


def test_int_or_string_fields_accept_both(cluster: TestCluster, namespace: str) -> None:
    for surge, duration in [(1, 30), ("25%", "1h30m"), ("0", "45")]:
        rollout = _rollout(
            "ios", maxSurge=surge, maxUnavailable=0, steps=[{"pause": {"duration": duration}}]
        )
        code, output = _dry_run(cluster, namespace, rollout)
        assert code == 0, output


def test_analysis_template_with_two_providers_is_refused(
    cluster: TestCluster, namespace: str
) -> None:
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "two"},
        "spec": {
            "metrics": [
                {
                    "name": "m",
                    "provider": {"web": {"url": "http://x"}, "prometheus": {"query": "up"}},
                }
            ]
        },
    }
    code, output = _dry_run(cluster, namespace, template)
    assert code != 0, output
    assert "spec.metrics[0].provider" in output, output


# ----------------------------------------------------- columns and subresources, for real


def test_rollout_printer_columns_scale_and_status(cluster: TestCluster, namespace: str) -> None:
    _create(cluster, namespace, _rollout("cols"))
    assert "cols" in cluster.kubectl_run("get", "ro", "-n", namespace).stdout
    headers = _headers(cluster.kubectl_run("get", "rollouts", "-n", namespace).stdout)
    assert headers == "NAME DESIRED CURRENT UP-TO-DATE AVAILABLE PHASE STEP WEIGHT AGE"

    cluster.kubectl_run("scale", "rollout/cols", "--replicas=3", "-n", namespace)
    spec = json.loads(
        cluster.kubectl_run("get", "ro", "cols", "-n", namespace, "-o", "json").stdout
    )
    assert spec["spec"]["replicas"] == 3

    status = {
        "status": {
            "phase": "Paused",
            "message": "CanaryPauseStep",
            "currentStepIndex": 1,
            "replicas": 3,
            "updatedReplicas": 1,
            "availableReplicas": 3,
            "selector": "app=cols",
            "observedGeneration": "2",
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-01-01T00:00:00Z"}],
            "canary": {"weights": {"canary": {"weight": 20}, "stable": {"weight": 80}}},
            "conditions": [{"type": "Paused", "status": "True", "reason": "CanaryPauseStep"}],
        }
    }
    patched = cluster.kubectl_run(
        "patch",
        "rollout",
        "cols",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
        "-o",
        "json",
    )
    written = json.loads(patched.stdout)["status"]
    assert written["canary"]["weights"]["canary"]["weight"] == 20
    assert written["currentStepIndex"] == 1
    scale = json.loads(
        cluster.kubectl_run(
            "get",
            "--raw",
            f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/cols/scale",
        ).stdout
    )
    assert scale["spec"]["replicas"] == 3

    bad = {"status": {"phase": "Exploded"}}
    result = cluster.kubectl_run(
        "patch",
        "rollout",
        "cols",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(bad),
        check=False,
    )
    assert result.returncode != 0
    assert "status.phase" in result.stderr


def test_analysis_run_columns_and_status(cluster: TestCluster, namespace: str) -> None:
    run = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "run"},
        "spec": {
            "args": [{"name": "svc", "value": "demo"}],
            "metrics": [
                {
                    "name": "web",
                    "interval": "5s",
                    "count": 2,
                    "successCondition": "result == true",
                    "provider": {"web": {"url": "http://{{args.svc}}/ok", "jsonPath": "{$.ok}"}},
                }
            ],
        },
    }
    _create(cluster, namespace, run)
    headers = _headers(cluster.kubectl_run("get", "ar", "-n", namespace).stdout)
    assert headers == "NAME PHASE AGE"
    status = {
        "status": {
            "phase": "Running",
            "startedAt": "2024-01-01T00:00:00Z",
            "metricResults": [
                {
                    "name": "web",
                    "phase": "Running",
                    "count": 1,
                    "successful": 1,
                    "measurements": [
                        {
                            "phase": "Successful",
                            "value": "true",
                            "startedAt": "2024-01-01T00:00:00Z",
                            "finishedAt": "2024-01-01T00:00:01Z",
                        }
                    ],
                }
            ],
        }
    }
    cluster.kubectl_run(
        "patch",
        "analysisrun",
        "run",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )


def test_application_columns(cluster: TestCluster, namespace: str) -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook"},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://example.invalid/argocd-example-apps.git",
                "targetRevision": "HEAD",
                "path": "guestbook",
                "directory": {"recurse": True},
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
                "retry": {
                    "limit": 2,
                    "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"},
                },
            },
        },
    }
    _create(cluster, namespace, app)
    headers = _headers(cluster.kubectl_run("get", "apps", "-n", namespace).stdout)
    assert headers == "NAME SYNC STATUS HEALTH STATUS REVISION AGE"
    status = {
        "status": {
            "sync": {"status": "OutOfSync", "revision": "0123456789abcdef"},
            "health": {"status": "Missing"},
            "reconciledAt": "2024-01-01T00:00:00Z",
        }
    }
    cluster.kubectl_run(
        "patch",
        "application",
        "guestbook",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
