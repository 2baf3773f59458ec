"""One HTTP exchange for the `web` and `prometheus` providers, with the limits that make a
hostile endpoint harmless.

`exchange(HttpRequest(...), policy)` sends one request and returns an `HttpAnswer`
(any status: the provider decides what a 4xx means) or raises `TransportError` with a
one-line reason that never quotes the URL (its query may hold credentials). Limits:

- **Total deadline.** The request's timeout covers everything (connecting, sending,
  waiting for the status line and headers, reading the body), not each socket operation:
  a server that drips one byte a second is cut off at the deadline
  (`rollouts.netdeadline`: a watchdog shuts the socket down when the deadline passes,
  one thread for every exchange of the process, shared with the Helm client). Timeouts
  above `MAX_TIMEOUT_SECONDS` are clamped to it, so a handful of slow endpoints cannot
  hold the analysis workers for long.
- **Answer size.** Bodies over `MAX_ANSWER_BYTES` (or the caller's `max_bytes`) are
  refused, by `Content-Length` before reading and by counting while reading (chunked
  answers have no length); with `cut=True` only the first `max_bytes` are read and the
  answer is `truncated` (a notification is delivered by a 2xx, whatever its size).
- **Redirects** are followed only within the same origin (scheme, host and port; at most
  `MAX_REDIRECTS`). A redirect elsewhere, https -> http included, fails the request
  naming the origin it pointed to, so the metric's `headers` (Authorization, API keys) are
  never sent to a host the author did not name.
- **Egress policy** (`analysis.providers.egress`): every connection goes to an address
  the policy allows, checked before connecting.
- **Credentials in the URL** (`http://user:pass@host/`) are sent as HTTP basic auth
  (unless an Authorization header is given) and never appear in messages.

The standard library's `urllib` does the exchange (proxies from the environment are
honoured as urllib honours them, read on every exchange), so the providers add no
dependency. The opener (its handlers) is built once per egress policy, TLS setting and
proxy environment and shared by every thread: the deadline of the exchange in progress
reaches the connection through a thread-local, not through the handlers. The TLS context
is made only when an https URL is first opened.
"""

from __future__ import annotations

import base64
import functools
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from analysis.providers.base import describe_transport_error
from analysis.providers.egress import EgressDenied, EgressPolicy
from rollouts.netdeadline import Deadline, read_body

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_ERROR_BYTES",
    "MAX_REDIRECTS",
    "MAX_TIMEOUT_SECONDS",
    "HttpAnswer",
    "HttpRequest",
    "TransportError",
    "exchange",
]

