"""``serve --lab N --netns --rate R``: barecloud's own cable is shaped like the lab's.

The service plugs ``bcprov0`` (its DHCP, boot and image server address) into
the lab switch; that veth is a cable of the switch like a machine's, so both
of its ends carry the same tbf as every machine cable.  Otherwise the image
server would send at the sum of its clients' rates and a deploy benchmark
would measure no server link at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from barecloud.drivers.switches.linux_bridge import plug_port_name
from barecloud.startup.lab_service import PROVISIONING_IFNAME
from tests import support

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("tc") is None,
                       reason="the netns lab needs root, ip and tc"),
]

TBF = re.compile(r"qdisc tbf \S+ root .*rate (\S+) burst (\S+)")


def qdisc(netns: str | None, dev: str) -> tuple[str, str] | None:
    """(rate, burst) of the tbf at ``dev``'s root, as ``tc qdisc show`` prints them."""
    where = ["-n", netns] if netns else []
    out = subprocess.run(["tc", *where, "qdisc", "show", "dev", dev], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    found = TBF.search(out)
    return (found.group(1), found.group(2)) if found else None


def test_the_service_link_is_shaped_at_the_lab_rate(tmp_path: Path) -> None:
    svc = support.start_service(tmp_path / "svc", lab=1, netns=True, rate="40mbit",
                                timeout=300)
    try:
        wiring = json.loads((svc.data_dir / "lab" / "lab.json").read_text())["netns"]
        switch, machine = wiring["switch_netns"], wiring["machines"]["lab-00001"]
        cable = qdisc(switch, machine["ports"]["eth0"])
        assert cable is not None and cable[0] == "40Mbit", cable
        assert qdisc(machine["netns"], "eth0") == cable
        # Both ends of barecloud's own cable: its side (this host) and the switch port.
        assert qdisc(None, PROVISIONING_IFNAME) == cable
        assert qdisc(switch, plug_port_name(PROVISIONING_IFNAME, None)) == cable
    finally:
        svc.stop()
    assert subprocess.run(["ip", "link", "show", PROVISIONING_IFNAME], capture_output=True,
                          check=False).returncode != 0, "the plug outlived the lab"
