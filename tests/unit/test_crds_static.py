"""Static checks of the CustomResourceDefinitions in manifests/crds (no cluster).

Besides shape checks (structural schema, names, printer columns, subresources) this
file carries a small validator that applies a CRD schema the way the API server does
with strict field validation (`kubectl` default): unknown fields are errors unless a
node preserves them, int-or-string nodes take either, patterns apply to strings only.
It lets us check the compatibility corpus against our schemas without a cluster;
tests/integration/test_crds.py does the same against a real API server.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "manifests" / "crds"
COMPAT = Path(__file__).resolve().parents[2].parent / "shared" / "compat"
ARGO_COMPAT = COMPAT / "argo-rollouts"

INT_OR_STRING = "x-kubernetes-int-or-string"
PRESERVE = "x-kubernetes-preserve-unknown-fields"

EXPECTED = {
    "rollouts.yaml": {
        "kind": "Rollout",
        "plural": "rollouts",
        "scope": "Namespaced",
        "short": {"ro"},
        "status": True,
        "columns": [
            "Desired",
            "Current",
            "Up-to-date",
            "Available",
            "Phase",
            "Step",
            "Weight",
            "Age",
        ],
    },
    "analysistemplates.yaml": {
        "kind": "AnalysisTemplate",
        "plural": "analysistemplates",
        "scope": "Namespaced",
        "short": {"at"},
        "status": False,
        "columns": ["Age"],
    },
    "clusteranalysistemplates.yaml": {
        "kind": "ClusterAnalysisTemplate",
        "plural": "clusteranalysistemplates",
        "scope": "Cluster",
        "short": {"cat"},
        "status": False,
        "columns": ["Age"],
    },
    "analysisruns.yaml": {
        "kind": "AnalysisRun",
        "plural": "analysisruns",
        "scope": "Namespaced",
        "short": {"ar"},
        "status": True,
        "columns": ["Phase", "Age"],
    },
    "experiments.yaml": {
        "kind": "Experiment",
        "plural": "experiments",
        "scope": "Namespaced",
        "short": {"exp"},
        "status": True,
        "columns": ["Status", "Age"],
    },
    "appprojects.yaml": {
        "kind": "AppProject",
        "plural": "appprojects",
        "scope": "Namespaced",
        "short": {"appproj", "appprojs"},
        "status": False,
        "columns": ["Description", "Age"],
    },
    "applications.yaml": {
        "kind": "Application",
        "plural": "applications",
        "scope": "Namespaced",
        "short": {"app", "apps"},
        "status": True,
        "columns": ["Sync Status", "Health Status", "Revision", "Age"],
    },
    "applicationsets.yaml": {
        "kind": "ApplicationSet",
        "plural": "applicationsets",
        "scope": "Namespaced",
        "short": {"appset", "appsets"},
        "status": True,
        "columns": ["Age"],
    },
}


# ----------------------------------------------------------------------------- loading


@functools.cache
def load_crd(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((CRD_DIR / name).read_text()) if d]
    assert len(docs) == 1, f"{name}: expected one document, got {len(docs)}"
    return docs[0]


def version(crd: dict[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def schema_of(kind: str) -> dict[str, Any]:
    for name, exp in EXPECTED.items():
        if exp["kind"] == kind:
            return version(load_crd(name))["schema"]["openAPIV3Schema"]
    raise KeyError(kind)


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node reachable through properties / items / additionalProperties."""
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


# ------------------------------------------------------------------ mini API validator


