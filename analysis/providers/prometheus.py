"""The `prometheus` metric provider: one instant PromQL query per measurement.

```yaml
provider:
  prometheus:
    address: http://prometheus.monitoring:9090   # else $ARGO_ROLLOUTS_PROMETHEUS_ADDRESS
    query: sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
    timeout: 30            # seconds (Argo's integer) or a duration such as 30s; default 30
    insecure: false        # skip TLS certificate verification
    headers: [{key: X-Scope-OrgID, value: team-a}]
    authentication:
      basicAuth: {username: "{{args.user}}", password: "{{args.password}}"}
      # or bearer: {token: "{{args.token}}"}
```

The answer becomes the measurement's value as DESIGN.md (section 3) says, which is what
Argo's conditions expect (`result[0] >= 0.95`, `len(result) == 0`):

| resultType | value                                                      |
| ---------- | ---------------------------------------------------------- |
| vector     | `list[float]`, one per sample, in Prometheus' order        |
| matrix     | `list[float]`, the last value of each series               |
| scalar     | `float`                                                    |
| string     | error: a string is not a measurement                       |
| empty      | `[]` (so `result[0]` fails and `len(result) == 0` holds)   |

`NaN`, `+Inf`, `-Inf` become `float("nan")`, `inf`, `-inf` (`isNaN(result[0])`).

A backtest (`analysis.backtest`) sends the same query with `PrometheusRequest.at` set,
evaluated at that past instant (`time=`); everything else is the same.

The query is one GET of `<address>/api/v1/query?query=...` through
`analysis.providers.transport` (the `web` provider's hardened client): the timeout bounds
the whole exchange and is clamped to 60 s, answers over 4 MiB are refused, redirects are
followed only within the same origin, and the controller's egress policy refuses
link-local and cloud metadata addresses. `prometheus_api_client.PrometheusConnect` builds
and sends the query on a requests session whose transport is that hardened client
(`_TransportSession`); the session keeps the raw answer, because `custom_query` returns
only `data.result` and we also need `resultType` (a scalar and a string look alike
otherwise) and `warnings`. It never retries: the measurement interval and
`consecutiveErrorLimit` are the retry policy.

`query_range` sends `/api/v1/query_range` the same way (the `judge` provider's canary and
baseline samples) and returns each series' values; `from_spec(..., prefix=...)` reads
another provider's connection settings (`address`, `timeout`, `insecure`, `headers`,
`authentication`) and names its fields in messages.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from prometheus_api_client import PrometheusConnect
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from analysis.providers.base import (
    MeasureContext,
    Outcome,
    display_url,
    headers_dict,
    scrub,
    seconds_setting,
    sensitive_header_values,
)
from analysis.providers.egress import EgressPolicy
from analysis.providers.transport import (
    MAX_TIMEOUT_SECONDS,
    HttpAnswer,
    HttpRequest,
    TransportError,
    exchange,
)

__all__ = [
    "ADDRESS_ENV",
    "DEFAULT_TIMEOUT_SECONDS",
    "PrometheusBacked",
    "PrometheusProvider",
    "PrometheusRequest",
    "QueryError",
    "query",
    "query_range",
    "spec_secrets",
    "value_from_answer",
    "values_from_range_answer",
]

ADDRESS_ENV = "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS"
"""Argo's fallback for a metric without `address`; we honour the same variable."""

DEFAULT_TIMEOUT_SECONDS = 30.0  # Argo's default
_UNSUPPORTED_AUTH = ("sigv4", "oauth2")


class QueryError(ValueError):
    """The answer holds no usable measurement; the message says why, on one line."""


