"""The seam between the AnalysisRun state machine and the metric providers.

The state machine (`analysis.decide`) hands a provider a `MeasureContext` (the metric with
`{{args.*}}` already substituted, the previous measurement, the time) and gets back an
`Outcome`: a value, or an error, or "still running, ask me again at `resume_at`". A provider
never raises for a failed measurement: an unreachable server, a timeout, a non-2xx answer,
garbage instead of JSON, a result of the wrong type all come back as
`Outcome(error="<one line>")`, which the state machine records as an Error measurement that
counts toward `consecutiveErrorLimit`. Error strings never carry credentials: providers
scrub the secrets they were given (`scrub`) and show URLs without user info or query
(`display_url`); values that came from Secret-backed arguments are the caller's to redact
(`analysis.args.ResolvedArgs.redact`), since providers never see which values those were.

Neighbours: `prometheus.py`, `web.py`, `job.py`, `judge.py` implement `MetricProvider`;
`analysis.args` resolves and substitutes arguments before a provider is called.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError
from rollouts.kube.errors import one_line

__all__ = [
    "PROVIDER_KINDS",
    "REDACTED",
    "MeasureContext",
    "MetricProvider",
    "Outcome",
    "describe_transport_error",
    "display_url",
    "headers_dict",
    "provider_for",
    "scrub",
    "seconds_setting",
    "sensitive_header_values",
]

PROVIDER_KINDS = ("prometheus", "web", "job", "judge")
"""The provider keys we implement, in `metric.provider`."""

REDACTED = "*****"

# Header names whose values are credentials (Authorization, X-Api-Key, Cookie, ...).
_SENSITIVE_HEADER = re.compile(r"(?i)auth|token|key|secret|passw|cookie|session|credential")


@dataclass(frozen=True)
class MeasureContext:
    """Everything a provider needs to take (or resume) one measurement.

    `previous` is the metric's last measurement as stored in the run's status
    (`{"phase": "Running", "startedAt": ..., "metadata": {"job-name": ...}}` for a Job still
    running), or None. `measurement_number` is the 1-based number of this measurement
    among the metric's measurements (Argo's `count + error + 1`); the Job provider puts it
    in the Job's name so that a create retried after a crash finds the same Job. When it is
    None the Job provider derives it from `previous`.
    """

    namespace: str
    run_name: str
    run_uid: str
    metric: dict[str, Any]
    previous: dict[str, Any] | None
    now: datetime
    measurement_number: int | None = None

    @property
    def metric_name(self) -> str:
        return str(self.metric.get("name") or "")

    def provider_spec(self, kind: str) -> dict[str, Any]:
        """`metric.provider.<kind>` (an empty dict when absent or not an object)."""
        provider = self.metric.get("provider")
        spec = provider.get(kind) if isinstance(provider, dict) else None
        return spec if isinstance(spec, dict) else {}


@dataclass(frozen=True)
class Outcome:
    """What one call of `MetricProvider.measure` found.

    - `value`: the parsed result: `list[float]` for a Prometheus vector or matrix (empty when
      nothing matched), `float` for a scalar, any JSON value for a web metric, `bool` for a
      Job (True: the Job completed; False: it failed, which the state machine records as a
      Failed measurement).
    - `error`: the measurement could not be taken (an Error measurement); one line.
    - `pending`: still running (a Job): keep the measurement Running and call `measure`
      again at `resume_at` with this outcome's `metadata` in `previous`.
    - `metadata`: stored on the measurement (`job-name`, Prometheus `warnings`); never
      holds credentials.
    - `started_at`: when the measurement began (the controller stamps it just before
      calling the provider, so `startedAt` precedes `finishedAt` by the query's time).
    """

    value: object = None
    error: str | None = None
    pending: bool = False
    resume_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    started_at: datetime | None = None


@runtime_checkable
class MetricProvider(Protocol):
    """Takes measurements of one kind of metric (`prometheus`, `web`, `job` or `judge`)."""

    kind: str

    def measure(self, context: MeasureContext) -> Outcome:
        """Take (or, for a pending measurement, check on) one measurement; never raises for
        a failed measurement."""
        ...

    def terminate(self, context: MeasureContext) -> None:
        """Stop the pending measurement described by `context.previous` (delete its Job)."""
        ...


def provider_for(metric: dict[str, Any]) -> str | None:
    """The provider key `metric.provider` uses, or None unless exactly one key is set.

    The key is returned even when we do not implement it (`datadog`), so the caller can
    say which provider is missing; `PROVIDER_KINDS` lists the ones we have.
    """
    provider = metric.get("provider")
    if not isinstance(provider, dict):
        return None
    keys = [key for key, value in provider.items() if value is not None]
    return keys[0] if len(keys) == 1 else None


def scrub(text: str, secrets: Iterable[str | None], limit: int = 500) -> str:
    """`text` on one line, with every secret (and `Bearer`/`Basic` credentials) masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return one_line(text, limit)


def sensitive_header_values(headers: Any) -> list[str]:
    """The values of `headers[{key, value}]` whose names say they are credentials."""
    found: list[str] = []
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and _SENSITIVE_HEADER.search(str(header.get("key", ""))):
            found.append(str(header.get("value") or ""))
    return found


def display_url(url: str) -> str:
    """`url` fit for a message: no user info (credentials), query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def seconds_setting(value: object, default: float, field_name: str) -> float:
    """A timeout written as whole seconds (Argo: `timeout: 30`) or a duration (`30s`).

    Missing, zero or null gives `default`; a negative or unparseable value raises
    `ValueError` naming the field.
    """
    if value is None or value == 0 or value == "":
        return default
    try:
        seconds = Duration.parse(value).seconds
    except SpecError as exc:
        raise ValueError(f"{field_name}: {exc}") from None
    if seconds < 0:
        raise ValueError(f"{field_name} must not be negative (got {value!r})")
    return seconds or default


def headers_dict(headers: Any, field_name: str) -> dict[str, str]:
    """`headers[{key, value}]` as a dict; raises `ValueError` for a malformed entry."""
    if headers is None:
        return {}
    if not isinstance(headers, list):
        raise ValueError(f"{field_name} must be a list of {{key, value}}")
    result: dict[str, str] = {}
    for index, header in enumerate(headers):
        if not isinstance(header, dict) or not header.get("key"):
            raise ValueError(f"{field_name}[{index}] needs a key and a value")
        result[str(header["key"])] = str(header.get("value") or "")
    return result


def describe_transport_error(exc: BaseException) -> str:
    """A short reason for a failure to talk to a server (refused, timed out, TLS, DNS).

    Walks the chain of wrapped exceptions (requests -> urllib3 -> socket) and decides by
    their types; never quotes the wrappers, whose text holds the URL (and so perhaps
    credentials in its query).
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        reason = getattr(current, "reason", None)
        nested = [arg for arg in current.args if isinstance(arg, BaseException)]
        current = (reason if isinstance(reason, BaseException)
                   else nested[0] if nested else current.__cause__ or current.__context__)
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, ssl.SSLError) for e in chain) or any("SSL" in n for n in names):
        return "TLS handshake failed (set insecure: true to skip certificate verification)"
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in names:
        return "unknown host name"
    if any(isinstance(e, TimeoutError) for e in chain) or any("Timeout" in n for n in names):
        return "timed out"
    if any(isinstance(e, ConnectionError) for e in chain) or "RemoteDisconnected" in names:
        return "connection closed by the server"
    innermost = chain[-1]
    return one_line(f"{type(innermost).__name__}: {innermost}", 200)