MAX_TIMEOUT_SECONDS = 60.0
"""Longest a provider request may take, all of it; larger metric timeouts are clamped."""
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""Largest answer body a provider reads (web and Prometheus alike)."""
MAX_ERROR_BYTES = 64 * 1024
"""How much of a non-2xx answer is read (for the error message); the rest is dropped."""
MAX_REDIRECTS = 10
"""Same-origin redirects followed per request."""


@dataclass(frozen=True)
class HttpRequest:
    """One request; credentials stay out of its repr."""

    url: str
    method: str = "GET"
    timeout: float = 10.0
    insecure: bool = False
    body: bytes | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    reason: str
    body: bytes
    headers: Message = field(repr=False)
    truncated: bool = False
    """Only the body's start was read: a non-2xx body longer than `MAX_ERROR_BYTES`, or
    (`exchange(cut=True)`) any body longer than `max_bytes`."""


class TransportError(Exception):
    """No answer: refused, timed out, too large, redirected elsewhere, denied by policy.

    `permanent`: sending the same request again fails the same way (denied by the egress
    policy, redirected to another origin, too large an answer); a caller that retries
    should not."""

    def __init__(self, reason: str, *, timed_out: bool = False,
                 permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        self.permanent = permanent


def exchange(
    request: HttpRequest, policy: EgressPolicy, *, max_bytes: int = MAX_ANSWER_BYTES,
    cut: bool = False,
) -> HttpAnswer:
    """Send `request` and read the answer within its (clamped) timeout and `max_bytes`
    (over it: refused, or with `cut` read up to it and `truncated`)."""
    timeout = min(request.timeout, MAX_TIMEOUT_SECONDS)
    url, headers = _credentials_to_header(request.url, dict(request.headers))
    deadline = Deadline(timeout)
    proxies = urllib.request.getproxies()
    opener = _opener(policy, request.insecure and url.startswith("https://"),
                     tuple(sorted(proxies.items())))
    prepared = urllib.request.Request(url, data=request.body, method=request.method,
                                      headers=headers)
    deadline.start()
    _exchanging.deadline = deadline
    try:
        _check_proxied_target(url, policy, proxies)
        try:
            response = opener.open(prepared, timeout=timeout)
        except urllib.error.HTTPError as refusal:
            with refusal:
                body, truncated = _read(refusal.fp, deadline, MAX_ERROR_BYTES, cut=True)
            return HttpAnswer(refusal.code, str(refusal.reason or ""), body,
                              refusal.headers, truncated)
        with response:
            body, truncated = _read(response, deadline, max_bytes, cut=cut)
            return HttpAnswer(response.status, str(response.reason or ""), body,
                              response.headers, truncated)
    except TransportError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as error:
        denied = _denial_in(error)
        if denied is not None:
            raise TransportError(f"not sent: {denied}", permanent=True) from None
        if deadline.expired or describe_transport_error(error) == "timed out":
            raise TransportError(f"did not answer within {timeout:g}s", timed_out=True) from None
        raise TransportError(f"failed: {describe_transport_error(error)}") from None
    finally:
        _exchanging.deadline = None
        deadline.cancel()


def _read(response: Any, deadline: Deadline, limit: int, *, cut: bool) -> tuple[bytes, bool]:
    """The body, at most `limit` bytes: over it, cut (`cut`) or refuse (TransportError)."""
    length = response.headers.get("Content-Length") if response.headers else None
    if not cut and length and length.strip().isdigit() and int(length) > limit:
        raise TransportError(f"answered more than {limit} bytes (Content-Length {length.strip()})",
                             permanent=True)
    try:
        body, more = read_body(getattr(response, "read1", None) or response.read, deadline,
                               limit)
    except TimeoutError:
        raise TransportError(f"did not answer within {deadline.seconds:g}s",
                             timed_out=True) from None
    if more and not cut:
        raise TransportError(f"answered more than {limit} bytes", permanent=True)
    return body, more


def _denial_in(error: BaseException) -> EgressDenied | None:
    current: BaseException | None = error
    for _ in range(10):
        if current is None:
            return None
        if isinstance(current, EgressDenied):
            return current
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (
            current.__cause__ or current.__context__)
    return None


def _credentials_to_header(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """`url` without user info; that user info as basic auth unless Authorization is set."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, headers
    netloc = parts.netloc.rsplit("@", 1)[1]
    if not any(key.lower() == "authorization" for key in headers):
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), headers


def _check_proxied_target(url: str, policy: EgressPolicy, proxies: dict[str, str]) -> None:
    """Through a proxy the connection goes to the proxy: check the target's addresses too.

    A target the controller cannot resolve is left to the proxy (it may resolve names we
    cannot); an IP literal is always checked.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in proxies or urllib.request.proxy_bypass(host):
        return
    try:
        policy.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        return


class _Exchanging(threading.local):
    """The deadline of the exchange in progress on this thread: the shared opener's
    connections find it here."""

    deadline: Deadline | None = None


_exchanging = _Exchanging()


def _current_deadline() -> Deadline:
    deadline = _exchanging.deadline
    if deadline is None:  # only `exchange` opens URLs through these handlers
        raise RuntimeError("a provider connection was opened outside of exchange()")
    return deadline


def _checked_connector(policy: EgressPolicy, deadline: Deadline) -> Any:
    """A `socket.create_connection` for `http.client` that obeys the policy and deadline."""

    def connect(address: tuple[str, int], timeout: object = None,
                source_address: tuple[str, int] | None = None) -> socket.socket:
        limit = timeout if isinstance(timeout, float | int) else MAX_TIMEOUT_SECONDS
        return policy.connect(address, min(deadline.remaining(), limit), source_address)

    return connect


class _Guarded:
    """Connects only to policy-checked addresses; the deadline watches the socket (the TLS
    one for HTTPS). Mixed into `http.client`'s connection classes."""

    sock: Any

    def __init__(self, host: str, *, policy: EgressPolicy, deadline: Deadline,
                 **kwargs: Any) -> None:
        super().__init__(host, **kwargs)  # type: ignore[call-arg]
        self._deadline = deadline
        self._create_connection = _checked_connector(policy, deadline)

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._deadline.watch(self.sock)