@dataclass(frozen=True)
class PrometheusRequest:
    """One query, ready to send; credentials stay out of its repr."""

    address: str
    query: str
    timeout: float
    insecure: bool
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    at: datetime | None = None
    """Evaluate the query at this past instant (Prometheus' `time` parameter; a backtest);
    None: Prometheus' now, as a live measurement."""

    @classmethod
    def from_spec(cls, spec: dict[str, Any], default_address: str | None, *,
                  prefix: str = "provider.prometheus") -> PrometheusRequest:
        """Read `metric.provider.prometheus` (or another provider's connection settings,
        named under `prefix`); raises `ValueError` naming a bad field."""
        address = str(spec.get("address") or default_address or "").strip()
        if not address:
            raise ValueError(
                f"{prefix}.address is not set: give the Prometheus URL "
                f"(http://prometheus:9090) or set {ADDRESS_ENV} (in the controller's or "
                f"the CLI's environment)"
            )
        shown = display_url(address)
        if not address.startswith(("http://", "https://")) or shown in ("http://", "https://"):
            raise ValueError(
                f"{prefix}.address {shown!r} is not an http(s) URL "
                "(write it as http://host:port)"
            )
        query = str(spec.get("query") or "").strip()
        if not query:
            raise ValueError(f"{prefix}.query is empty: give a PromQL query")
        headers = headers_dict(spec.get("headers"), f"{prefix}.headers")
        secrets = sensitive_header_values(spec.get("headers"))
        basic_auth = None
        auth = spec.get("authentication") or {}
        if not isinstance(auth, dict):
            raise ValueError(f"{prefix}.authentication must be an object")
        for name in _UNSUPPORTED_AUTH:
            if auth.get(name):
                raise ValueError(
                    f"{prefix}.authentication.{name} is not implemented; "
                    "use basicAuth, bearer or headers"
                )
        basic = auth.get("basicAuth")
        if isinstance(basic, dict):
            basic_auth = (str(basic.get("username") or ""), str(basic.get("password") or ""))
            secrets.append(basic_auth[1])
        bearer = auth.get("bearer")
        if isinstance(bearer, dict) and bearer.get("token"):
            token = str(bearer["token"])
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        timeout = min(seconds_setting(spec.get("timeout"), DEFAULT_TIMEOUT_SECONDS,
                                      f"{prefix}.timeout"), MAX_TIMEOUT_SECONDS)
        return cls(address=address.rstrip("/"), query=query, timeout=timeout,
                   insecure=spec.get("insecure") is True, headers=headers,
                   basic_auth=basic_auth, secrets=tuple(s for s in secrets if s))


class PrometheusBacked:
    """What the providers that query Prometheus (`prometheus`, `judge`) are built with.

    `default_address` is for a metric without `address` (default:
    `$ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`); `egress` is the policy every connection is
    checked against (default: deny `analysis.providers.egress.DEFAULT_DENY_NETWORKS`).
    """

    def __init__(self, *, default_address: str | None = None,
                 egress: EgressPolicy | None = None) -> None:
        self.default_address = (default_address if default_address is not None
                                else os.environ.get(ADDRESS_ENV))
        self.egress = egress if egress is not None else EgressPolicy.from_networks()


class PrometheusProvider(PrometheusBacked):
    """Instant queries against the metric's Prometheus; one HTTP request per measurement.
    Built as `PrometheusBacked` says."""

    kind = "prometheus"

    def measure(self, context: MeasureContext) -> Outcome:
        spec = context.provider_spec("prometheus")
        try:
            request = PrometheusRequest.from_spec(spec, self.default_address)
        except ValueError as exc:
            return Outcome(error=scrub(str(exc), spec_secrets(spec)))
        return query(request, self.egress)

    def terminate(self, context: MeasureContext) -> None:
        """Nothing to stop: a query finishes within `measure`."""


class _TransportSession(requests.Session):
    """A requests session for `prometheus_api_client` whose every request goes through
    `analysis.providers.transport.exchange` (total deadline, size cap, same-origin
    redirects, egress policy) instead of requests' own adapters; it keeps the answer, as
    `custom_query` returns only `data.result`."""

    def __init__(self, egress: EgressPolicy, *, insecure: bool) -> None:
        super().__init__()
        self.verify = not insecure
        self.egress = egress
        self.answer: HttpAnswer | None = None

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                params: Any = None, data: Any = None, headers: Any = None,
                timeout: Any = None, **_ignored: Any) -> requests.Response:
        target = str(url) + (f"?{urlencode(params)}" if params else "")
        body = urlencode(data).encode() if isinstance(data, dict) else data
        sent = HttpRequest(url=target, method=str(method), body=body,
                           timeout=float(timeout or MAX_TIMEOUT_SECONDS),
                           insecure=not self.verify, headers=dict(headers or {}))
        self.answer = exchange(sent, self.egress)
        response = requests.Response()
        response.status_code = self.answer.status
        response.reason = self.answer.reason
        response._content = self.answer.body
        response.url = target
        response.headers = CaseInsensitiveDict(dict(self.answer.headers.items()))
        return response


