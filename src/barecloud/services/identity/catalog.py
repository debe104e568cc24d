"""The service catalog: every API of this barecloud, as Keystone lists them.

Built from ``settings.base_url`` (devstack's paths on the one port), with
ids derived from the names so they are the same in every process and across
restarts.  Each service has public, internal and admin endpoints, all the
same URL, in region ``RegionOne``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from barecloud.config import Settings

REGION = "RegionOne"
INTERFACES = ("public", "internal", "admin")
_NAMESPACE = uuid.UUID("1c3d5e8f-6b1a-4c7e-9a0d-62617265636c")


@dataclass(frozen=True)
class Service:
    type: str
    name: str
    path: str
    description: str

    @property
    def id(self) -> str:
        return uuid.uuid5(_NAMESPACE, f"service:{self.type}").hex


@dataclass(frozen=True)
class Endpoint:
    service: Service
    interface: str
    url: str

    @property
    def id(self) -> str:
        return uuid.uuid5(_NAMESPACE, f"endpoint:{self.service.type}:{self.interface}").hex


SERVICES = (
    Service("identity", "keystone", "/identity", "Identity (Keystone v3)"),
    Service("compute", "nova", "/compute/v2.1", "Compute (Nova v2.1)"),
    Service("baremetal", "ironic", "/baremetal", "Bare Metal (Ironic v1)"),
    Service("image", "glance", "/image", "Image (Glance v2)"),
    Service("network", "neutron", "/network", "Network (Neutron v2.0)"),
    Service("reservation", "blazar", "/reservation/v1", "Reservation (Blazar v1)"),
)


def endpoints(settings: Settings) -> list[Endpoint]:
    base = settings.base_url
    return [Endpoint(svc, interface, f"{base}{svc.path}")
            for svc in SERVICES for interface in INTERFACES]
