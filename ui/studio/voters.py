"""Who cast a vote, as far as the server can tell: an anonymous tag per browser session (stored
with the vote, to count voters) and the client's address (never stored; the key of the vote rate).

The rate goes by address, not by session: a script can open a fresh Gradio session for every vote
(30 votes from new session hashes were once recorded in 8.5 s). Behind a proxy (a Hugging Face
Space: the peer is the proxy's private address, the visitor is in X-Forwarded-For) the address is
the right-most public one of that header: a proxy appends the address it saw, so entries a client
wrote itself stand to the left of it and are never chosen. A client that reaches the studio
directly from a public address gets that address, whatever headers it sends.
"""

from __future__ import annotations

import hashlib
import ipaddress


def _tag(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12] if value else ""


def session_tag(request) -> str:
    return _tag(getattr(request, "session_hash", None) or "")


def _private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False  # a name such as "testclient": not an address a proxy would forward from
    return ip.is_private or ip.is_loopback or ip.is_link_local


def client_address(request) -> str:
    """The address the rate counts: the peer, or behind a private proxy the right-most public
    address in X-Forwarded-For (all private: the left-most, the one nearest the visitor)."""
    client = getattr(request, "client", None)
    peer = (getattr(client, "host", None) or "").strip()
    headers = getattr(request, "headers", None) or {}
    forwarded = [a.strip() for a in (headers.get("x-forwarded-for") or "").split(",") if a.strip()]
    if not forwarded or (peer and not _private(peer)):
        return peer
    public = [a for a in forwarded if not _private(a)]
    return public[-1] if public else forwarded[0]


def client_tag(request) -> str:
    return _tag(client_address(request))
