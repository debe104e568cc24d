"""Version discovery at /network, the v2.0 resource index, extensions, zones.

Only the extensions barecloud implements are listed: clients switch
features on by alias (``find_extension``), so listing one it does not
implement would make them send what it refuses.
"""

from __future__ import annotations

from fastapi import Request

from barecloud.api.common import JSONResponse, base_url, context
from barecloud.api.network import inputs, params
from barecloud.api.network.inputs import accepts
from barecloud.errors import NotFound
from barecloud.services import policy

router = inputs.router()

UPDATED = "2026-12-20T10:00:00-00:00"
# alias -> (name, description)
EXTENSIONS: dict[str, tuple[str, str]] = {
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical "
                 "networks"),
    "external-net": ("Neutron external network", "Adds external network attribute to "
                     "network resource."),
    "subnet-external-network": ("Subnet belongs to an external network", "Informs if the "
                                "subnet belongs to an external network"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external "
                "application"),
    "quotas": ("Quota management support", "Expose functions for quotas management per "
               "tenant"),
    "quota_details": ("Quota details management support", "Expose functions for quotas "
                      "usage statistics per project"),
    "rbac-policies": ("RBAC Policies", "Allows creation and modification of policies that "
                      "control tenant access to resources."),
    "project-id": ("project_id field enabled", "Extension that indicates that project_id "
                   "field is enabled."),
    "standard-attr-description": ("standard-attr-description", "Extension to add "
                                  "descriptions to standard attributes"),
    "standard-attr-timestamp": ("Resource timestamps", "Adds created_at and updated_at "
                                "fields to all Neutron resources that have Neutron standard "
                                "attributes."),
    "standard-attr-revisions": ("Resource revision numbers", "This extension will display "
                                "the revision number of neutron resources."),
    "port-security": ("Port Security", "Provides port security"),
    "security-group": ("security-group", "The security groups extension."),
    "stateful-security-group": ("Stateful security group", "Indicates if the security "
                                "group is stateful or not"),
    "rbac-security-groups": ("RBAC Security Groups", "Add security_group type to network "
                             "RBAC"),
    "security-groups-shared-filtering": ("Security group filtering on the shared field",
                                         "Support filtering security groups on the shared "
                                         "field"),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "net-mtu-writable": ("Network MTU (writable)", "Provides a writable MTU attribute for "
                         "a network resource."),
    "availability_zone": ("Availability Zone", "The availability zone extension."),
    "network_availability_zone": ("Network Availability Zone", "Availability zone support "
                                  "for network."),
    "filter-validation": ("Filter parameters validation", "Provides validation on filter "
                          "parameters."),
    "pagination": ("Pagination support", "Extension that indicates that pagination is "
                   "enabled."),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled."),
    "router": ("Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
               "Neutron networks and access to external networks via a NAT gateway."),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "Extension of the "
                    "router abstraction for specifying whether SNAT should occur on the "
                    "external gateway"),
}
COLLECTIONS = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
               ("quota", "quotas"), ("rbac_policy", "rbac-policies"),
               ("security_group", "security-groups"),
               ("security_group_rule", "security-group-rules"),
               ("router", "routers"), ("floatingip", "floatingips"),
               ("extension", "extensions"), ("availability_zone", "availability_zones"))


def _extension(alias: str) -> dict[str, object]:
    name, description = EXTENSIONS[alias]
    return {"name": name, "alias": alias, "description": description, "updated": UPDATED,
            "links": []}


@router.get("/network")
@router.get("/network/")
@accepts()
async def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": [{
        "id": "v2.0", "status": "CURRENT",
        "links": [{"rel": "self", "href": f"{base_url(request)}/network/v2.0/"}]}]})


@router.get("/network/v2.0")
@router.get("/network/v2.0/")
@accepts()
async def index(request: Request) -> JSONResponse:
    root = params.root(request)
    return JSONResponse({"resources": [
        {"name": name, "collection": collection,
         "links": [{"rel": "self", "href": f"{root}/{collection}"}]}
        for name, collection in COLLECTIONS]})


@router.get("/network/v2.0/extensions")
@accepts()
async def extensions(request: Request) -> JSONResponse:
    return JSONResponse({"extensions": [_extension(a) for a in sorted(EXTENSIONS)]})


@router.get("/network/v2.0/extensions/{alias}")
@accepts()
async def extension(alias: str, request: Request) -> JSONResponse:
    if alias not in EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist")
    return JSONResponse({"extension": _extension(alias)})


@router.get("/network/v2.0/availability_zones")
@accepts()
async def zones(request: Request) -> JSONResponse:
    policy.authorize(context(request), "network:get_network")
    return JSONResponse({"availability_zones": [
        {"name": "nova", "resource": "network", "state": "available"}]})
