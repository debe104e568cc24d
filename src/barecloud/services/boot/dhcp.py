"""dnsmasq as a child process: DHCP and TFTP for network boot.

Only machines being provisioned get an answer (the ipxe boot interface
writes their host entries; ``dhcp-ignore=tag:!known`` drops the rest), so
the service can share a network with machines it does not own.  iPXE
(option 175) is sent the boot script URL; a plain PXE ROM first gets iPXE
by TFTP: ``undionly.kpxe`` for BIOS, ``ipxe.efi`` for x86-64 UEFI.

Everything lives under ``<data_dir>/dnsmasq/`` (configuration, log, leases,
PID file) and ``<data_dir>/tftp/``; the configuration is rewritten at each
start from the settings.  dnsmasq runs in the foreground as our child, is
stopped by its PID, dies with the service, and a start ends the one a killed
service left (children.py).
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

from barecloud.config import Settings
from barecloud.drivers import ipxe
from barecloud.errors import BarecloudError
from barecloud.services import children

DNSMASQ = "/usr/sbin/dnsmasq"
IPXE_DIR = Path("/usr/lib/ipxe")  # Debian's ipxe package
BIOS_LOADER, UEFI_LOADER = "undionly.kpxe", "ipxe.efi"
# Option 93 client architectures that run the x86-64 ipxe.efi (RFC 4578: 7
# is x64 UEFI; many x64 firmwares send 9).
UEFI_ARCHES = (7, 9)


class DhcpError(BarecloudError):
    """dnsmasq is misconfigured, missing, or did not stay up."""


class Dnsmasq:
    def __init__(self, settings: Settings, *, binary: str = DNSMASQ,
                 ipxe_dir: Path = IPXE_DIR, start_timeout: float = 10.0) -> None:
        self.settings = settings
        self.binary = binary
        self.ipxe_dir = ipxe_dir
        self.start_timeout = start_timeout
        data = settings.data_dir.resolve()
        self.dir = data / "dnsmasq"
        self.tftp_dir = data / "tftp"
        self.hosts_dir = ipxe.BootFiles(data, settings.base_url).hosts_dir
        self.conf_path = self.dir / "dnsmasq.conf"
        self.log_path = self.dir / "dnsmasq.log"
        self.pid_path = self.dir / "dnsmasq.pid"
        self.lease_path = self.dir / "dnsmasq.leases"
        self.proc: asyncio.subprocess.Process | None = None

    def config(self) -> str:
        s = self.settings
        for name in ("dhcp_interface", "dhcp_range"):
            value = getattr(s, name)
            if not value:
                raise DhcpError(f"dhcp_enabled needs {name} (BARECLOUD_{name.upper()}).")
        for value in (s.dhcp_interface, s.dhcp_range, s.boot_url):
            if any(c in value for c in "\n\r\0"):
                raise DhcpError(f"dnsmasq setting {value!r} has a line break in it.")
        lines = [
            "# Written by barecloud at each start from its settings: edits are lost.",
            "port=0",  # no DNS
            f"interface={s.dhcp_interface}",
            "except-interface=lo",
            "bind-interfaces",
            f"dhcp-range={s.dhcp_range}",
            "dhcp-match=set:ipxe,175",
            *(f"dhcp-match=set:efi,option:client-arch,{a}" for a in UEFI_ARCHES),
            # Disjoint tags: which dhcp-boot wins among several matches is
            # dnsmasq's business.
            f"dhcp-boot=tag:ipxe,{s.boot_url}",
            f"dhcp-boot=tag:!ipxe,tag:efi,{UEFI_LOADER}",
            f"dhcp-boot=tag:!ipxe,tag:!efi,{BIOS_LOADER}",
            "enable-tftp",
            f"tftp-root={self.tftp_dir}",
            f"dhcp-hostsdir={self.hosts_dir}",
            "dhcp-ignore=tag:!known",
            "no-ping",  # its 3 s ping check slows every first lease
            "log-dhcp",
            "log-facility=-",
            f"dhcp-leasefile={self.lease_path}",
            f"pid-file={self.pid_path}",
            # Stay who we are: the data directory may not be readable by nobody.
            f"user={pwd.getpwuid(os.getuid()).pw_name}",
            f"group={grp.getgrgid(os.getgid()).gr_name}",
            "keep-in-foreground",
            "no-resolv",
            "no-hosts",
        ]
        return "\n".join(lines) + "\n"

    def _copy_loaders(self) -> None:
        self.tftp_dir.mkdir(parents=True, exist_ok=True)
        for name in (BIOS_LOADER, UEFI_LOADER):
            source = self.ipxe_dir / name
            if not source.exists():
                raise DhcpError(
                    f"{source} is missing: install Debian's ipxe package "
                    "(scripts/system-packages)."
                )
            shutil.copyfile(source, self.tftp_dir / name)  # follows Debian's symlinks
            # dnsmasq running as root serves by TFTP only world-readable files
            # (dnsmasq(8), --tftp-secure): these are Debian's public binaries, the
            # only files of the private data directory that others may read.
            os.chmod(self.tftp_dir / name, 0o644)

    def _end_leftover(self) -> None:
        """End the dnsmasq a killed service left running on our configuration."""
        children.end_stale(self.pid_path, f"--conf-file={self.conf_path}".encode())

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def prepare(self) -> BinaryIO:
        """Check, write the configuration and TFTP files; return the log, open to append."""
        if not Path(self.binary).exists():
            raise DhcpError(
                f"dnsmasq not found at {self.binary}: install Debian's dnsmasq-base "
                "(scripts/system-packages)."
            )
        config = self.config()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hosts_dir.mkdir(parents=True, exist_ok=True)
        self._copy_loaders()
        self._end_leftover()
        ipxe.compact_hosts(self.hosts_dir)
        self.conf_path.write_text(config)
        self.pid_path.unlink(missing_ok=True)
        return self.log_path.open("ab")

    async def start(self) -> None:
        log = await asyncio.to_thread(self.prepare)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary, f"--conf-file={self.conf_path}", stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=children.die_with_parent(),
            )
        finally:
            log.close()
        await self._wait_ready()

    def _pid_written(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    async def _wait_ready(self) -> None:
        """Ready once it wrote its PID file: it binds its sockets before that."""
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                code, self.proc = self.proc.returncode, None
                raise DhcpError(
                    f"dnsmasq exited with status {code} at start; the end of "
                    f"{self.log_path}:\n{self.log_tail()}"
                )
            if self._pid_written() == self.proc.pid:
                return
            await asyncio.sleep(0.02)
        await self.stop()
        raise DhcpError(f"dnsmasq did not start in {self.start_timeout:g} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        await children.end(proc, timeout)
        self.pid_path.unlink(missing_ok=True)