def validate(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Errors, each starting with the field path, as the API server would report them."""
    errors: list[str] = []
    _check(value, schema, path, errors)
    return errors


def _check(value: Any, s: dict[str, Any], path: str, errors: list[str]) -> None:
    where = path.lstrip(".") or "<root>"
    if value is None:
        return  # null is dropped for optional fields by the API server
    if s.get(INT_OR_STRING):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            errors.append(f"{where}: must be an integer or a string")
        elif isinstance(value, str) and "pattern" in s and not re.search(s["pattern"], value):
            errors.append(f"{where}: Invalid value {value!r}: should match {s['pattern']!r}")
        return
    kind = s.get("type")
    if kind is None:
        assert s.get(PRESERVE), f"{where}: schema node without type"
        return
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{where}: must be an object")
            return
        props = s.get("properties", {})
        extra = s.get("additionalProperties")
        for key, child in value.items():
            sub = f"{path}.{key}"
            if key in props:
                _check(child, props[key], sub, errors)
            elif isinstance(extra, dict):
                _check(child, extra, sub, errors)
            elif not s.get(PRESERVE) and path != ".metadata":
                errors.append(f'unknown field "{sub.lstrip(".")}"')
        for key in s.get("required", []):
            if value.get(key) is None:
                errors.append(f"{where}.{key}: Required value")
        if "minProperties" in s and len(value) < s["minProperties"]:
            errors.append(f"{where}: must have at least {s['minProperties']} properties")
        if "maxProperties" in s and len(value) > s["maxProperties"]:
            errors.append(f"{where}: must have at most {s['maxProperties']} properties")
    elif kind == "array":
        if not isinstance(value, list):
            errors.append(f"{where}: must be an array")
            return
        if "minItems" in s and len(value) < s["minItems"]:
            errors.append(f"{where}: must have at least {s['minItems']} items")
        for i, item in enumerate(value):
            _check(item, s["items"], f"{path}[{i}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{where}: Invalid value: must be a string")
            return
        if "enum" in s and value not in s["enum"]:
            errors.append(f"{where}: Unsupported value {value!r}: {s['enum']}")
        if "pattern" in s and not re.search(s["pattern"], value):
            errors.append(f"{where}: Invalid value {value!r}: should match {s['pattern']!r}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: Invalid value: must be an integer")
            return
        if "minimum" in s and value < s["minimum"]:
            errors.append(f"{where}: should be greater than or equal to {s['minimum']}")
        if "maximum" in s and value > s["maximum"]:
            errors.append(f"{where}: should be less than or equal to {s['maximum']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{where}: Invalid value: must be a boolean")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"{where}: Invalid value: must be a number")
    else:  # pragma: no cover - only the types above are used
        raise AssertionError(f"{where}: unexpected type {kind}")


def validate_doc(doc: dict[str, Any]) -> list[str]:
    return validate(doc, schema_of(doc["kind"]))


def argo_docs(path: Path) -> list[dict[str, Any]]:
    return [
        d
        for d in yaml.safe_load_all(path.read_text())
        if d and str(d.get("apiVersion", "")).startswith("argoproj.io/")
    ]


def compat_files() -> list[Path]:
    if not ARGO_COMPAT.is_dir():
        return []
    return sorted(ARGO_COMPAT.glob("*.yaml"))


MALFORMED = [p for p in compat_files() if "malformed" in p.name]
WELLFORMED = [p for p in compat_files() if "malformed" not in p.name]

# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crd_identity(name: str) -> None:
    crd = load_crd(name)
    exp = EXPECTED[name]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    spec = crd["spec"]
    assert spec["group"] == "argoproj.io"
    assert crd["metadata"]["name"] == f"{exp['plural']}.argoproj.io"
    assert spec["scope"] == exp["scope"]
    names = spec["names"]
    assert names["kind"] == exp["kind"]
    assert names["plural"] == exp["plural"]
    assert names["singular"] == exp["kind"].lower()
    assert names["listKind"] == exp["kind"] + "List"
    assert set(names["shortNames"]) == exp["short"]
    v = version(crd)
    assert (v["name"], v["served"], v["storage"]) == ("v1alpha1", True, True)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crd_schema_is_structural(name: str) -> None:
    root = version(load_crd(name))["schema"]["openAPIV3Schema"]
    assert root["type"] == "object"
    assert "spec" in root["properties"]
    assert "spec" in root.get("required", [])
    assert root["properties"]["metadata"] == {"type": "object"}
    for path, node in walk(root):
        where = f"{name}:{path or '<root>'}"
        if node.get(INT_OR_STRING):
            assert "type" not in node, f"{where}: int-or-string must not set a type"
            anyof = node.get("anyOf")
            assert anyof in (None, [{"type": "integer"}, {"type": "string"}]), where
            assert PRESERVE not in node, where
            continue
        if "type" not in node:
            assert node.get(PRESERVE) is True, f"{where}: no type and not preserve-unknown"
            assert not {"properties", "items", "additionalProperties"} & node.keys(), where
            continue
        assert node["type"] in {"object", "array", "string", "integer", "boolean", "number"}, where
        for junctor in ("anyOf", "oneOf", "allOf", "not"):
            assert junctor not in node, (
                f"{where}: logical junctors are not used outside int-or-string"
            )
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{where}: array without items"
        if node["type"] == "object":
            assert not ("properties" in node and "additionalProperties" in node), where
            assert not (node.get(PRESERVE) and "additionalProperties" in node), where
            for key in node.get("required", []):
                assert key in node.get("properties", {}), f"{where}: required {key} undeclared"
        else:
            assert PRESERVE not in node, f"{where}: preserve-unknown on a {node['type']}"
            assert "properties" not in node and "required" not in node, where
        for value in node.get("enum", []):
            assert isinstance(value, str) == (node["type"] == "string"), where
        if "pattern" in node:
            re.compile(node["pattern"])
            assert node["type"] == "string", where


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crd_subresources_and_columns(name: str) -> None:
    crd = load_crd(name)
    exp = EXPECTED[name]
    v = version(crd)
    root = v["schema"]["openAPIV3Schema"]
    subresources = v.get("subresources", {})
    if exp["status"]:
        assert subresources.get("status") == {}
        assert "status" in root["properties"]
    else:
        assert "status" not in subresources
    columns = v["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == exp["columns"]
    for column in columns:
        assert column["type"] in {"integer", "string", "date", "number", "boolean"}
        assert column.get("priority", 0) == 0, f"{column['name']} must show by default"
        # Every column must point at a declared field of the right type.
        node: dict[str, Any] = root
        for part in column["jsonPath"].lstrip(".").split("."):
            if part == "metadata" and node is root:
                node = {"type": "object"}
                break
            assert part in node.get("properties", {}), f"{column['jsonPath']}: {part}"
            node = node["properties"][part]
        else:
            expected_type = {"date": "string"}.get(column["type"], column["type"])
            assert node["type"] == expected_type, column["jsonPath"]


def test_rollout_scale_subresource() -> None:
    v = version(load_crd("rollouts.yaml"))
    assert v["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    status = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["replicas"]["type"] == "integer"
    assert status["selector"]["type"] == "string"


def test_analysis_specs_share_one_schema() -> None:
    at = schema_of("AnalysisTemplate")["properties"]["spec"]
    cat = schema_of("ClusterAnalysisTemplate")["properties"]["spec"]
    ar = schema_of("AnalysisRun")["properties"]["spec"]
    assert at == cat
    assert at["properties"]["metrics"] == ar["properties"]["metrics"]
    assert at["properties"]["args"] == ar["properties"]["args"]


def test_int_or_string_fields() -> None:
    def node(kind: str, path: str) -> dict[str, Any]:
        n = schema_of(kind)
        for part in path.split("."):
            n = n["items"] if part == "[]" else n["properties"][part]
        return n

    rollout_paths = [
        "spec.strategy.canary.maxSurge",
        "spec.strategy.canary.maxUnavailable",
        "spec.strategy.blueGreen.maxUnavailable",
        "spec.strategy.canary.steps.[].pause.duration",
    ]
    for path in rollout_paths:
        assert node("Rollout", path).get(INT_OR_STRING), path
    assert node("Rollout", "spec.strategy.canary.steps.[].setWeight")["type"] == "integer"
    metric = "spec.metrics.[]"
    for field in ["count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit"]:
        assert node("AnalysisTemplate", f"{metric}.{field}").get(INT_OR_STRING), field
    for field in ["interval", "initialDelay"]:
        assert node("AnalysisTemplate", f"{metric}.{field}")["type"] == "string"
    assert node("AnalysisTemplate", "spec.args.[].value")["type"] == "string"


def test_kustomization_installs_every_crd() -> None:
    top = yaml.safe_load((REPO / "manifests" / "kustomization.yaml").read_text())
    assert top["resources"] == ["crds"]
    kustomization = yaml.safe_load((CRD_DIR / "Kustomization").read_text())
    assert sorted(kustomization["resources"]) == sorted(EXPECTED)
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(EXPECTED)
    install = yaml.safe_load((REPO / "manifests" / "install" / "kustomization.yaml").read_text())
    assert install["resources"] == ["base"]
    base = yaml.safe_load((REPO / "manifests" / "install" / "base" / "kustomization.yaml")
                          .read_text())
    assert "../../crds" in base["resources"]


# ------------------------------------------------- the compatibility corpus, offline


@pytest.mark.skipif(not WELLFORMED, reason="compat corpus not present")
@pytest.mark.parametrize("path", WELLFORMED, ids=lambda p: p.name)
def test_compat_manifest_is_accepted(path: Path) -> None:
    docs = argo_docs(path)
    assert docs, f"{path.name} has no argoproj.io objects"
    for doc in docs:
        assert validate_doc(doc) == [], f"{path.name}: {doc['kind']} {doc['metadata']['name']}"


@pytest.mark.skipif(not MALFORMED, reason="compat corpus not present")
@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.name)
def test_malformed_compat_manifest_is_refused(path: Path) -> None:
    (doc,) = argo_docs(path)
    errors = validate_doc(doc)
    assert errors, f"{path.name} should be refused"
    assert all("resources.requests.memory" in e for e in errors), errors


# ------------------------------------------------------------- hand-written examples

ROLLOUT = yaml.safe_load(
    """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 10
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers:
      - name: demo
        image: nginx
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 1, memory: 1Gi}}
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      maxSurge: "25%"
      maxUnavailable: 0
      trafficRouting:
        nginx: {stableIngress: demo}
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: demo, namespace: default}
      analysis:
        templates: [{templateName: success-rate}]
        startingStep: 2
        args:
        - {name: hash, valueFrom: {podTemplateHashValue: Latest}}
      steps:
      - setWeight: 20
      - pause: {duration: 1h30m}
      - pause: {duration: 30}
      - pause: {}
      - setCanaryScale: {replicas: 3}
      - analysis:
          templates: [{templateName: smoke, clusterScope: true}]
          args: [{name: svc, value: demo}]
