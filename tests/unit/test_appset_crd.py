"""The ApplicationSet CRD accepts ApplicationSets as Argo CD's documentation writes them
(checked offline with the validator of test_crds_static.py), and refuses a typo in the
fields we implement, naming it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.test_crds_static import validate_doc

ACCEPTED = """
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: guestbook, namespace: argocd}
spec:
  generators:
  - list:
      elements:
      - {cluster: engineering-dev, url: 'https://1.2.3.4'}
      - cluster: engineering-prod
        url: https://2.4.6.8
        values: {project: prod}
  template:
    metadata:
      name: '{{cluster}}-guestbook'
      labels: {team: web}
      finalizers: [resources-finalizer.argocd.argoproj.io]
    spec:
      project: '{{values.project}}'
      source: {repoURL: 'https://github.com/argoproj/argo-cd.git', targetRevision: HEAD,
               path: 'applicationset/examples/list-generator/guestbook/{{cluster}}'}
      destination: {server: '{{url}}', namespace: guestbook}
      syncPolicy: {automated: {prune: true, selfHeal: true}, syncOptions: [CreateNamespace=true]}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: cluster-addons}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - matrix:
      generators:
      - git:
          repoURL: https://github.com/argoproj/argo-cd.git
          revision: HEAD
          directories:
          - path: applicationset/examples/matrix/cluster-addons/*
          - {path: applicationset/examples/matrix/cluster-addons/legacy, exclude: true}
      - clusters:
          selector:
            matchLabels: {argocd.argoproj.io/secret-type: cluster}
            matchExpressions:
            - {key: env, operator: In, values: [staging, prod]}
          values: {revision: '{{index .metadata.labels "revision"}}'}
  - merge:
      mergeKeys: [server]
      generators:
      - clusters: {values: {kafka: 'true'}}
      - list:
          elements:
          - {server: 'https://2.4.6.8', values.redis: 'true'}
  - git:
      repoURL: https://github.com/argoproj/argo-cd.git
      revision: HEAD
      files: [{path: "applicationset/examples/git-generator-files-discovery/**/config.json"}]
      pathParamPrefix: cfg
      requeueAfterSeconds: 30
      template:
        metadata: {}
        spec:
          project: default
          destination: {}
    selector:
      matchLabels: {cluster.region: eu}
  - pullRequest:
      github: {owner: argoproj, repo: argo-cd}
      requeueAfterSeconds: 1800
  template:
    metadata: {name: '{{.path.basename}}-{{.name}}'}
    spec:
      project: '{{.values.project | default "default"}}'
      source: {repoURL: 'https://github.com/argoproj/argo-cd.git', targetRevision: HEAD,
               path: '{{.path.path}}'}
      destination: {server: '{{.server}}', namespace: '{{.path.basename}}'}
  templatePatch: |
    spec:
      source:
        helm:
          valueFiles: [values.yaml]
  syncPolicy:
    applicationsSync: create-update
    preserveResourcesOnDeletion: true
  strategy:
    type: RollingSync
    rollingSync:
      steps:
      - matchExpressions: [{key: envLabel, operator: In, values: [env-dev]}]
        maxUpdate: 100%
  ignoreApplicationDifferences:
  - jsonPointers: [/spec/source/targetRevision]
  preservedFields: {annotations: [my-annotation], labels: [my-label]}
"""


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(ACCEPTED) if d]


@pytest.mark.parametrize("doc", documents(), ids=lambda d: d["metadata"]["name"])
def test_argo_style_application_sets_are_accepted(doc: dict[str, Any]) -> None:
    assert validate_doc(doc) == []


@pytest.mark.parametrize(("path", "value", "fragment"), [
    (("syncPolicy", "applicationsSync"), "delete-all",
     "spec.syncPolicy.applicationsSync: Unsupported value 'delete-all'"),
    (("goTemplate",), "yes", "spec.goTemplate: Invalid value: must be a boolean"),
    (("generators",), {"list": {}}, "spec.generators: must be an array"),
])
def test_a_typo_in_an_implemented_field_is_refused(path: tuple[str, ...], value: object,
                                                   fragment: str) -> None:
    doc = documents()[0]
    node = doc["spec"]
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    errors = validate_doc(doc)
    assert any(fragment in e for e in errors), errors
