"""Bounded HTTP(S) GETs for Helm repositories and OCI registries.

`get(url, ...)` returns a `Response` (status, lower-cased headers, body, final URL) or
raises `FetchProblem` (one line, no secrets; `temporary` when a retry may help). Every
request is bounded: `max_bytes` of body (more is an error, never a truncation), a
wall-clock `deadline` over connecting, redirects and reading, and at most
`MAX_REDIRECTS` redirects, each only to http(s), never from https down to http unless
`allow_http` says the target may be plain. The deadline holds while reading too: a
watchdog (`rollouts.netdeadline`) shuts the socket down when it passes, so a server
dripping its headers or body a byte at a time is cut off then. The `Authorization`
header goes only to URLs `send_auth(url)` accepts (the repository's own origin): a
redirect to another host, a CDN or a blob store, gets no credentials. No proxy
variables, netrc or cookies are read.

TLS: `tls_context(credentials)` verifies servers against the system's CAs (not when the
repository Secret says `insecure`) and presents the Secret's client certificate; the
PEM key is written to a private temporary file only for `load_cert_chain` to read.
"""

from __future__ import annotations

import http.client
import os
import ssl
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

from reconciler.charts.creds import HelmCredentials
from reconciler.charts.urls import shown
from rollouts.netdeadline import Deadline, read_body

__all__ = ["MAX_REDIRECTS", "FetchProblem", "Response", "get", "tls_context", "where"]

MAX_REDIRECTS = 5
_ERROR_BODY_BYTES = 64 * 1024
_SOCKET_TIMEOUT = 30.0
_USER_AGENT = "rollouts-helm-repository-client"


class FetchProblem(Exception):
    """A request failed; the message is one line with no secrets in it."""

    def __init__(self, message: str, *, temporary: bool, tls_failed: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.temporary = temporary
        self.tls_failed = tls_failed
        """The TLS handshake failed (a plain-HTTP server answers like this)."""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


def where(url: str) -> str:
    """`url` for a message: no userinfo, no query (it may carry a token)."""
    parts = urlsplit(url)
    return shown(urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "",
                             "")))


_contexts: dict[str, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(credentials: HelmCredentials | None) -> ssl.SSLContext:
    """The TLS settings of a repository (cached per credentials)."""
    creds = credentials or HelmCredentials()
    key = creds.fingerprint()
    with _contexts_lock:
        known = _contexts.get(key)
    if known is not None:
        return known
    context = ssl.create_default_context()
    if creds.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if creds.tls_client_cert_data and creds.tls_client_cert_key:
        with tempfile.TemporaryDirectory(prefix="rollouts-tls-") as scratch:
            cert, key_file = Path(scratch) / "cert.pem", Path(scratch) / "key.pem"
            for path, text in ((cert, creds.tls_client_cert_data),
                               (key_file, creds.tls_client_cert_key)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                     stat.S_IRUSR | stat.S_IWUSR)
                with os.fdopen(descriptor, "w") as out:
                    out.write(text)
            try:
                context.load_cert_chain(cert, key_file)
            except (ssl.SSLError, OSError):
                raise FetchProblem("the repository Secret's tlsClientCertData / "
                                   "tlsClientCertKey are not a PEM certificate and its key",
                                   temporary=False) from None
    with _contexts_lock:
        if len(_contexts) > 256:
            _contexts.clear()
        _contexts[key] = context
    return context


def get(url: str, *, deadline: float, max_bytes: int, context: ssl.SSLContext,
        headers: Mapping[str, str] | None = None, authorization: str | None = None,
        send_auth: Callable[[str], bool] = lambda _url: False,
        allow_http: Callable[[str], bool] = lambda _url: False) -> Response:
    """GET `url` following redirects (see the module docstring); any status is returned."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise FetchProblem(f"refused to fetch {where(current)}: invalid port",
                               temporary=False) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchProblem(f"refused to fetch {where(current)}: only http(s) URLs are "
                               "fetched", temporary=False)
        if parts.scheme == "http" and current != url and urlsplit(url).scheme == "https" \
                and not allow_http(current):
            raise FetchProblem(f"{where(url)} redirected from https to plain http "
                               f"({where(current)}); refused", temporary=False)
        request_headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity",
                           **(headers or {})}
        if authorization and send_auth(current):
            request_headers["Authorization"] = authorization
        status, response_headers, body = _once(current, request_headers, context, deadline,
                                               max_bytes)
        location = response_headers.get("location")
        if status in (301, 302, 303, 307, 308) and location:
            current = urljoin(current, location)
            continue
        return Response(status, response_headers, body, current)
    raise FetchProblem(f"{where(url)} redirected more than {MAX_REDIRECTS} times; refused",
                       temporary=False)


def _once(url: str, headers: Mapping[str, str], context: ssl.SSLContext, deadline: float,
          max_bytes: int) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchProblem(f"{where(url)} did not answer in time", temporary=True)
    # The socket timeout bounds each operation; `watched` bounds them all together (a
    # server dripping a byte just under the timeout is cut off at the deadline).
    watched = Deadline(remaining)
    timeout = min(remaining, _SOCKET_TIMEOUT)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port,
                                                 timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port,
                                                timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    watched.start()
    try:
        connection.connect()
        watched.watch(connection.sock)
        connection.request("GET", target, headers=dict(headers))
        response = connection.getresponse()
        response_headers = {k.lower(): v for k, v in response.getheaders()}
        limit = max_bytes if response.status == 200 else _ERROR_BODY_BYTES
        declared = response_headers.get("content-length", "")
        if response.status == 200 and declared.isdigit() and int(declared) > max_bytes:
            raise FetchProblem(f"{where(url)} is {declared} bytes, more than the limit of "
                               f"{max_bytes}; refused", temporary=False)
        body, more = read_body(response.read1, watched, limit)
        if more and response.status == 200:  # an error page: its start is enough
            raise FetchProblem(f"{where(url)} sent more than {max_bytes} bytes; refused",
                               temporary=False)
        return response.status, response_headers, body
    except ssl.SSLCertVerificationError as error:
        raise FetchProblem(
            f"{where(url)}: the server's certificate is not trusted ({error.verify_message}); "
            "set insecure: \"true\" in the repository Secret only if you must",
            temporary=False) from None
    except TimeoutError:
        raise FetchProblem(f"{where(url)} did not answer in time", temporary=True) from None
    except (OSError, http.client.HTTPException) as error:
        if watched.expired:  # the watchdog's shutdown, seen as a reset or a short body
            raise FetchProblem(f"{where(url)} did not answer in time", temporary=True) \
                from None
        if isinstance(error, ssl.SSLError):
            raise FetchProblem(f"{where(url)}: TLS failed ({error.reason or 'handshake'})",
                               temporary=True, tls_failed=True) from None
        reason = getattr(error, "strerror", None) or type(error).__name__
        # A plain-HTTP server may also drop or garble a TLS handshake instead of failing it.
        garbled = isinstance(error, (ConnectionResetError, http.client.RemoteDisconnected,
                                     http.client.BadStatusLine))
        raise FetchProblem(f"{where(url)} could not be fetched ({reason})", temporary=True,
                           tls_failed=garbled and parts.scheme == "https") from None
    finally:
        watched.cancel()
        connection.close()
