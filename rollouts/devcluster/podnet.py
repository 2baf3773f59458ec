"""Pod network for the dev cluster: kwok's pods answer HTTP on their own IPs.

kwok's pods never run, yet they get a pod IP (from `POD_CIDR`), turn Ready, and the
controller-manager lists them in EndpointSlices. This module makes those IPs answer,
so a real proxy (Traefik, in tests/integration/test_real_traffic.py) can route real
requests to them:

- `attach` makes a network namespace (`rollouts-pods`) joined to the host by a veth
  pair on link-local addresses. Inside it the whole pod CIDR is a `local` route on
  the loopback device, so every pod IP is an address of that namespace; on the host
  the pod CIDR is routed through the veth. Pod traffic never leaves the machine and
  never touches the host's own routes but for that one; `detach` removes the
  namespace and with it the veth and the route. Needs root (`ip` from iproute2).
- `serve` (run `python -m rollouts.devcluster.podnet --cluster-dir DIR`) is one
  process: a thread watches all pods through the API server (list, then watch, relist
  on error), and one asyncio loop listens, inside the namespace, on `0.0.0.0:<port>`
  for each distinct container port. A connection's own local address says which pod
  was called, so one socket per port serves every pod: the cost is bounded by the
  number of ports (at most `MAX_PORTS`), never by the number of pods. With
  `--detach-on-exit` it removes the namespace when stopped (SIGTERM), so `rollouts dev
  down`, which stops the responder the demo records, leaves nothing behind.

A deleted pod keeps answering for `TERMINATION_GRACE` seconds, as a real pod's process
does after SIGTERM while proxies still route to it (kwok deletes pods at once).

Each request is answered by `answer(pod)`: JSON naming the pod, its namespace and
its version (the `version` label, else `rollouts-pod-template-hash`, else
`pod-template-hash`). A pod annotated `rollouts.dev/http-status: "500"` answers with
that status instead of 200: how a test makes a canary fail.

Standard library only, like the rest of `rollouts.devcluster`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

from rollouts.devcluster.errors import DevClusterError

NETNS = "rollouts-pods"
HOST_LINK = "rpods0"
HOST_ADDRESS = "169.254.211.1"
NETNS_ADDRESS = "169.254.211.2"
STATUS_ANNOTATION = "rollouts.dev/http-status"
MAX_PORTS = 32
TERMINATION_GRACE = 5.0  # seconds a deleted pod keeps answering
_CLONE_NEWNET = 0x40000000


# --- the namespace ---------------------------------------------------------------------

def _ip(*args: str, netns: str | None = None, check: bool = True) -> bool:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except FileNotFoundError:
        raise DevClusterError("`ip` is not installed; apt-get install iproute2") from None
    if check and result.returncode != 0:
        raise DevClusterError(f"{' '.join(argv)} failed: {result.stderr.strip()} "
                              "(the pod network needs root)")
    return result.returncode == 0


def attached(netns: str = NETNS) -> bool:
    return Path(f"/var/run/netns/{netns}").exists()


def responders() -> list[int]:
    """PIDs of the responders (`python -m rollouts.devcluster.podnet`) running now:
    the namespace is shared by the whole machine, so a second user must not take it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rollouts.devcluster.podnet" in argv[1:3]:
            found.append(int(entry.name))
    return sorted(found)


