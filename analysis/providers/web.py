"""The `web` metric provider: one HTTP request whose JSON answer is the measurement.

```yaml
provider:
  web:
    url: "http://checks.default/api/v1/health?service={{args.service}}"
    method: GET            # GET (default), POST or PUT
    headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
    body: '{"service": "{{args.service}}"}'   # POST/PUT only; or jsonBody: {service: ...}
    jsonPath: "{$.data.ok}"                   # default: the whole answer
    timeoutSeconds: 10     # default 10 (Argo's)
    insecure: false        # skip TLS certificate verification
```

As in Argo: a non-2xx status is an Error measurement naming the status; a `body` (or
`jsonBody`) with GET, or both at once, is an error; `jsonBody` is sent with
`Content-Type: application/json`; an answer that is not JSON becomes the value as a string
when there is no `jsonPath` (an endpoint answering `OK`). Beyond Argo: with a `jsonPath`, a
non-JSON answer is an error (Argo would hand the raw text to the condition); a `body`
without a `Content-Type` header goes out as `application/json` when it is JSON, else as
`text/plain` (urllib would otherwise label it a form).

Hardened against hostile endpoints (`analysis.providers.transport`): `timeoutSeconds`
bounds the whole exchange, body included, and is clamped to 60 s; answers over 4 MiB are
refused; redirects are followed only within the same scheme, host and port, so the
metric's `headers` never reach another host (and https never drops to http); the
controller's egress policy (`analysis.providers.egress`) refuses link-local and cloud
metadata addresses before connecting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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
from analysis.providers.jsonpath import JsonPathError, Step, find, parse_json_path
from analysis.providers.transport import (
    MAX_ANSWER_BYTES,
    MAX_TIMEOUT_SECONDS,
    HttpAnswer,
    HttpRequest,
    TransportError,
    exchange,
)

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "MAX_ANSWER_BYTES", "WebProvider", "WebRequest", "fetch"]

DEFAULT_TIMEOUT_SECONDS = 10.0  # Argo's default
_METHODS = ("GET", "POST", "PUT")


@dataclass(frozen=True)
class WebRequest:
    """One request, ready to send; credentials stay out of its repr."""

    url: str
    method: str
    timeout: float
    insecure: bool
    json_path: str
    steps: tuple[Step, ...]
    body: bytes | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> WebRequest:
        """Read `metric.provider.web`; raises `ValueError` naming a bad field."""
        url = str(spec.get("url") or "").strip()
        shown = display_url(url)
        if not url.startswith(("http://", "https://")) or shown in ("http://", "https://"):
            raise ValueError(f"provider.web.url {shown!r} is not an http(s) URL")
        method = str(spec.get("method") or "GET").upper()
        if method not in _METHODS:
            raise ValueError(f"provider.web.method {method!r} is not one of GET, POST, PUT")
        headers = headers_dict(spec.get("headers"), "provider.web.headers")
        body = _body(spec, method, headers)
        json_path = str(spec.get("jsonPath") or "")
        steps = parse_json_path(json_path) if json_path else ()
        timeout = min(seconds_setting(spec.get("timeoutSeconds"), DEFAULT_TIMEOUT_SECONDS,
                                      "provider.web.timeoutSeconds"), MAX_TIMEOUT_SECONDS)
        secrets = tuple(s for s in sensitive_header_values(spec.get("headers")) if s)
        return cls(url=url, method=method, timeout=timeout, insecure=spec.get("insecure") is True,
                   json_path=json_path, steps=steps, body=body, headers=headers,
                   secrets=secrets)


def _body(spec: dict[str, Any], method: str, headers: dict[str, str]) -> bytes | None:
    text, structured = spec.get("body"), spec.get("jsonBody")
    if text and structured is not None:
        raise ValueError("provider.web has both body and jsonBody; use one of them")
    if (text or structured is not None) and method == "GET":
        raise ValueError("provider.web.body and jsonBody need method POST or PUT")
    has_type = any(key.lower() == "content-type" for key in headers)
    if structured is not None:
        for key in [k for k in headers if k.lower() == "content-type"]:
            del headers[key]
        headers["Content-Type"] = "application/json"
        return json.dumps(structured).encode()
    if not text:
        return None
    encoded = str(text).encode()
    if not has_type:
        try:
            json.loads(encoded)
            headers["Content-Type"] = "application/json"
        except ValueError:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    return encoded


class WebProvider:
    """HTTP checks: the JSON answer (or the part `jsonPath` picks) is the value.

    `egress` is the policy every connection is checked against (default: deny
    `analysis.providers.egress.DEFAULT_DENY_NETWORKS`).
    """

    kind = "web"

    def __init__(self, *, egress: EgressPolicy | None = None) -> None:
        self.egress = egress if egress is not None else EgressPolicy.from_networks()

    def measure(self, context: MeasureContext) -> Outcome:
        spec = context.provider_spec("web")
        try:
            request = WebRequest.from_spec(spec)
        except ValueError as exc:
            return Outcome(error=scrub(str(exc), sensitive_header_values(spec.get("headers"))))
        return fetch(request, self.egress)

    def terminate(self, context: MeasureContext) -> None:
        """Nothing to stop: a request finishes within `measure`."""


def fetch(request: WebRequest, egress: EgressPolicy | None = None) -> Outcome:
    """Send `request`; the measurement, or an error saying why there is none."""
    where = f"{request.method} {display_url(request.url)}"
    sent = HttpRequest(url=request.url, method=request.method, timeout=request.timeout,
                       insecure=request.insecure, body=request.body,
                       headers={"Accept": "application/json", **request.headers})
    try:
        answer = exchange(sent, egress if egress is not None else EgressPolicy.from_networks())
    except TransportError as exc:
        return Outcome(error=scrub(f"{where} {exc.reason}", request.secrets))
    if not 200 <= answer.status < 300:
        return Outcome(error=scrub(_refusal(where, answer), request.secrets))
    try:
        return Outcome(value=value_from_answer(answer.body, request.steps, request.json_path))
    except JsonPathError as exc:
        return Outcome(error=scrub(f"{where}: {exc}", request.secrets))


def value_from_answer(raw: bytes, steps: tuple[Step, ...], json_path: str = "") -> Any:
    """The value in an answer body: the JSON (narrowed by `steps`), or the text if not JSON.

    Raises `JsonPathError` when the path leads nowhere, or when there is a path and the
    answer is not JSON.
    """
    text = raw.decode("utf-8", "replace")
    try:
        document = json.loads(text)
    except ValueError:
        if json_path:
            snippet = " ".join(text.split())[:120]
            raise JsonPathError(f"the answer is not JSON, so jsonPath {json_path} cannot be "
                                f"applied: {snippet!r}") from None
        return text
    return find(document, steps, json_path)


def _refusal(where: str, answer: HttpAnswer) -> str:
    detail = " ".join(answer.body[:400].decode("utf-8", "replace").split())[:200]
    reason = f" ({answer.reason})" if answer.reason else ""
    return f"{where} answered HTTP {answer.status}{reason}" + (f": {detail}" if detail else "")
