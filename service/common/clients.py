"""Who the client is: the peer, or the hop a trusted proxy added (rate limits, access logs)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from quart import current_app, request

from service.config import IPNetwork, Settings


def request_client() -> str:
    """The current request's client: the peer, or the hop a trusted proxy added."""
    settings: Settings = current_app.extensions["settings"]
    if not settings.TRUSTED_PROXIES:  # no hop is believed: the peer, whatever the header says
        return request.remote_addr or "unknown"
    forwarded_for = request.headers.get("X-Forwarded-For", "")
    return client_address(request.remote_addr, forwarded_for, settings.TRUSTED_PROXIES)


def client_address(peer: str | None, forwarded_for: str, trusted: Sequence[IPNetwork]) -> str:
    """The client: the peer, or the first X-Forwarded-For hop not added by a trusted proxy.

    Walks the chain from the right; only hops appended by proxies we trust are believed,
    so a client cannot forge its way to a fresh bucket.
    """
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    chain = [*hops, peer or "unknown"]
    while len(chain) > 1 and _is_trusted(chain[-1], trusted):
        chain.pop()
    return chain[-1]


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
