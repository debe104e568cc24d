"""The loopback lab's "OS" on its serial port: a login prompt and a small command interpreter.

A loopback machine runs in the shard's process on the host, so its serial
login must never be a shell: this interpreter knows a few commands and
answers them from the machine's own data (its hostname, MACs, hardware,
boot time), nothing of the host.  It does what a terminal in cooked mode
does for a serial console: echoes, erases with Backspace, ends a line on
Enter (CR or LF), Ctrl-C drops the line, Ctrl-D or ``exit`` logs out.
Any user name logs in (no password: the console is the machine's, and
whoever has the BMC's credentials has it, as on real hardware).  A netns
machine gets a real shell in its namespace instead (nsboot.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from barecloud.lab.machine import Machine
from barecloud.lab.serial import SerialPort

MAX_LINE = 1024


class LoginConsole:
    """Bound to a machine's serial port while its disk's "OS" runs."""

    def __init__(self, machine: Machine, port: SerialPort, hostname: str) -> None:
        self.machine = machine
        self.port = port
        self.hostname = hostname
        self.booted_at = time.monotonic()
        self.user = ""  # "": at the login prompt
        self.line = bytearray()
        self.commands: dict[str, Callable[[list[str]], str]] = {
            "help": self._help, "hostname": lambda args: self.hostname,
            "uptime": self._uptime, "ip": self._ip, "echo": lambda args: " ".join(args),
            "uname": self._uname, "whoami": lambda args: self.user, "nproc": self._nproc,
            "free": self._free, "date": lambda args: time.strftime("%a %b %d %H:%M:%S UTC %Y",
                                                                   time.gmtime()),
        }  # fmt: skip

    def start(self) -> None:
        self.port.bind(self.typed)
        self._print(f"\r\n{self.hostname} login: ")

    def stop(self) -> None:
        if self.port.input == self.typed:
            self.port.bind(None)

    # --- the terminal

    def typed(self, data: bytes) -> None:
        for byte in data:
            if byte in (0x0D, 0x0A):
                if byte == 0x0A and self._after_cr:
                    self._after_cr = False
                    continue  # CR LF is one Enter
                self._after_cr = byte == 0x0D
                self._print("\r\n")
                line, self.line = self.line.decode(errors="replace"), bytearray()
                self._enter(line)
                continue
            self._after_cr = False
            if byte in (0x7F, 0x08):
                if self.line:
                    del self.line[-1]
                    self._print("\b \b")
            elif byte == 0x03:
                self.line.clear()
                self._print("^C\r\n")
                self._prompt()
            elif byte == 0x04 and not self.line and self.user:
                self._print("logout\r\n")
                self._logout()
            elif 0x20 <= byte < 0x7F and len(self.line) < MAX_LINE:
                self.line.append(byte)
                self.port.show(bytes((byte,)))

    _after_cr = False

    def _print(self, text: str) -> None:
        self.port.show(text.encode())

    def _prompt(self) -> None:
        if self.user:
            self._print(f"{self.user}@{self.hostname}:~$ ")
        else:
            self._print(f"{self.hostname} login: ")

    def _logout(self) -> None:
        self.user = ""
        self._print(f"\r\n{self.hostname} login: ")

    def _enter(self, line: str) -> None:
        words = line.split()
        if not self.user:
            if words:
                self.user = words[0]
                self._print(f"Welcome to {self.hostname} (barecloud loopback lab machine "
                            f"{self.machine.name}).\r\nThis console has a few commands, not a "
                            "shell: type help.\r\n")
            self._prompt()
            return
        if not words:
            self._prompt()
            return
        if words[0] in ("exit", "logout"):
            self._logout()
            return
        command = self.commands.get(words[0])
        if command is None:
            self._print(f"{words[0]}: command not found\r\n")
        else:
            answer = command(words[1:])
            if answer:
                self._print(answer.replace("\n", "\r\n") + "\r\n")
        self._prompt()

    # --- the commands

    def _help(self, args: list[str]) -> str:
        return "commands: " + " ".join(sorted([*self.commands, "exit"]))

    def _uptime(self, args: list[str]) -> str:
        up = int(time.monotonic() - self.booted_at)
        return f"up {up // 3600}:{up // 60 % 60:02d}:{up % 60:02d}, 1 user"

    def _uname(self, args: list[str]) -> str:
        if "-a" in args:
            return f"Linux {self.hostname} barecloud-lab {self.machine.profile.cpu_arch} GNU/Linux"
        return "Linux"

    def _nproc(self, args: list[str]) -> str:
        return str(self.machine.profile.cpus)

    def _free(self, args: list[str]) -> str:
        mib = self.machine.profile.memory_mb
        return f"{'':8}{'total':>12}\nMem:    {mib:>12}"

    def _ip(self, args: list[str]) -> str:
        lines = ["1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536",
                 "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"]
        for i, mac in enumerate(self.machine.macs):
            lines += [f"{i + 2}: eth{i}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500",
                      f"    link/ether {mac} brd ff:ff:ff:ff:ff:ff"]
        return "\n".join(lines)
