"""What ``serve``, ``api`` and ``conductor`` run: the process, its lab, its logging.

The command line (``cli/``) parses the options and prints; what it is told
to print once the service answers comes back as a :class:`Serving`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from barecloud.config import Settings
from barecloud.services.context import Runtime
from barecloud.startup import lab_service, processes
from barecloud.startup.guards import Refused, alone_on, require_scale_out
from barecloud.startup.identity import clouds_yaml_path


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Serving:
    """The all-in-one service answers: where, and what ``serve --lab`` made."""

    settings: Settings  # as it runs (--netns moves it to the provisioning address)
    clouds_yaml: Path  # absolute: to paste in any directory
    cloud: str  # the cloud to try first
    lab: dict[str, Any] | None  # what ``lab up`` reported, and the demo content created


def serve(settings: Settings, lab: int, netns: bool, rate: str | None,
          on_ready: Callable[[Serving], None], hypervisors: int = 0,
          switch: str | None = None) -> None:
    """The all-in-one service, with a lab of ``lab`` machines if asked (``hypervisors``
    of them deployed as hypervisors, in a netns lab)."""
    configure_logging()
    # Before the lab, the migrations, anything: a second service on the file is
    # refused untouched (and its exit must not stop the first one's lab).
    with alone_on(settings, "barecloud serve"):
        _serve(settings, lab, netns, rate, on_ready, hypervisors, switch)


def _serve(settings: Settings, lab: int, netns: bool, rate: str | None,
           on_ready: Callable[[Serving], None], hypervisors: int,
           switch: str | None = None) -> None:
    if lab and (conflict := lab_service.mode_conflict(settings, lab, netns)):
        raise Refused(conflict)
    if netns:
        settings = lab_service.wire_netns(settings, lab, rate, switch)

    async def ready(rt: Runtime) -> None:
        info = await lab_service.start(rt, settings, lab, netns=netns,
                                       hypervisors=hypervisors) if lab else None
        on_ready(Serving(
            settings=settings, clouds_yaml=clouds_yaml_path(settings).absolute(),
            cloud="barecloud-admin" if settings.auth_strategy == "keystone" else "barecloud",
            lab=info))

    try:
        asyncio.run(processes.run_all_in_one(
            settings, ready, lab_service.plug_provisioning if netns else None))
    finally:
        if lab:
            lab_service.stop(settings, netns)


def api(settings: Settings) -> None:
    """Only the HTTP APIs (scale-out: conductors run separately over PostgreSQL)."""
    require_scale_out(settings, "api")
    configure_logging()
    asyncio.run(processes.run_api(settings))


def conductor(settings: Settings) -> None:
    """Only the conductor: workflows and reconcilers for its share of the nodes."""
    require_scale_out(settings, "conductor")
    configure_logging()
    asyncio.run(processes.run_conductor(settings))