"""
)

APPLICATION = yaml.safe_load(
    """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: helm-guestbook
    helm:
      releaseName: gb
      valueFiles: [values-production.yaml]
      values: |
        replicaCount: 2
      parameters:
      - {name: image.tag, value: "1.0", forceString: true}
  destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
  syncPolicy:
    automated: {prune: true, selfHeal: true, allowEmpty: false}
    syncOptions: [CreateNamespace=true, PruneLast=true, ServerSideApply=true]
    retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}
  ignoreDifferences:
  - group: apps
    kind: Deployment
    jsonPointers: [/spec/replicas]
    jqPathExpressions: [".spec.template.spec.containers[0].image"]
    managedFieldsManagers: [kube-controller-manager]
"""
)


def test_examples_are_accepted() -> None:
    assert validate_doc(ROLLOUT) == []
    assert validate_doc(APPLICATION) == []
    kustomize_app = copy.deepcopy(APPLICATION)
    kustomize_app["spec"]["source"] = {
        "repoURL": "https://example.com/repo.git",
        "path": "kustomize-guestbook",
        "kustomize": {
            "namePrefix": "staging-",
            "images": ["gcr.io/x/guestbook:v2"],
            "commonLabels": {"env": "staging"},
        },
    }
    assert validate_doc(kustomize_app) == []
    directory_app = copy.deepcopy(APPLICATION)
    directory_app["spec"]["source"] = {
        "repoURL": "https://example.com/repo.git",
        "path": "guestbook",
        "directory": {"recurse": True, "include": "*.yaml", "exclude": "secret*"},
    }
    assert validate_doc(directory_app) == []


def _mutated(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (
            "spec.strategy.canary.steps.0",
            {"setWieght": 20},
            'unknown field "spec.strategy.canary.steps[0].setWieght"',
        ),
        (
            "spec.strategy.canary.steps.0",
            {"setWeight": 20, "pause": {}},
            "spec.strategy.canary.steps[0]: must have at most 1",
        ),
        (
            "spec.strategy.canary.steps.0",
            {"setWeight": 101},
            "spec.strategy.canary.steps[0].setWeight",
        ),
        (
            "spec.strategy.canary.steps.1",
            {"pause": {"duration": "10x"}},
            "spec.strategy.canary.steps[1].pause.duration",
        ),
        ("spec.strategy.canary.maxSurge", "lots", "spec.strategy.canary.maxSurge"),
        (
            "spec.strategy.canary.analysis.args.0.valueFrom.podTemplateHashValue",
            "Newest",
            "podTemplateHashValue",
        ),
        ("spec.replicas", -1, "spec.replicas"),
        (
            "spec.template.spec.containers.0.resources.limits.cpu",
            "a lot",
            "spec.template.spec.containers[0].resources.limits.cpu",
        ),
        (
            "spec.strategy.blueGreen",
            {"previewService": "p"},
            "spec.strategy.blueGreen.activeService: Required value",
        ),
    ],
)
def test_rollout_mistakes_are_refused_naming_the_field(path: str, value: Any, needle: str) -> None:
    errors = validate_doc(_mutated(ROLLOUT, path, value))
    assert any(needle in e for e in errors), errors


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        ("spec.destination", None, "spec.destination: Required value"),
        ("spec.source.repoURL", None, "spec.source.repoURL: Required value"),
        ("spec.syncPolicy.automated.prune", "yes", "spec.syncPolicy.automated.prune"),
        ("spec.syncPolicy.automatic", {}, 'unknown field "spec.syncPolicy.automatic"'),
        ("spec.ignoreDifferences.0.kind", None, "spec.ignoreDifferences[0].kind"),
    ],
)
def test_application_mistakes_are_refused_naming_the_field(
    path: str, value: Any, needle: str
) -> None:
    errors = validate_doc(_mutated(APPLICATION, path, value))
    assert any(needle in e for e in errors), errors


ANALYSIS_TEMPLATE = yaml.safe_load(
    """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
  - name: service-name
  - name: api-token
    valueFrom: {secretKeyRef: {name: token, key: token}}
  metrics:
  - name: success-rate
    interval: 5m
    count: 3
    failureLimit: 1
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: sum(rate(http_requests_total{service="{{args.service-name}}"}[5m]))
        timeout: 20
        headers: [{key: Authorization, value: "Bearer {{args.api-token}}"}]
  - name: web
    consecutiveErrorLimit: "{{args.errors}}"
    provider:
      web:
        url: http://example.com/health
        method: POST
        jsonBody: {check: deep}
        timeoutSeconds: 5
        jsonPath: "{$.ok}"
  - name: datadog
    provider:
      datadog: {query: "avg:x{*}", interval: 5m}
