"""Listing servers by address (Nova's ``ip`` and ``ip6``): a regular expression matched at
the start of a fixed address."""

from __future__ import annotations

from tests.api.compute.nova import Nova, fault, server_on, tenant_network


def test_servers_are_listed_by_their_fixed_addresses(nova: Nova, rc: str) -> None:
    network = tenant_network(nova, "198.51.100.0/24")
    first = server_on(nova, rc, network, "52:54:00:f1:00:01")
    second = server_on(nova, rc, network, "52:54:00:f1:00:02")
    addrs = {sid: nova.server(sid)["addresses"][network["name"]][0]["addr"]
             for sid in (first, second)}

    def listed(**params: str) -> set[str]:
        return {s["id"] for s in nova.ok("GET", "/servers", params=params)["servers"]}

    assert listed(ip=addrs[first]) == {first}
    assert listed(ip=addrs[second], name="on-net") == {second}
    assert listed(ip="198\\.51\\.100\\.") == {first, second}
    assert listed(ip="51\\.100") == set()  # matched at the start, as Nova's re.match
    assert listed(ip6="fd") == set()  # no IPv6 address
    assert "Invalid regular expression for ip" in fault(
        nova.request("GET", "/servers", params={"ip": "("}), 400)
