"""The kernel command line: where the API is, the agent token, the boot MAC.

iPXE passes ``barecloud.api=<base URL> barecloud.token=<token>
BOOTIF=01-aa-bb-cc-dd-ee-ff``, maybe ``barecloud.chain_port=<port>`` (the
chain server's; an ephemeral one without it); everything else on the line is
the kernel's.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$")


@dataclass(frozen=True)
class KernelArgs:
    api: str | None = None
    token: str | None = None
    bootif: str | None = None  # aa:bb:cc:dd:ee:ff
    chain_port: int | None = None


def parse(line: str) -> KernelArgs:
    """The agent's arguments from a kernel command line (``/proc/cmdline``)."""
    try:
        words = shlex.split(line)
    except ValueError:  # an unbalanced quote: the kernel would split on spaces
        words = line.split()
    values: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            values[key] = value
    port = values.get("barecloud.chain_port", "")
    return KernelArgs(api=values.get("barecloud.api") or None,
                      token=values.get("barecloud.token") or None,
                      bootif=bootif_mac(values.get("BOOTIF", "")),
                      chain_port=int(port) if port.isdigit() and 0 < int(port) < 65536
                      else None)


def bootif_mac(value: str) -> str | None:
    """``01-aa-bb-cc-dd-ee-ff`` (PXELINUX's form: hardware type 01, Ethernet) → a MAC."""
    value = value.strip().lower()
    if value.count("-") == 6 and value.startswith("01-"):
        value = value[3:]
    if not _MAC.match(value):
        return None
    return value.replace("-", ":")
