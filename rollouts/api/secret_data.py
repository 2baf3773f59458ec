"""A Kubernetes Secret's values as text: the one reading of `data` every side shares.

`data` holds base64 of bytes; a value that is not base64 (with padding, nothing but
its alphabet) of UTF-8 text is *bad*, named by key so the caller can say which field to
fix. `stringData` (plain text, merged into `data` by the API server on write, so seen
only in objects not yet written) wins over `data` for the same key, as the API server
lets it. Pure, standard library only.

Neighbours (who reads Secrets): the cluster registry (`reconciler.clusters.registry`,
a bad key is a `ClusterProblem`), repository credentials (`reconciler.repo_creds`, a bad
key is a missing one), notification settings (`rollouts.notifications.config`, skipped),
`rollouts cluster add` (a bad ServiceAccount token is a one-line error).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SECRET_TYPE_LABEL", "SecretData", "decode_value", "secret_data"]

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
"""Argo CD's label saying what a Secret holds: `cluster`, `repository`, `repo-creds`."""


@dataclass(frozen=True)
class SecretData:
    """The decoded values by key, and the keys of `data` whose values could not be."""

    values: dict[str, str] = field(default_factory=dict)
    bad: tuple[str, ...] = ()


def decode_value(value: object) -> str | None:
    """One `data` value as text; None when it is not base64 of UTF-8."""
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def secret_data(secret: Mapping[str, Any] | None) -> SecretData:
    """`data` decoded and `stringData` laid over it (see the module docstring)."""
    values: dict[str, str] = {}
    bad: list[str] = []
    data = (secret or {}).get("data")
    for key, value in (data if isinstance(data, Mapping) else {}).items():
        text = decode_value(value)
        if text is None:
            bad.append(str(key))
        else:
            values[str(key)] = text
    plain = (secret or {}).get("stringData")
    for key, value in (plain if isinstance(plain, Mapping) else {}).items():
        values[str(key)] = str(value)
        if str(key) in bad:
            bad.remove(str(key))
    return SecretData(values, tuple(bad))
