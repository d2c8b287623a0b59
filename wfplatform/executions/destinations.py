"""Where `http_request` may connect: a node is a way into the service's own network, so
every destination is checked after DNS resolution, on the address connected to, and again
at every redirect.

The deny list (`WF_HTTP_DENY`) holds by default the link-local ranges, where cloud metadata
endpoints answer (169.254.169.254, fd00:ec2::254) with the machine's credentials; an allow
list (`WF_HTTP_ALLOW`), when set, admits only its ranges. A name that resolves to any
refused address is refused as a whole (an attacker's DNS answering a public and a
private address in turns gets nothing), and the connection is made to the address checked,
never resolved again (DNS rebinding). IPv4 addresses written as IPv6 (`::ffff:a.b.c.d`)
are checked as the IPv4 address they are. An address that names no host (0.0.0.0/8, `::`)
is refused whatever the lists say: Linux connects it to the machine itself."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


THIS_HOST = ipaddress.ip_network("0.0.0.0/8")  # "this network": Linux connects it locally


class DestinationRefused(Exception):
    """The message names the host and why, never a resolved address list in full."""


def parse_networks(text: str, setting: str) -> tuple[Network, ...]:
    """A comma-separated list of addresses or CIDR ranges; a `ValueError` naming `setting`
    and the entry that is not one."""
    networks = []
    for entry in (part.strip() for part in (text or "").split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {entry!r} is not an address or a CIDR range") from None
    return tuple(networks)


@dataclass(frozen=True)
class NetworkPolicy:
    deny: tuple[Network, ...]
    allow: tuple[Network, ...] = ()  # empty: every address the deny list does not hold

    @classmethod
    def parse(cls, deny: str, allow: str = "") -> NetworkPolicy:
        return cls(parse_networks(deny, "WF_HTTP_DENY"), parse_networks(allow, "WF_HTTP_ALLOW"))

    def refusal(self, address: Address) -> str | None:
        """Why the policy refuses `address`, or None."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_unspecified or address in THIS_HOST:
            return "it names no host (0.0.0.0/8 and :: reach this machine)"
        if any(address in network for network in self.deny):
            return "it is in WF_HTTP_DENY"
        if self.allow and not any(address in network for network in self.allow):
            return "it is not in WF_HTTP_ALLOW"
        return None

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to for `host`: its first, once every address it resolves
        to is allowed; else `DestinationRefused`."""
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise DestinationRefused(f"{host!r} does not resolve ({error})") from None
        addresses = list(dict.fromkeys(info[4][0] for info in found))
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # no IPv6 zone
            why = self.refusal(address)
            if why:
                raise DestinationRefused(f"{host!r} resolves to {address}, and {why}")
        if not addresses:
            raise DestinationRefused(f"{host!r} does not resolve")
        return addresses[0]
