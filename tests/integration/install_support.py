"""Helpers of the install tests (test_install.py, test_install_rbac.py,
test_install_namespaced.py): the install's ServiceAccounts as real credentials.

- `token_kubeconfig` writes a kubeconfig whose only user is a ServiceAccount token from
  `kubectl create token`, so the API server enforces exactly the install's RBAC.
- `SaController` runs `rollouts controller` with such a kubeconfig, on a Lease of its own
  (`--instance-id`), and `refusals` finds any 403 in its log.
- `can_i_list` reads `kubectl auth can-i --list` into a comparable {resource: verbs} map.
- `renamed_copy` turns rendered install manifests into a private copy (unique
  ServiceAccount, namespaces and cluster-scoped names), so a test can apply the
  namespaced variant without touching the shared cluster-wide install.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from copy import deepcopy
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from rollouts.api.sharding import INSTANCE_ID_LABEL
from tests.conftest import TestCluster
from tests.integration.support import REPO

INSTALL = REPO / "manifests" / "install"
NAMESPACED = INSTALL / "namespaced"
HOME = "rollouts"
CONTROLLER_SA = f"system:serviceaccount:{HOME}:rollouts-controller"
RECONCILER_SA = f"system:serviceaccount:{HOME}:rollouts-reconciler"
NOTIFICATIONS_SA = f"system:serviceaccount:{HOME}:rollouts-notifications"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

# Granted to every authenticated user by the API server's bootstrap roles
# (system:basic-user, system:discovery, system:public-info-viewer and, since 1.33,
# clustertrustbundles for system:authenticated): not the install's doing, so the pins
# name and drop exactly these. Anything else a ServiceAccount may do is pinned.
EVERY_AUTHENTICATED_USER = frozenset({
    "selfsubjectreviews.authentication.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
    "clustertrustbundles.certificates.k8s.io",
    "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz",
    "/openapi", "/openapi/*", "/openid/v1/jwks", "/openid/v1/jwks/",
    "/version", "/version/",
})

# One row of `kubectl auth can-i --list`: Resources, Non-Resource URLs, Resource Names,
# Verbs (the last three as `[a b]`).
# A 403 as urllib3 logs it (`"GET /api/... HTTP/1.1" 403 512`) or as an error names it.
_STATUS_403 = re.compile(r'HTTP/[0-9.]+\\?" 403\b|\(403\)|\b403 Forbidden', re.IGNORECASE)
_ROW = re.compile(r"^(\S*)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$")


def token_kubeconfig(cluster: TestCluster, account: str, path: Path,
                     namespace: str = HOME) -> Path:
    """A kubeconfig for the dev cluster whose only credential is `account`'s token."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    token = cluster.kubectl_run("create", "token", account, "-n", namespace,
                                "--duration=1h").stdout.strip()
    context = config["contexts"][0]
    context["context"]["user"] = account
    config["users"] = [{"name": account, "user": {"token": token}}]
    config["contexts"] = [context]
    config["current-context"] = context["name"]
    path.write_text(yaml.safe_dump(config))
    return path


def refusals(log: str) -> list[str]:
    """The log lines that show the API server refusing the controller (403 / forbidden)."""
    return [line for line in log.splitlines()
            if "forbidden" in line.lower() or _STATUS_403.search(line)]


class SaController:
    """`rollouts controller` as a child process, authenticated only by a token kubeconfig.

    It keeps leader election on (the install runs it) and runs with a fresh
    `--instance-id`: it serves only Rollouts labelled with it (`label` them), so it never
    acts on another test's objects nor they on its, and its Lease in `lease_namespace` is
    its own; `close` deletes that Lease with the admin credentials.
    """

    def __init__(self, cluster: TestCluster, kubeconfig: Path, log: Path, *args: str,
                 lease_namespace: str = HOME) -> None:
        self.cluster, self.log, self.lease_namespace = cluster, log, lease_namespace
        self.instance = f"t{uuid.uuid4().hex[:8]}"
        self.argv = [sys.executable, "-m", "rollouts.cli.main", "controller",
                     f"--kubeconfig={kubeconfig}", "--lease-namespace", lease_namespace,
                     "--instance-id", self.instance, "--port", "0", "--log-level", "DEBUG",
                     "--log-format", "json", *args]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SaController:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def label(self, obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` labelled for this controller's instance id (Rollouts, Experiments)."""
        obj["metadata"].setdefault("labels", {})[INSTANCE_ID_LABEL] = self.instance
        return obj

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def close(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None
        out = self.cluster.kubectl_run("get", "leases", "-n", self.lease_namespace, "-o",
                                       "json", check=False).stdout
        for lease in json.loads(out or '{"items": []}')["items"]:
            name = lease["metadata"]["name"]
            if name.endswith(f"-{self.instance}"):
                self.cluster.kubectl_run("delete", "lease", name, "-n", self.lease_namespace,
                                         "--wait=false", check=False)
        if os.environ.get("ROLLOUTS_SHOW_CONTROLLER_LOG"):
            print(self.text()[-30000:])


def can_i_list(cluster: TestCluster, who: str, namespace: str) -> dict[str, list[str]]:
    """`kubectl auth can-i --list` for `who` in `namespace` as {resource: sorted verbs}.

    The key is the resource (`deployments.apps`, `*.*`, `/healthz`), with `[names]`
    appended when a rule is limited to resource names; rows naming the same key are
    merged. Entries every authenticated user has are dropped by name.
    """
    result = cluster.kubectl_run("auth", "can-i", "--list", "-n", namespace, f"--as={who}")
    rows = result.stdout.splitlines()
    assert rows and rows[0].split()[0] == "Resources", result.stdout
    table: dict[str, set[str]] = {}
    for row in rows[1:]:
        match = _ROW.match(row)
        assert match is not None, f"unparsed can-i row: {row!r}"
        resource, urls, names, verbs = match.groups()
        keys = [resource + (f"[{names}]" if names else "")] if resource else urls.split()
        for key in keys:
            table.setdefault(key, set()).update(verbs.split())
    return {key: sorted(verbs) for key, verbs in sorted(table.items())
            if key not in EVERY_AUTHENTICATED_USER}


def render(directory: Path, cluster: TestCluster) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize <directory>` renders."""
    out = cluster.kubectl_run("kustomize", str(directory)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def renamed_copy(docs: list[dict[str, Any]], *, prefix: str,
                 namespaces: dict[str, str]) -> list[dict[str, Any]]:
    """The RBAC objects of `docs`, renamed into a private copy.

    Names starting `rollouts-` start `<prefix>-` instead (objects, roleRefs, subjects),
    and the namespaces in `namespaces` are replaced (metadata and subjects); Namespace
    objects and everything that is not RBAC (CRDs, Deployments) are left out.
    """
    def name(value: str) -> str:
        return prefix + value[len("rollouts"):] if value.startswith("rollouts-") else value

    copy: list[dict[str, Any]] = []
    for doc in docs:
        if doc.get("kind") not in RBAC_KINDS:
            continue
        doc = deepcopy(doc)
        meta = doc["metadata"]
        meta["name"] = name(meta["name"])
        if "namespace" in meta:
            meta["namespace"] = namespaces.get(meta["namespace"], meta["namespace"])
        if "roleRef" in doc:
            doc["roleRef"]["name"] = name(doc["roleRef"]["name"])
        for subject in doc.get("subjects") or []:
            subject["name"] = name(subject["name"])
            if "namespace" in subject:
                subject["namespace"] = namespaces.get(subject["namespace"],
                                                      subject["namespace"])
        copy.append(doc)
    return copy
