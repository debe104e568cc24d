"""A netns lab machine from power on: firmware, then the agent or the disk's "OS".

Run by the shard inside the machine's namespace (firmware.NetnsFirmware)::

    ip netns exec bcl-<id>-lab-00001 python -m barecloud.lab.nsboot \\
        --machine-dir <lab>/machines/lab-00001 --device pxe|disk

Everything here goes over the machine's own NICs, never over loopback:

- **pxe**: a DHCP exchange on eth0 as iPXE (option 175, user class
  ``iPXE``: netboot.dhcp); the lease's address goes on eth0, option 67 is
  the iPXE script's URL, which the interpreter of firmware.py follows over
  HTTP; a lab kernel runs the ramdisk (the agent zipapp) as a child, as in
  loopback mode.  No DHCP answer, or a script that exits, falls through to
  the disk, as firmware does.
- **disk**: the config drive is read and printed (firmware.read_disk), then
  the "OS" starts: TCP services on port 22 (an SSH banner) and 80 (the
  hostname), and a plain DHCP client on eth0 that retries until the
  tenant network answers, then configures the address and the default
  route (option 3) and prints ``cloud-init: eth0 <ip>/<prefix>``.  On
  IPv6 the kernel of the namespace does SLAAC itself; router advertisements
  with the M flag make the OS ask DHCPv6 for an address (a /128), with the
  O flag alone for the DNS servers (lab/dhcp6.py); every global IPv6
  address is printed (``cloud-init: eth0 inet6 <ip>/<prefix>``).  The
  kernel answers ping.  It runs until the power goes.
  A hypervisor's drive (lab/hypervisor.py) gives a static address instead,
  and the OS starts the host agent.

The serial line is stdin, a pty the shard reads onto the machine's serial
port (serial.Terminal, which the BMC's Serial-over-LAN reaches): console
lines are shown there too, and once the OS is up it offers a login there
whose shell (``/bin/sh -i``, controlling terminal the pty, in a session of
its own) runs in the machine's namespace, with the machine's network;
the shard kills it with the power, as everything in the namespace.

Exit status, read by the shard: 100 power off and 101 reset (the agent's
own, as on the loopback lab; any other agent status halts the machine:
100), 0 the machine halted with nothing to run (it stays on, as a PC
showing "No bootable device" does).  The disk's "OS" never exits.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from barecloud.hostagent import firstboot
from barecloud.lab import dhcp6, hypervisor, netboot
from barecloud.lab.firmware import (
    EXIT_POWER_OFF,
    EXIT_REBOOT,
    LAB_KERNEL_MAGIC,
    RAMDISK_DIR,
    BootFailed,
    Script,
    agent_argv,
    read_disk,
)
from barecloud.lab.machine import Machine
from barecloud.wire import dhcpv6

NIC = "eth0"
PXE_DHCP_TIMEOUT = 5.0  # seconds of DISCOVERs before the ROM gives up on the network
OS_DHCP_TIMEOUT = 3.0  # one attempt of the OS's client; it retries until it gets a lease
IPV6_WAIT = 120.0  # seconds the OS looks for new IPv6 addresses each second; then every 5 s
DHCP6_TIMEOUT = 10.0  # one DHCPv6 attempt; the next router advertisement starts another
EXIT_HALTED = 0
SSH_BANNER = b"SSH-2.0-barecloud-lab\r\n"
OPT_SUBNET_MASK, OPT_ROUTER = 1, 3


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def prefix_of(lease: netboot.Lease) -> int:
    """The prefix length from option 1 (a /24 when the server sent no mask)."""
    mask = lease.options.get(OPT_SUBNET_MASK)
    if mask is None or len(mask) != 4:
        return 24
    return ipaddress.IPv4Network(f"0.0.0.0/{ipaddress.IPv4Address(mask)}").prefixlen


def configure(lease: netboot.Lease) -> str:
    """Put the lease on eth0 (and its router as default route); return ``ip/prefix``."""
    router = lease.options.get(OPT_ROUTER)
    gateway = (str(ipaddress.IPv4Address(router[:4]))
               if router is not None and len(router) >= 4 else None)
    return configure_static(f"{lease.ip}/{prefix_of(lease)}", gateway)


def configure_static(address: str, gateway: str | None) -> str:
    """Put ``address`` (``ip/prefix``) on eth0, ``gateway`` as default route.

    IPv4 only is flushed: the link-local IPv6 address stays, so the kernel
    keeps taking SLAAC addresses from router advertisements."""
    _ip("-4", "addr", "flush", "dev", NIC)
    _ip("addr", "add", address, "dev", NIC)
    if gateway is not None:
        _ip("route", "replace", "default", "via", gateway, "dev", NIC)
    return address


def enable_ipv6(nic: str = NIC) -> None:
    """Turn IPv6 on for ``nic`` as a booting Linux does when it brings the NIC up:
    the kernel forms the link-local address.  The power-off flushed every
    address (firmware.NetnsFirmware.stop), the link-local one too, and the
    kernel does not form it again by itself; without it DHCPv6 cannot send
    (SLAAC still would)."""
    path = Path("/proc/sys/net/ipv6/conf") / nic / "disable_ipv6"
    with contextlib.suppress(OSError):
        path.write_text("1\n")
        path.write_text("0\n")


def netboot_agent(m: Machine) -> int:
    """iPXE over eth0; return the machine's next move, or raise BootFailed."""
    mac = m.macs[0]
    arch = 7 if m.boot.mode == "uefi" else 0
    try:
        lease = netboot.dhcp(NIC, mac, ipxe=True, arch=arch, timeout=PXE_DHCP_TIMEOUT)
    except netboot.NetbootError as exc:
        raise BootFailed(str(exc)) from None
    if lease is None:
        raise BootFailed(f"no DHCP offer on {NIC}")
    address = configure(lease)
    m.console(f"PXE: {NIC} {mac}: DHCP {address} from {lease.server}, "
              f"boot file {lease.filename or '(none)'}")
    if not lease.filename.startswith(("http://", "https://")):
        raise BootFailed(f"boot file {lease.filename!r} is not an iPXE script URL")
    script = Script(mac, m.console)
    if script.run(lease.filename) == "exit":
        raise BootFailed("iPXE exited to the next boot device")
    if not script.loaded.kernel.startswith(LAB_KERNEL_MAGIC):
        raise BootFailed("the kernel is not one the netns lab can run "
                         "(a real Linux kernel needs the QEMU lab)")
    argv = agent_argv(m, script.loaded)
    sys.stdout.flush()
    agent = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, cwd=m.dir / RAMDISK_DIR)
    tee = threading.Thread(target=_tee, args=(agent, m), daemon=True, name="agent-output")
    tee.start()
    _, status, usage = os.wait4(agent.pid, 0)
    tee.join(5)
    code = os.waitstatus_to_exitcode(status)
    m.console(f"agent exited with status {code}, peak memory {usage.ru_maxrss / 1024:.1f} MiB")
    return EXIT_REBOOT if code == EXIT_REBOOT else EXIT_POWER_OFF


