"""Nova's v2.1 ``/extensions``: a fixed listing, kept for old clients.

Nova 2.1 has no extensions any more; ``/extensions`` lists a fixed table of
the old names (nova/api/openstack/compute/extension_info.py), all dated
2014-12-03 with a fake namespace.  barecloud lists the ones whose resources
it serves.
"""

from __future__ import annotations

from typing import Any

from barecloud.errors import NotFound

_UPDATED = "2014-12-03T00:00:00Z"
_NAMESPACE = "http://docs.openstack.org/compute/ext/fake_xml"
# (alias, name, description): Nova's words.
_TABLE = (
    ("os-aggregates", "Aggregates", "Admin-only aggregate administration."),
    ("os-availability-zone", "AvailabilityZone", "1. Add availability_zone to the Create "
     "Server API.\n    2. Add availability zones describing.\n    "),
    ("os-consoles", "Consoles", "Interactive Console support."),
    ("os-console-output", "ConsoleOutput", "Console log output support, with tailing "
     "ability."),
    ("os-disk-config", "DiskConfig", "Disk Management Extension."),
    ("OS-EXT-AZ", "ExtendedAvailabilityZone", "Extended Availability Zone support."),
    ("OS-EXT-IPS", "ExtendedIps", "Adds type parameter to the ip list."),
    ("OS-EXT-IPS-MAC", "ExtendedIpsMac", "Adds mac address parameter to the ip list."),
    ("OS-EXT-SRV-ATTR", "ExtendedServerAttributes", "Extended Server Attributes support."),
    ("OS-EXT-STS", "ExtendedStatus", "Extended Status support."),
    ("os-flavor-access", "FlavorAccess", "Flavor access support."),
    ("os-flavor-extra-specs", "FlavorExtraSpecs", "Flavors extra specs support."),
    ("os-floating-ips", "FloatingIps", "Floating IPs support."),
    ("os-hosts", "Hosts", "Admin-only host administration."),
    ("os-hypervisors", "Hypervisors", "Admin-only hypervisor administration."),
    ("os-instance-actions", "InstanceActions", "View a log of actions and events taken on "
     "an instance."),
    ("os-keypairs", "Keypairs", "Keypair Support."),
    ("os-networks", "Networks", "Admin-only Network Management Extension."),
    ("os-quota-sets", "Quotas", "Quotas management support."),
    ("os-security-groups", "SecurityGroups", "Security group support."),
    ("os-server-groups", "ServerGroups", "Server group support."),
    ("os-server-tags", "ServerTags", "Server tags support."),
    ("os-services", "Services", "Services support."),
    ("os-simple-tenant-usage", "SimpleTenantUsage", "Simple tenant usage extension."),
    ("os-tenant-networks", "TenantNetworks", "Tenant-based Network Management Extension."),
)


def _shown(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description, "links": [],
            "namespace": _NAMESPACE, "updated": _UPDATED}


def listing() -> list[dict[str, Any]]:
    return [_shown(*row) for row in _TABLE]


def one(alias: str) -> dict[str, Any]:
    for row in _TABLE:
        if row[0] == alias:
            return _shown(*row)
    raise NotFound("The resource could not be found.")
