"""The vote rate's key (ui/studio/voters.py): the client's address, behind a Space's proxy too,
never an address a client wrote into X-Forwarded-For itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ui.studio import voters


def request(peer: str, forwarded: str | None = None, session: str = "s1"):
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return SimpleNamespace(client=SimpleNamespace(host=peer), headers=headers, session_hash=session)


@pytest.mark.parametrize("peer, forwarded, address", [
    ("93.184.216.34", None, "93.184.216.34"),                     # reached directly
    ("10.16.3.80", "151.101.1.69", "151.101.1.69"),           # a Space: its proxy's private peer
    ("10.16.3.80", "151.101.1.69, 10.0.0.2", "151.101.1.69"),  # proxies that append their own
    ("127.0.0.1", "192.168.1.5", "192.168.1.5"),              # a local reverse proxy, a LAN visitor
    ("127.0.0.1", None, "127.0.0.1"),
])
def test_the_client_is_the_peer_or_the_visitor_behind_a_private_proxy(peer, forwarded, address):
    assert voters.client_address(request(peer, forwarded)) == address


@pytest.mark.hostile
@pytest.mark.parametrize("peer, forwarded", [
    ("93.184.216.34", "1.2.3.4"),                       # a public client sends the header itself
    ("10.16.3.80", "1.2.3.4, 93.184.216.34"),           # spoofed left of what the proxy appended
])
def test_an_address_a_client_writes_itself_is_never_the_key(peer, forwarded):
    assert voters.client_address(request(peer, forwarded)) == "93.184.216.34"


def test_fresh_sessions_of_one_client_share_one_key_and_keep_their_own_tags():
    first, second = request("10.0.0.9", "151.101.1.69", "a"), request("10.0.0.9", "151.101.1.69", "b")
    assert voters.client_tag(first) == voters.client_tag(second) != voters.client_tag(request("151.101.1.70"))
    assert voters.session_tag(first) != voters.session_tag(second)
    assert "151.101.1.69" not in voters.client_tag(first)  # a tag, not the address itself
