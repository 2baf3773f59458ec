"""Helm repository and OCI registry settings from Argo CD's repository Secrets."""

from __future__ import annotations

import base64
from typing import Any

from reconciler.charts import HelmCredentials
from reconciler.repo_creds import helm_credentials_for
from reconciler.source_secrets import Credentials


def secret(url: str, kind: str = "repository", **data: str) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode()
               for k, v in {"url": url, "type": "helm", **data}.items()}
    return {"metadata": {"name": "s", "labels": {"argocd.argoproj.io/secret-type": kind}},
            "data": encoded}


def test_every_helm_field_is_read() -> None:
    found = helm_credentials_for("https://charts.example.com/stable", [secret(
        "https://charts.example.com/stable/", username="deploy", password="pw",
        tlsClientCertData="CERT", tlsClientCertKey="KEY", insecure="true", enableOCI="True",
        insecureOCIForceHttp="false")])
    assert found == HelmCredentials(username="deploy", password="pw",
                                    tls_client_cert_data="CERT", tls_client_cert_key="KEY",
                                    insecure=True, enable_oci=True, force_http=False)
    assert "pw" not in repr(found) and "KEY" not in repr(found)
    assert "pw" in found.secrets() and "KEY" in found.secrets()


def test_an_oci_address_with_or_without_the_scheme_is_one_repository() -> None:
    secrets = [secret("registry.example.com/charts", username="u", password="p",
                      enableOCI="true")]
    for url in ("oci://registry.example.com/charts", "registry.example.com/charts/",
                "oci://Registry.Example.com/charts"):
        found = helm_credentials_for(url, secrets)
        assert found is not None and found.username == "u", url
    assert helm_credentials_for("https://registry.example.com/charts", secrets) is None
    assert helm_credentials_for("oci://registry.example.com/charts-evil", secrets) is None


def test_templates_match_by_whole_segments_and_the_repository_secret_wins() -> None:
    secrets = [secret("oci://ghcr.io/acme", "repo-creds", username="team", password="t"),
               secret("oci://ghcr.io", "repo-creds", username="all", password="a"),
               secret("oci://ghcr.io/acme/special", username="one", password="o")]
    assert (helm_credentials_for("oci://ghcr.io/acme/web", secrets) or
            HelmCredentials()).username == "team"
    assert (helm_credentials_for("oci://ghcr.io/other", secrets) or
            HelmCredentials()).username == "all"
    assert (helm_credentials_for("oci://ghcr.io/acme/special", secrets) or
            HelmCredentials()).username == "one"
    assert (helm_credentials_for("oci://ghcr.io/acme-evil/x", secrets) or
            HelmCredentials()).username == "all"


def test_a_secret_with_nothing_helm_uses_is_not_a_match() -> None:
    assert helm_credentials_for("https://h/charts", [secret("https://h/charts")]) is None
    unlabelled = secret("https://h/charts", password="p")
    unlabelled["metadata"]["labels"] = {}
    assert helm_credentials_for("https://h/charts", [unlabelled]) is None
    assert helm_credentials_for("ftp://h/charts", [secret("ftp://h/charts", password="p")]) \
        is None


def test_an_application_with_a_chart_checks_clean_without_a_path() -> None:
    from rollouts.api import check_object

    app: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "web"},
           "spec": {"project": "default",
                    "source": {"repoURL": "oci://ghcr.io/acme/charts", "chart": "web",
                               "targetRevision": "1.x", "helm": {"releaseName": "shop"}},
                    "destination": {"server": "https://kubernetes.default.svc",
                                    "namespace": "web"}}}
    assert list(check_object(app).problems) == []
    app["spec"]["source"].pop("chart")
    paths = [problem.path for problem in check_object(app).problems]
    assert paths == ["spec.source.path"]


def test_the_basic_auth_token_sent_is_a_secret_even_without_a_username() -> None:
    # A Secret with a password and no (or an empty) username: the header still goes out
    # as base64(":password"), so that is what the redactor must know.
    found = helm_credentials_for("https://charts.example.com/stable", [secret(
        "https://charts.example.com/stable", username="", password="pw-only")])
    assert found is not None
    header = found.basic_authorization()
    assert header == "Basic " + base64.b64encode(b":pw-only").decode()
    assert header.removeprefix("Basic ") in found.secrets()
    git = Credentials(username=None, password="pw-only")
    assert header.removeprefix("Basic ") in git.secrets()


def test_a_chart_source_without_repo_url_is_told_what_url_it_needs() -> None:
    from rollouts.api import check_object

    app: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {"project": "default",
                 "source": {"repoURL": "", "chart": "web", "targetRevision": "1.x"},
                 "destination": {"server": "https://kubernetes.default.svc",
                                 "namespace": "web"}}}
    messages = {p.path: p.message for p in check_object(app).problems}
    assert messages["spec.source.repoURL"] == \
        "required: the Helm repository or OCI registry URL"