def attach(pod_cidr: str, *, netns: str = NETNS) -> None:
    """Make every address of `pod_cidr` answerable inside `netns`; idempotent."""
    if attached(netns):
        detach(netns=netns)
    _ip("netns", "add", netns)
    try:
        _ip("link", "add", HOST_LINK, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", HOST_LINK)
        _ip("link", "set", HOST_LINK, "up")
        _ip("link", "set", "lo", "up", netns=netns)
        _ip("addr", "add", f"{NETNS_ADDRESS}/30", "dev", "eth0", netns=netns)
        _ip("link", "set", "eth0", "up", netns=netns)
        _ip("route", "add", "local", pod_cidr, "dev", "lo", netns=netns)
        _ip("route", "replace", pod_cidr, "via", NETNS_ADDRESS, "dev", HOST_LINK)
    except DevClusterError:
        detach(netns=netns)
        raise


def detach(*, netns: str = NETNS) -> None:
    """Remove the namespace; its veth, and the host route through it, go with it."""
    _ip("netns", "del", netns, check=False)
    _ip("link", "del", HOST_LINK, check=False)


@contextlib.contextmanager
def _inside(netns: str) -> Iterator[None]:
    """Run the block with this thread in `netns` (sockets made there stay there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise DevClusterError(f"setns into {netns} failed: "
                                  f"{os.strerror(ctypes.get_errno())} (needs root)")
        try:
            yield
        finally:
            libc.setns(home, _CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(home)


# --- what a pod is, and what it answers (pure) ------------------------------------------

@dataclass(frozen=True)
class Pod:
    """A pod as the responder sees it: where it listens and what it says."""

    uid: str
    name: str
    namespace: str
    ip: str
    ports: tuple[int, ...]
    version: str
    status: int = 200


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def pod_from(obj: dict[str, Any]) -> Pod | None:
    """The `Pod` of an API object, or None when it has no IP to answer on."""
    metadata, spec = _section(obj, "metadata"), _section(obj, "spec")
    ip = _section(obj, "status").get("podIP")
    if not ip or spec.get("hostNetwork"):
        return None  # not scheduled yet, or shares the node's address
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    ports = sorted({int(port["containerPort"])
                    for container in spec.get("containers") or []
                    for port in container.get("ports") or []
                    if port.get("protocol", "TCP") == "TCP" and port.get("containerPort")})
    version = (labels.get("version") or labels.get("rollouts-pod-template-hash")
               or labels.get("pod-template-hash") or "")
    try:
        answer_status = int(annotations.get(STATUS_ANNOTATION, 200))
    except ValueError:
        answer_status = 200
    if not 100 <= answer_status <= 599:
        answer_status = 200
    return Pod(uid=str(metadata.get("uid", "")), name=str(metadata.get("name", "")),
               namespace=str(metadata.get("namespace", "")), ip=str(ip),
               ports=tuple(ports), version=str(version), status=answer_status)


def answer(pod: Pod | None, local_ip: str, path: str) -> tuple[int, bytes]:
    """The status and JSON body for a request to `local_ip` (None: no pod there)."""
    if pod is None:
        error: dict[str, object] = {"error": f"no pod has IP {local_ip}"}
        return 503, json.dumps(error).encode()
    body: dict[str, object] = {"pod": pod.name, "namespace": pod.namespace,
                               "version": pod.version, "ip": pod.ip, "path": path,
                               "status": pod.status}
    return pod.status, json.dumps(body).encode()


@dataclass
class PodTable:
    """Pod IP -> pod, shared by the watch thread and the serving loop.

    A deleted pod keeps answering for `grace` seconds (`retire`), as a real pod's
    process does after SIGTERM while proxies still hold its endpoint: kwok removes a
    deleted pod at once, before the EndpointSlice and the proxies have caught up.
    """

    grace: float = TERMINATION_GRACE
    pods: dict[str, Pod] = field(default_factory=dict)
    retiring: dict[str, float] = field(default_factory=dict)  # ip -> monotonic deadline
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, pod: Pod) -> None:
        with self.lock:
            self.pods[pod.ip] = pod
            self.retiring.pop(pod.ip, None)

    def retire(self, uid: str, ip: str, now: float) -> None:
        with self.lock:
            if ip in self.pods and self.pods[ip].uid == uid:
                self.retiring[ip] = now + self.grace

    def replace_all(self, pods: list[Pod], now: float) -> None:
        with self.lock:
            listed = {pod.ip: pod for pod in pods}
            for ip, pod in self.pods.items():
                if ip not in listed and ip not in self.retiring:
                    self.retiring[ip] = now + self.grace
                if ip not in listed:
                    listed[ip] = pod
            self.pods = listed

    def get(self, ip: str, now: float) -> Pod | None:
        with self.lock:
            deadline = self.retiring.get(ip)
            if deadline is not None and now >= deadline:
                self.pods.pop(ip, None)
                del self.retiring[ip]
            return self.pods.get(ip)

    def ports(self) -> set[int]:
        with self.lock:
            return {port for pod in self.pods.values() for port in pod.ports}


# --- watching pods (one thread) -------------------------------------------------------

@dataclass(frozen=True)
class ApiServer:
    url: str
    token: str
    ca_file: Path

    def open(self, path: str, timeout: float) -> HTTPResponse:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(self.url + path)
        request.add_header("Authorization", f"Bearer {self.token}")
        response: HTTPResponse = urllib.request.urlopen(
            request, timeout=timeout, context=context)
        return response


def watch_pods(api: ApiServer, table: PodTable, stop: threading.Event) -> None:
    """List all pods, then follow the watch; relist after any error. Runs until `stop`."""
    while not stop.is_set():
        try:
            with api.open("/api/v1/pods", timeout=30) as response:
                listed = json.load(response)
            table.replace_all([p for p in map(pod_from, listed.get("items") or []) if p],
                              time.monotonic())
            version = listed["metadata"]["resourceVersion"]
            path = (f"/api/v1/pods?watch=1&resourceVersion={version}"
                    "&allowWatchBookmarks=true&timeoutSeconds=120")
            with api.open(path, timeout=150) as stream:
                for line in stream:
                    if stop.is_set() or not _apply(table, json.loads(line)):
                        break
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            stop.wait(1.0)


def _apply(table: PodTable, event: dict[str, Any]) -> bool:
    """Apply one watch event; False when the watch must be restarted by a relist."""
    kind, obj = event.get("type"), event.get("object")
    if kind == "ERROR" or not isinstance(obj, dict):
        return False
    if kind == "BOOKMARK":
        return True
    pod = pod_from(obj)
    if kind == "DELETED" or pod is None:
        ip = _section(obj, "status").get("podIP")
        if ip:
            table.retire(str(_section(obj, "metadata").get("uid", "")), str(ip),
                         time.monotonic())
        return True
    table.put(pod)
    return True


# --- serving (one asyncio loop) -------------------------------------------------------

async def _handle(table: PodTable, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    local_ip = str(writer.get_extra_info("sockname")[0])
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            parts = request_line.split(" ")
            path = parts[1] if len(parts) > 1 else "/"
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in header_lines if line)}
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            status, body = answer(table.get(local_ip, time.monotonic()), local_ip, path)
            close = headers.get("connection", "").lower() == "close"
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode() + body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
            ValueError):
        pass
    finally:
        writer.close()


async def _serve(table: PodTable, netns: str, stop: threading.Event) -> None:
    servers: dict[int, asyncio.Server] = {}
    while not stop.is_set():
        for port in sorted(table.ports() - servers.keys())[: MAX_PORTS - len(servers)]:
            with _inside(netns):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))
            servers[port] = await asyncio.start_server(
                lambda r, w: _handle(table, r, w), sock=sock, backlog=256)
            print(f"[podnet] answering on port {port} in {netns}", flush=True)
        await asyncio.sleep(0.2)
    for server in servers.values():
        server.close()


def serve(api: ApiServer, *, netns: str = NETNS, stop: threading.Event | None = None) -> None:
    """Watch pods and answer on their IPs until `stop` is set (or forever)."""
    stop = stop or threading.Event()
    table = PodTable()
    watcher = threading.Thread(target=watch_pods, args=(api, table, stop),
                               name="podnet-watch", daemon=True)
    watcher.start()
    asyncio.run(_serve(table, netns, stop))


def main(argv: list[str] | None = None) -> int:
    from rollouts.devcluster.cluster import POD_CIDR, Cluster

    parser = argparse.ArgumentParser(prog="python -m rollouts.devcluster.podnet",
                                     description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--cluster-dir", type=Path, required=True,
                        help="the dev cluster's state directory (holds state.json)")
    parser.add_argument("--netns", default=NETNS)
    parser.add_argument("--attach", action="store_true",
                        help=f"(re)make the namespace for {POD_CIDR} first")
    parser.add_argument("--detach-on-exit", action="store_true",
                        help="remove the namespace when stopped (SIGTERM or SIGINT), so "
                             "whoever stops the responder (`rollouts dev down`) cleans up")
    args = parser.parse_args(argv)
    cluster = Cluster.load(args.cluster_dir)
    if cluster is None:
        print(f"podnet: no dev cluster state in {args.cluster_dir}; run `rollouts dev up`",
              file=sys.stderr)
        return 2
    if args.attach:
        attach(POD_CIDR, netns=args.netns)
    elif not attached(args.netns):
        print(f"podnet: network namespace {args.netns} does not exist; pass --attach",
              file=sys.stderr)
        return 2
    api = ApiServer(cluster.server, cluster.admin_token, cluster.pki.ca_cert)
    print(f"[podnet] watching pods on {api.url}", flush=True)
    started = time.monotonic()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve(api, netns=args.netns, stop=stop)
    finally:
        if args.detach_on_exit:
            detach(netns=args.netns)
    print(f"[podnet] stopped after {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