def query(request: PrometheusRequest, egress: EgressPolicy | None = None) -> Outcome:
    """Send `request`; the measurement, or an error saying why there is none."""
    params = None if request.at is None else {"time": _unix_seconds(request.at)}
    document, error = _ask(request, egress,
                           lambda client: client.custom_query(request.query, params=params))
    if error is not None:
        return Outcome(error=error)
    try:
        value, warnings = value_from_answer(document)
    except QueryError as exc:
        where = f"prometheus at {display_url(request.address)}"
        return Outcome(error=scrub(f"{where}: {exc}", request.secrets))
    metadata = {"warnings": ", ".join(f'"{w}"' for w in warnings)} if warnings else {}
    return Outcome(value=value, metadata=metadata)


def query_range(request: PrometheusRequest, *, start: datetime, end: datetime, step: float,
                egress: EgressPolicy | None = None) -> tuple[list[list[float]], list[str]]:
    """`request.query` over `[start, end]` every `step` seconds (`/api/v1/query_range`):
    each series' values in time order, and Prometheus' warnings.

    Raises `QueryError` with a one-line reason (credentials scrubbed) when there is no
    usable answer; the limits are `query`'s (one deadline, 4 MiB, egress policy).
    """
    document, error = _ask(request, egress, lambda client: client.custom_query_range(
        request.query, start_time=start, end_time=end, step=f"{step:g}"))
    if error is not None:
        raise QueryError(error)
    try:
        return values_from_range_answer(document)
    except QueryError as exc:
        where = f"prometheus at {display_url(request.address)}"
        raise QueryError(scrub(f"{where}: {exc}", request.secrets)) from None


def _ask(request: PrometheusRequest, egress: EgressPolicy | None,
         send: Callable[[PrometheusConnect], object]) -> tuple[Any, str | None]:
    """Send one API request (`send` calls the client) through the hardened transport;
    the answer's JSON document, or None and a one-line error."""
    where = f"prometheus at {display_url(request.address)}"
    headers = {"Accept": "application/json", **request.headers}
    if request.basic_auth is not None:  # as requests did: basic auth wins over a header
        pair = ":".join(request.basic_auth).encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    session = _TransportSession(egress if egress is not None else EgressPolicy.from_networks(),
                                insecure=request.insecure)
    client = PrometheusConnect(url=request.address, headers=headers, session=session,
                               timeout=request.timeout, retry=Retry(total=0, read=False))
    try:
        send(client)
    except TransportError as exc:
        if exc.timed_out:
            return None, f"{where} {exc.reason}"
        reason = exc.reason.removeprefix("failed: ").removeprefix("not sent: ")
        return None, scrub(f"cannot query {where}: {reason}", request.secrets)
    except Exception:  # PrometheusApiClientException (non-200), odd JSON: judged below
        pass
    finally:
        client.close()
    answer = session.answer
    if answer is None:
        return None, f"{where} gave no answer"
    text = answer.body.decode("utf-8", "replace")
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = None
    if answer.status != 200:
        return None, scrub(_refusal(where, answer.status, document, text), request.secrets)
    if document is None:
        return None, (f"{where} answered with something that is not JSON; "
                      "is the address a Prometheus server?")
    return document, None