class _GuardedHTTP(_Guarded, http.client.HTTPConnection):
    """An HTTP connection to policy-checked addresses, watched by the deadline."""


class _GuardedHTTPS(_Guarded, http.client.HTTPSConnection):
    """The same for HTTPS."""


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__()
        self._policy = policy

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        deadline = _current_deadline()

        def connection(host: str, **kwargs: Any) -> _GuardedHTTP:
            return _GuardedHTTP(host, policy=self._policy, deadline=deadline, **kwargs)

        return self.do_open(connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: EgressPolicy, insecure: bool) -> None:
        super().__init__()
        self._policy, self._insecure = policy, insecure

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        deadline, tls = _current_deadline(), _tls_context(self._insecure)

        def connection(host: str, **kwargs: Any) -> _GuardedHTTPS:
            kwargs.pop("check_hostname", None)  # the context says
            return _GuardedHTTPS(host, policy=self._policy, deadline=deadline,
                                 context=tls, **kwargs)

        return self.do_open(connection, req)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme, host and port (never https -> http)."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: http.client.HTTPMessage,
                         newurl: str) -> urllib.request.Request | None:
        target = urljoin(req.full_url, newurl)
        if _origin(target) != _origin(req.full_url):
            fp.close()  # unread: a redirect's body may be endless
            old_scheme, new_scheme = _origin(req.full_url)[0], _origin(target)[0]
            if old_scheme == "https" and new_scheme == "http":
                raise TransportError(f"was redirected (HTTP {code}) from https to http; "
                                     "redirects that drop TLS are not followed",
                                     permanent=True)
            shown = "://".join(_origin(target)[:2]) + f":{_origin(target)[2]}"
            raise TransportError(
                f"was redirected (HTTP {code}) to another origin, {shown}; redirects are "
                "followed only within the same scheme, host and port (point the URL at "
                "the final address)", permanent=True)
        fp.close()
        return super().redirect_request(req, fp, code, msg, headers, target)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port or default


@functools.lru_cache(maxsize=32)
def _opener(policy: EgressPolicy, insecure: bool,
            proxies: tuple[tuple[str, str], ...]) -> urllib.request.OpenerDirector:
    """http(s) only: no file://, ftp:// or data: handlers for a redirect to reach.

    Made once per policy, TLS setting and proxy environment (`proxies`, read by the
    caller for each exchange) and shared between threads: the handlers keep no state of
    an exchange (building the six of them was about a quarter of a query's CPU)."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(dict(proxies)), _HTTPHandler(policy),
                    _HTTPSHandler(policy, insecure), _SameOriginRedirects(),
                    urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


_TLS_LOCK = threading.Lock()


def _tls_context(insecure: bool) -> ssl.SSLContext:
    """The TLS context of every https exchange, made once per process (an `SSLContext`
    is safe to share between threads): loading the system's certificate authorities costs
    about 40 ms of CPU, which per measurement was most of what a Prometheus query cost.
    Made under a lock, so workers starting together load them once, not once each.
    Certificate authorities installed later are seen after a restart."""
    with _TLS_LOCK:
        return _make_tls_context(insecure)


@functools.cache
def _make_tls_context(insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
