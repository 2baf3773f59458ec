"""Which addresses the `web` and `prometheus` providers may connect to: the egress policy.

A metric's author picks the URL, and the controller fetches it from inside the cluster
and stores (part of) the answer in the run's status. Without a policy anyone who may
create an AnalysisTemplate could read `http://169.254.169.254/` (a cloud's instance
metadata service, which hands out the node's credentials) through the controller. The
policy is a deny list of networks:

- every address the host name resolves to is checked, and one denied address refuses the
  host (a name that resolves to a public and a metadata address is refused);
- the connection is then made to exactly the addresses that were checked (`connect`), so
  a DNS answer that changes between the check and the connection (DNS rebinding) cannot
  slip a denied address in;
- IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`) are checked as the IPv4 address;
- a refusal happens before any connection is attempted, and is an `EgressDenied` whose
  message names the host, the address and the network.

Default: `DEFAULT_DENY_NETWORKS`, the link-local networks where cloud metadata services
live. Loopback and cluster-internal addresses stay allowed: Prometheus usually lives in
the cluster. An operator may deny more (the API server's service network, say) or pass
an empty list to deny nothing.

With an HTTP proxy configured in the environment the connection goes to the proxy, whose
address is what `connect` checks; `analysis.providers.transport` then also checks the
target's own addresses when the controller can resolve them.

Neighbours: `analysis.providers.transport` connects through `EgressPolicy.connect`;
`analysis.providers.default_providers(deny_networks=...)` builds the policy.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_DENY_NETWORKS", "EgressDenied", "EgressPolicy"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DENY_NETWORKS: tuple[str, ...] = ("169.254.0.0/16", "fe80::/10")
"""Networks no metric may reach unless the operator says otherwise: IPv4 and IPv6
link-local, home of cloud metadata services (169.254.169.254, fd00:ec2::254 aside)."""


class EgressDenied(OSError):
    """A connection the egress policy forbids; the message says which address and why."""


@dataclass(frozen=True)
class EgressPolicy:
    """A deny list of networks, checked against every address a provider connects to."""

    deny: tuple[Network, ...]

    @classmethod
    def from_networks(cls, networks: Sequence[str] | None = None) -> EgressPolicy:
        """The policy denying `networks` (CIDR strings); None gives `DEFAULT_DENY_NETWORKS`.

        Raises `ValueError` naming the first entry that is not a network.
        """
        chosen = DEFAULT_DENY_NETWORKS if networks is None else tuple(networks)
        parsed: list[Network] = []
        for text in chosen:
            try:
                parsed.append(ipaddress.ip_network(str(text).strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"deny network {text!r} is not a network; write it as a CIDR such as "
                    "169.254.0.0/16 or fe80::/10"
                ) from None
        return cls(deny=tuple(parsed))

    def denied_by(self, address: str) -> Network | None:
        """The denied network that holds `address` (an IP literal), or None."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (%eth0)
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return next((net for net in self.deny if ip.version == net.version and ip in net), None)

    def check(self, host: str, address: str) -> None:
        """Raise `EgressDenied` if `host`'s address `address` is in a denied network."""
        network = self.denied_by(address)
        if network is None:
            return
        shown = host if host == address else f"{host} ({address})"
        raise EgressDenied(
            f"{shown} is in {network}, which the controller's egress policy denies; "
            "metrics cannot reach that network"
        )

    def resolve(self, host: str, port: int) -> list[tuple[int, int, int, tuple[str, int]]]:
        """`(family, type, proto, sockaddr)` for every address of `host`, all checked.

        Raises `socket.gaierror` for a name that does not resolve and `EgressDenied` when
        any of its addresses is denied.
        """
        found: list[tuple[int, int, int, tuple[str, int]]] = []
        for family, kind, proto, _, sockaddr in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            address = str(sockaddr[0])
            self.check(host, address)
            found.append((int(family), int(kind), proto, (address, int(sockaddr[1]))))
        return found

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """`socket.create_connection`, to checked addresses only (the ones `resolve` gave)."""
        host, port = address
        last: OSError | None = None
        for family, kind, proto, sockaddr in self.resolve(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                if source_address is not None:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as error:
                last = error
                sock.close()
        raise last if last is not None else OSError(f"{host} has no address")