def _tee(agent: subprocess.Popen[bytes], m: Machine) -> None:
    """The agent's output to console.log (our stdout) and the serial line."""
    assert agent.stdout is not None
    fd = agent.stdout.fileno()
    for chunk in iter(lambda: os.read(fd, 65536), b""):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        if m.serial is not None:
            m.serial.show(chunk)


class _Service(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(port: int, answer: bytes) -> None:
    """Answer every TCP connection on ``port`` with ``answer``, then close it."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(answer)

    server = _Service(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name=f"tcp-{port}").start()


def global_ipv6() -> list[str]:
    """eth0's global IPv6 addresses (``addr/prefix``): SLAAC's and DHCPv6's."""
    out = subprocess.run(["ip", "-j", "-6", "addr", "show", "dev", NIC, "scope", "global"],
                         capture_output=True, text=True, timeout=30, check=False).stdout
    try:
        infos = json.loads(out or "[]")
    except ValueError:
        return []
    # iproute2 6.1 leaves {} where the filter dropped an address (the link-local).
    return [f"{a['local']}/{a['prefixlen']}" for info in infos
            for a in info.get("addr_info", []) if "local" in a and not a.get("tentative")]


def report_ipv6(m: Machine, wait: float = IPV6_WAIT) -> None:
    """Say on the console the IPv6 addresses eth0 takes (the kernel of the
    namespace does SLAAC, as a Linux with accept_ra does; follow_adverts DHCPv6),
    for as long as the OS runs: a router may come late."""
    brisk = time.monotonic() + wait
    seen: set[str] = set()
    while True:
        for address in global_ipv6():
            if address not in seen:
                seen.add(address)
                m.console(f"cloud-init: {NIC} inet6 {address}")
        time.sleep(1 if time.monotonic() < brisk else 5)


def configure_dhcp6(lease: dhcp6.Lease) -> str:
    """Put a DHCPv6 address on eth0 as a /128 with the lease's lifetimes, as
    NetworkManager, systemd-networkd and dhclient do: the prefix is on-link
    by the router advertisement (its L flag), not by DHCPv6."""
    def lifetime(seconds: int) -> str:
        return "forever" if seconds == dhcpv6.INFINITY else str(seconds)

    _ip("-6", "addr", "replace", f"{lease.address}/128", "dev", NIC,
        "valid_lft", lifetime(lease.valid), "preferred_lft", lifetime(lease.preferred))
    return f"{lease.address}/128"


def follow_adverts(m: Machine, wait: float | None = None) -> None:
    """What NetworkManager (``ipv6.method=auto``) does with router advertisements:
    the M flag starts DHCPv6 for an address (and the DNS servers), the O flag
    alone an INFORMATION-REQUEST for the DNS servers; each only once it has
    succeeded, retried on the next advertisement until then, however late
    (``wait``: None, for as long as the OS runs).  No renewal: the
    lease (dnsmasq's is a day) outlives the lab's runs; the address goes when
    its valid lifetime ends."""
    leased = informed = False
    heard: set[tuple[str, bool, bool]] = set()
    for advert in dhcp6.adverts(NIC, None if wait is None else time.monotonic() + wait):
        flags = (advert.router, advert.managed, advert.other)
        if flags not in heard:  # said once per router and flags, not every 10 s
            heard.add(flags)
            m.console(f"cloud-init: {NIC}: router advertisement from {advert.router}: "
                      f"M={int(advert.managed)} O={int(advert.other)}")
        try:
            if advert.managed and not leased:
                lease = dhcp6.lease(NIC, m.macs[0], DHCP6_TIMEOUT)
                if lease is None:
                    m.console(f"cloud-init: {NIC}: no DHCPv6 answer yet, still asking")
                    continue
                leased = informed = True
                m.console(f"cloud-init: {NIC} DHCPv6 {configure_dhcp6(lease)} from "
                          f"{lease.server}, valid {lease.valid} s, "
                          f"DNS {' '.join(lease.dns_servers) or '(none)'}")
            elif advert.other and not advert.managed and not informed:
                dns = dhcp6.information(NIC, m.macs[0], DHCP6_TIMEOUT)
                if dns is not None:
                    informed = True
                    m.console(f"cloud-init: {NIC} DHCPv6 DNS {' '.join(dns) or '(none)'}")
        except (dhcp6.Dhcp6Error, OSError) as exc:
            m.console(f"cloud-init: {NIC}: DHCPv6: {exc}")


def dhcp_until_answered(m: Machine) -> netboot.Lease:
    waited = False
    while True:
        try:
            lease = netboot.dhcp(NIC, m.macs[0], arch=None, timeout=OS_DHCP_TIMEOUT)
        except netboot.NetbootError as exc:
            m.console(f"cloud-init: {NIC}: {exc}")
            lease = None
        if lease is not None:
            return lease
        if not waited:
            m.console(f"cloud-init: {NIC}: no DHCP answer yet, still asking")
            waited = True


class Tty:
    """The machine's serial line (fd 0, a pty from the shard) for console lines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def show(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # the pty turns "\n" into "\r\n" itself
            os.write(self.fd, data.replace(b"\r\n", b"\n"))


SERIAL_FD = 0


def serial_login(hostname: str) -> None:
    """A getty on the serial line: a login prompt, then a shell in this namespace.

    Any name logs in (the console is the machine's: whoever has the BMC's
    credentials has it, as on real hardware).  The shell gets a session of
    its own with the pty as controlling terminal (``setsid -c``), so
    Ctrl-C and job control work; when it exits the prompt comes back.
    """
    shell = ["setsid", "-w", "-c", "/bin/sh", "-i"] if shutil.which("setsid") else ["/bin/sh", "-i"]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "TERM": "vt100", "PS1": f"{hostname}# "}
    while True:
        os.write(SERIAL_FD, f"\n{hostname} login: ".encode())
        try:
            name = os.read(SERIAL_FD, 1024).strip()  # canonical mode: one line
        except OSError:
            return  # the line is gone (the shard let go of it)
        if not name:
            continue
        subprocess.run(shell, stdin=SERIAL_FD, stdout=SERIAL_FD, stderr=SERIAL_FD,
                       env={**env, "USER": name.decode(errors="replace")}, check=False)


def run_os(m: Machine, drive: dict[str, Any]) -> None:
    """The disk's operating system: services up, then DHCP on eth0 until it answers.

    The hypervisor image (its config drive names a host agent) takes the
    drive's static address instead, as its /init does, and starts the agent.
    """
    meta: dict[str, Any] = drive.get("meta_data") or {}
    hostname = str(meta.get("hostname") or m.name)
    serve(22, SSH_BANNER)
    body = f"{hostname}\n".encode()
    serve(80, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
          + str(len(body)).encode() + b"\r\n\r\n" + body)
    agent = firstboot.agent_config(drive.get("vendor_data"))
    enable_ipv6()
    static = (hypervisor.static_address(drive.get("network_data"), m.macs[0])
              if agent is not None else None)
    address = (configure_static(*static) if static is not None
               else configure(dhcp_until_answered(m)))
    m.console(f"cloud-init: {NIC} {address}")
    threading.Thread(target=report_ipv6, args=(m,), daemon=True, name="ipv6").start()
    threading.Thread(target=follow_adverts, args=(m,), daemon=True, name="dhcp6").start()
    m.console(f"login: {hostname} is up")
    if os.isatty(SERIAL_FD):
        threading.Thread(target=serial_login, args=(hostname,), daemon=True,
                         name="getty").start()
    if agent is not None:
        hypervisor.start_host_agent(m, meta, agent)
    while True:
        time.sleep(3600)


def boot(m: Machine, device: str) -> int:
    if device == "pxe":
        try:
            return netboot_agent(m)
        except BootFailed as exc:
            m.console(f"PXE: {exc}; trying the disk")
            _ip("addr", "flush", "dev", NIC)
    drive = read_disk(m)
    if drive is None:
        return EXIT_HALTED
    run_os(m, drive)
    return EXIT_HALTED  # not reached: the OS runs until the power goes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m barecloud.lab.nsboot")
    parser.add_argument("--machine-dir", type=Path, required=True)
    parser.add_argument("--device", choices=("pxe", "disk"), default="disk")
    args = parser.parse_args(argv)
    m = Machine.load(args.machine_dir)
    if os.isatty(SERIAL_FD):
        m.serial = Tty(SERIAL_FD)  # console lines show on the serial line too
    return boot(m, args.device)


if __name__ == "__main__":
    sys.exit(main())