def _unix_seconds(moment: datetime) -> str:
    """`time=` as Prometheus reads it: Unix seconds (a naive time is taken to be UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{aware.timestamp():.3f}"


def value_from_answer(answer: Any) -> tuple[list[float] | float, list[str]]:
    """The measurement in a `/api/v1/query` answer, and Prometheus' warnings.

    >>> value_from_answer({"status": "success", "data": {"resultType": "vector", "result": [
    ...     {"metric": {}, "value": [1700000000, "0.95"]}]}})
    ([0.95], [])
    >>> value_from_answer({"status": "success",
    ...                    "data": {"resultType": "scalar", "result": [1700000000, "NaN"]}})
    (nan, [])

    Raises `QueryError` for an error answer, a string result, or anything malformed.
    """
    data, warnings = _envelope(answer)
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "vector":
        return [_sample_value(sample.get("value"), sample) for sample in _series(result)], warnings
    if result_type == "matrix":
        values = [_last_value(series) for series in _series(result)]
        return [v for v in values if v is not None], warnings
    if result_type == "scalar":
        return _sample_value(result, {}), warnings
    if result_type == "string":
        shown = result[1] if isinstance(result, list) and len(result) == 2 else result
        raise QueryError(f"the query returned the string {shown!r}, not a number; "
                         "query a metric or a number instead")
    raise QueryError(f"unexpected result type {result_type!r}")


def _envelope(answer: Any) -> tuple[dict[str, Any], list[str]]:
    """The `data` of a successful Prometheus API answer and its warnings; `QueryError` for
    an error answer or anything that is not one."""
    if not isinstance(answer, dict):
        raise QueryError("the answer is not a Prometheus API object")
    if answer.get("status") != "success":
        kind = answer.get("errorType") or "error"
        raise QueryError(f"query failed ({kind}): {answer.get('error') or 'no reason given'}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise QueryError("the answer has no data")
    return data, [str(w) for w in answer.get("warnings") or [] if w]


def values_from_range_answer(answer: Any) -> tuple[list[list[float]], list[str]]:
    """Each series' values (in time order) in a `/api/v1/query_range` answer, and warnings.

    >>> values_from_range_answer({"status": "success", "data": {"resultType": "matrix",
    ...     "result": [{"metric": {}, "values": [[1700000000, "1"], [1700000060, "NaN"]]}]}})
    ([[1.0, nan]], [])

    Raises `QueryError` for an error answer, a result that is not a matrix, or garbage.
    """
    data, warnings = _envelope(answer)
    if data.get("resultType") != "matrix":
        raise QueryError(f"a range query gave {data.get('resultType')!r}, not a matrix")
    found = [[_sample_value(pair, series) for pair in _pairs(series)]
             for series in _series(data.get("result"))]
    return found, warnings


def _series(result: Any) -> list[dict[str, Any]]:
    if result is None:
        return []
    if not isinstance(result, list) or not all(isinstance(s, dict) for s in result):
        raise QueryError("the result is not a list of series")
    return result


def _pairs(series: dict[str, Any]) -> list[Any]:
    """A matrix series' `[time, value]` pairs; `QueryError` for native histograms or
    anything that is not a list."""
    values = series.get("values")
    if values is not None and not isinstance(values, list):
        raise QueryError("a matrix series has no list of values")
    if not values and series.get("histograms"):
        raise QueryError(_HISTOGRAM)
    return values or []


def _last_value(series: dict[str, Any]) -> float | None:
    pairs = _pairs(series)
    return _sample_value(pairs[-1], series) if pairs else None


_HISTOGRAM = ("the query returned native histogram samples, which are not numbers; "
              "wrap it in histogram_quantile(), histogram_count() or histogram_sum()")


def _sample_value(pair: Any, sample: dict[str, Any]) -> float:
    """`[timestamp, "1.5"]` -> 1.5 (`"NaN"`, `"+Inf"` and `"-Inf"` included)."""
    if pair is None and (sample.get("histogram") or sample.get("histograms")):
        raise QueryError(_HISTOGRAM)
    if not isinstance(pair, list) or len(pair) != 2:
        raise QueryError(f"a sample is not [time, value]: {str(pair)[:80]}")
    try:
        value = float(pair[1])
    except (TypeError, ValueError):
        raise QueryError(f"a sample value is not a number: {str(pair[1])[:80]!r}") from None
    return value


def _refusal(where: str, status: int, answer: Any, text: str) -> str:
    """A one-line reason for a non-200 answer, from Prometheus' error object if there is one."""
    if isinstance(answer, dict) and answer.get("error"):
        kind = answer.get("errorType") or "error"
        return f"{where} refused the query (HTTP {status}, {kind}): {answer['error']}"
    detail = " ".join(str(text or "").split())[:200]
    return f"{where} answered HTTP {status}" + (f": {detail}" if detail else "")


def spec_secrets(spec: dict[str, Any]) -> list[str]:
    """Every credential in a spec (prometheus' or judge's connection settings) that may be
    too malformed to parse."""
    secrets = sensitive_header_values(spec.get("headers"))
    auth = spec.get("authentication")
    if isinstance(auth, dict):
        basic, bearer = auth.get("basicAuth"), auth.get("bearer")
        if isinstance(basic, dict):
            secrets.append(str(basic.get("password") or ""))
        if isinstance(bearer, dict):
            secrets.append(str(bearer.get("token") or ""))
    return secrets