"""
)


def test_analysis_template_example_is_accepted() -> None:
    assert validate_doc(ANALYSIS_TEMPLATE) == []
    run = copy.deepcopy(ANALYSIS_TEMPLATE)
    run["kind"] = "AnalysisRun"
    run["spec"]["terminate"] = True
    run["status"] = {
        "phase": "Running",
        "startedAt": "2024-01-01T00:00:00Z",
        "metricResults": [
            {
                "name": "success-rate",
                "phase": "Running",
                "count": 1,
                "successful": 1,
                "measurements": [
                    {
                        "phase": "Successful",
                        "value": "[0.99]",
                        "startedAt": "2024-01-01T00:00:00Z",
                        "finishedAt": "2024-01-01T00:00:01Z",
                    }
                ],
            }
        ],
    }
    assert validate_doc(run) == []


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        ("spec.metrics", [], "spec.metrics: must have at least 1"),
        ("spec.metrics.0.provider", {}, "spec.metrics[0].provider: must have at least 1"),
        (
            "spec.metrics.0.provider",
            {"prometheus": {}, "web": {"url": "x"}},
            "spec.metrics[0].provider: must have at most 1",
        ),
        ("spec.args.0.value", 5, "spec.args[0].value"),
        ("spec.metrics.1.provider.web.method", "DELETE", "spec.metrics[1].provider.web.method"),
        ("spec.metrics.0.intervall", "5m", 'unknown field "spec.metrics[0].intervall"'),
    ],
)
def test_analysis_template_mistakes_are_refused(path: str, value: Any, needle: str) -> None:
    errors = validate_doc(_mutated(ANALYSIS_TEMPLATE, path, value))
    assert any(needle in e for e in errors), errors


def test_validator_follows_preserve_unknown_and_int_or_string() -> None:
    schema = {
        "type": "object",
        "properties": {
            "open": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"n": {"type": "integer"}},
            },
            "ios": {
                "x-kubernetes-int-or-string": True,
                "pattern": "^[0-9]+%$",
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            },
        },
    }
    assert validate({"open": {"x": {"y": 1}}, "ios": 3}, schema) == []
    assert validate({"ios": "3%"}, schema) == []
    assert validate({"open": {"n": "1"}}, schema) == ["open.n: Invalid value: must be an integer"]
    assert len(validate({"ios": "3"}, schema)) == 1
    assert validate({"other": 1}, schema) == ['unknown field "other"']
