"""The taps' security groups on a host (hostagent/tapfilter.py), as root in a namespace
of the test's own: what the kernel holds after each sync, and how many nft runs it took."""

from __future__ import annotations

import re
import subprocess

from barecloud.hostagent.firewall import PortRules, Rule, render, table_name, tables_of
from barecloud.hostagent.tapfilter import TapFilters
from tests.hostagent.conftest import NFT

WEB = PortRules(mac="fa:16:3e:00:00:01", addresses=("10.0.0.5",),
                rules=(Rule("ingress", "IPv4", "tcp", 8080, 8080), Rule("egress", "IPv4")))
SSH = PortRules(mac="fa:16:3e:00:00:02", addresses=("10.0.0.6",),
                rules=(Rule("ingress", "IPv4", "tcp", 22, 22),))




def _nft(netns: str, *args: str, script: str | None = None) -> str:
    done = subprocess.run(["ip", "netns", "exec", netns, NFT, *args], input=script,
                          text=True, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tables(netns: str) -> set[str]:
    return tables_of(_nft(netns, "list", "tables"))


def _ruleset(netns: str, tap: str) -> str:
    return _nft(netns, "list", "table", "inet", table_name(tap))


async def test_the_hosts_taps_follow_each_sync_in_one_nft_run(netns: str) -> None:
    # A previous agent's table, of a tap no longer wanted: replaced with the first load.
    _nft(netns, "-f", "-", script=render("tapold0000000", 1, SSH))
    filters = TapFilters(netns)
    # The taps do not exist yet: their tables hold from before QEMU opens them.
    await filters.sync({"tapaaaaaaaaaaa": WEB, "tapbbbbbbbbbbb": SSH})
    assert _tables(netns) == {table_name("tapaaaaaaaaaaa"), table_name("tapbbbbbbbbbbb")}
    assert filters.loads == 1
    assert "tcp dport 8080 accept" in _ruleset(netns, "tapaaaaaaaaaaa")
    marks = [re.findall(r"iifname \S+ meta mark set meta mark or (0x[0-9a-f]+)", text)
             for text in filters.applied().values()]
    assert len({m for found in marks for m in found}) == 2  # each tap its own number
    assert _nft(netns, "list", "tables").count("table bridge sg_") == 2

    await filters.sync({"tapaaaaaaaaaaa": WEB, "tapbbbbbbbbbbb": SSH})
    await filters.ensure(["tapaaaaaaaaaaa", "tapzzzzzzzzzzz"])
    assert filters.loads == 1  # nothing changed: no nft run

    # A rule changes, a port goes: one run.
    web2 = PortRules(mac=WEB.mac, addresses=WEB.addresses,
                     rules=(Rule("ingress", "IPv4", "tcp", 9090, 9090),))
    await filters.sync({"tapaaaaaaaaaaa": web2})
    assert filters.loads == 2
    assert _tables(netns) == {table_name("tapaaaaaaaaaaa")}
    text = _ruleset(netns, "tapaaaaaaaaaaa")
    assert "tcp dport 9090 accept" in text and "8080" not in text

    # Rules the translation refuses close the tap (DHCP and neighbour discovery only).
    await filters.sync({"tapaaaaaaaaaaa": PortRules(
        mac=WEB.mac, rules=(Rule("ingress", "IPv4", "bogus"),))})
    text = _ruleset(netns, "tapaaaaaaaaaaa")
    assert "dport" not in text.replace("udp dport 67", "").replace("udp dport 68", "") \
        .replace("udp dport 546", "").replace("udp dport 547", "")
    assert text.count("drop") >= 2

    # A restarted agent: its first sync replaces what the last one left, in one run.
    again = TapFilters(netns)
    await again.sync({"tapbbbbbbbbbbb": SSH})
    assert again.loads == 1 and _tables(netns) == {table_name("tapbbbbbbbbbbb")}
    await again.sync({})
    assert _tables(netns) == set()
