"""Which client an address stands for, when counting attempts and requests.

An IPv6 host is given a whole /64 network (one subnet: SLAAC and privacy extensions pick
new addresses inside it every day), so counting per full address would give one host
2**64 fresh counts, and make an owner whose address rotates a stranger each day. An IPv4
address counts as itself."""

from __future__ import annotations

import ipaddress

IPV6_NETWORK = 64


def client_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a test client, a unix socket): as it is
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_NETWORK}", strict=False))
    return str(parsed)
