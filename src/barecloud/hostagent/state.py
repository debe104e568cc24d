"""What the host agent has carried out, on disk: ``<state dir>/agent-state.json``.

Per VM the ``seq`` it applied (or failed, with the error) and what the VM
was made from (image, config drive digest, flavor: what a rebuild or a
resize is told from), and the generation of the last desired list acted on
in full.  A restarted agent reads it back, so it neither carries out a
``seq`` again nor forgets one.  Written whole to a temporary file and
renamed over the old one: a crash leaves the old state or the new, never
half of one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FILE = "agent-state.json"
VERSION = 1

log = logging.getLogger(__name__)


@dataclass
class VmRecord:
    seq: int = 0
    error: str | None = None
    image_id: str | None = None  # None: not known (a VM found running, made by whom?)
    config_digest: str | None = None
    flavor: dict[str, int] | None = None


@dataclass
class AgentState:
    applied_generation: int = 0
    vms: dict[str, VmRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path) -> AgentState:
        """The saved state; a new one when there is none.  A file that cannot be read
        is moved aside (``….corrupt-<time>``), loudly, rather than stopping the host."""
        path = state_dir / FILE
        try:
            raw = json.loads(path.read_text())
            return cls(
                applied_generation=int(raw.get("applied_generation") or 0),
                vms={str(uuid): VmRecord(**_record_fields(fields))
                     for uuid, fields in dict(raw.get("vms") or {}).items()})
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, AttributeError) as exc:
            aside = path.with_name(f"{FILE}.corrupt-{int(time.time())}")
            os.replace(path, aside)
            log.error("%s cannot be read (%s): moved to %s; starting from nothing (VMs "
                      "running on the host are kept)", path, exc, aside.name)
            return cls()

    def save(self, state_dir: Path, *, durable: bool = True) -> None:
        """Replace the file; ``durable``: on disk before this returns (an fsync, some
        milliseconds of a blocked event loop: a fleet of fake hosts goes without)."""
        path = state_dir / FILE
        temp = path.with_name(f".{FILE}.{os.getpid()}.tmp")
        data = {"version": VERSION, "applied_generation": self.applied_generation,
                "vms": {uuid: asdict(record) for uuid, record in sorted(self.vms.items())}}
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temp, path)


def _record_fields(fields: Any) -> dict[str, Any]:
    known = VmRecord.__dataclass_fields__
    return {name: value for name, value in dict(fields).items() if name in known}
