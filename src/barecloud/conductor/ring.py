"""Consistent hashing of nodes onto live conductors.

Adding or losing a conductor moves only about 1/N of the nodes, so a
scale-out deployment does not reshuffle every machine when one process dies.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


class HashRing:
    REPLICAS = 64

    def __init__(self, hosts: Iterable[str]) -> None:
        self.hosts = sorted(set(hosts))
        points: list[tuple[int, str]] = []
        for host in self.hosts:
            for i in range(self.REPLICAS):
                points.append((self._hash(f"{host}-{i}"), host))
        points.sort()
        self._keys = [p[0] for p in points]
        self._hosts = [p[1] for p in points]

    @staticmethod
    def _hash(value: str) -> int:
        return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")

    def host_for(self, key: str) -> str | None:
        if not self._keys:
            return None
        idx = bisect.bisect(self._keys, self._hash(key)) % len(self._keys)
        return self._hosts[idx]

    @classmethod
    def by_group(cls, members: Iterable[tuple[str, str]]) -> dict[str, HashRing]:
        """One ring per conductor group of ``members`` ((host, group) pairs): a node
        goes to a conductor of its own group."""
        groups: dict[str, list[str]] = {}
        for host, group in members:
            groups.setdefault(group, []).append(host)
        return {g: cls(hosts) for g, hosts in groups.items()}
