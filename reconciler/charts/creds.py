"""What a Helm repository or OCI registry needs to let us in, as Argo CD's Secrets say it.

A repository Secret (`argocd.argoproj.io/secret-type: repository`, or a `repo-creds`
template) of `type: helm` holds

    url: https://charts.example.com/stable       # or registry.example.com/charts (OCI)
    username: deploy                              # basic auth (index, chart, registry)
    password: <token>
    tlsClientCertData: |                          # a client certificate (mutual TLS)
      -----BEGIN CERTIFICATE-----
    tlsClientCertKey: |
      -----BEGIN PRIVATE KEY-----
    insecure: "true"                              # skip server certificate checks
    enableOCI: "true"                             # the URL is an OCI registry
    insecureOCIForceHttp: "true"                  # the registry speaks plain HTTP

`reconciler.repo_creds.helm_credentials_for` finds the Secret; this module only holds
the result. Secrets are kept out of `repr`, and `secrets()` lists what must never be
printed (the controller's redactor removes them from every message).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from reconciler.source_secrets import basic_authorization, credential_secrets

__all__ = ["HelmCredentials"]


@dataclass(frozen=True)
class HelmCredentials:
    """Credentials and connection options of one Helm repository or OCI registry."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_client_cert_data: str | None = field(default=None, repr=False)
    tls_client_cert_key: str | None = field(default=None, repr=False)
    insecure: bool = False
    """Do not verify the server's certificate (and allow plain HTTP to an OCI registry)."""
    enable_oci: bool = False
    """The repository URL names an OCI registry even though it has an http(s) scheme."""
    force_http: bool = False
    """Argo CD's `insecureOCIForceHttp`: talk plain HTTP to the OCI registry."""

    @property
    def has_basic_auth(self) -> bool:
        return bool(self.username or self.password)

    def basic_authorization(self) -> str | None:
        """The `Authorization` header of basic auth (None without username and password)."""
        return basic_authorization(self.username, self.password)

    def secrets(self) -> list[str]:
        """Every string that must never appear in output."""
        return credential_secrets(self.username, self.password, self.tls_client_cert_key)

    def fingerprint(self) -> str:
        """A digest of everything here: cache entries fetched with different credentials
        never answer for each other."""
        material = json.dumps([self.username, self.password, self.tls_client_cert_data,
                               self.tls_client_cert_key, self.insecure, self.enable_oci,
                               self.force_http])
        return hashlib.sha256(material.encode()).hexdigest()[:32]
