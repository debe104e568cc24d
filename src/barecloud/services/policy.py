"""Who may do what: every rule as data, in oslo.policy's syntax, in one place.

A rule is a boolean expression (``and``, ``or``, ``not``, parentheses) of
checks:

- ``role:NAME``: the token carries that role (implied roles are expanded:
  admin ⊃ member ⊃ reader);
- ``system_scope:all``: a system-scoped token;
- ``rule:NAME``: another rule;
- ``project_id:%(key)s``, ``user_id:%(key)s``, ``domain_id:%(key)s``: the
  token's project, user or domain equals ``target[key]`` (never when either
  is missing, so a node without an owner belongs to nobody);
- ``@`` always, ``!`` never.

The defaults follow the "secure RBAC" personas of Ironic, Nova, Glance and
Keystone: admin may do everything (a project admin is the cloud admin); a
system reader reads everything; a project member reads and writes its
project's things; a project reader only reads them.  An unknown rule falls
back to ``default`` (admin only), as oslo.policy does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from barecloud.errors import Forbidden
from barecloud.services.context import RequestContext

log = logging.getLogger(__name__)

Target = Mapping[str, Any]
Check = Callable[[RequestContext, Target], bool]

_ADMIN = "rule:admin"
_READ_ALL = "rule:admin or rule:system_reader"
# Ironic: the node's owner's members, the system's members and admins.
_NODE_OWNER_MEMBER = "rule:admin or rule:system_member or (role:member and rule:node_owner)"
_NODE_READER = "rule:admin or rule:system_reader or (role:reader and rule:node_owner_or_lessee)"
_PROJECT_READER = "rule:admin or rule:system_reader or (role:reader and project_id:%(project_id)s)"
_PROJECT_MEMBER = "rule:admin or (role:member and project_id:%(project_id)s)"
_OWN_USER = "rule:admin or user_id:%(user_id)s"
_IMAGE_OWNER_MEMBER = "rule:admin or (role:member and project_id:%(owner)s)"
# Neutron's ADMIN_OR_NET_OWNER_MEMBER: the owner of the network a subnet or port is on.
_NET_OWNER_MEMBER = "rule:admin or (role:member and project_id:%(network.project_id)s)"

RULES: dict[str, str] = {
    # --- building blocks ---------------------------------------------------
    "default": _ADMIN,
    "admin": "role:admin",
    "system_reader": "role:reader and system_scope:all",
    "system_member": "role:member and system_scope:all",
    "node_owner": "project_id:%(node.owner)s",
    "node_owner_or_lessee": "project_id:%(node.owner)s or project_id:%(node.lessee)s",

    # --- Identity (Keystone) -----------------------------------------------
    "identity:validate_token": "rule:admin or rule:system_reader or user_id:%(token.user_id)s",
    "identity:revoke_token": "rule:admin or user_id:%(token.user_id)s",
    "identity:get_auth_catalog": "@",
    "identity:get_auth_projects": "@",
    "identity:get_auth_domains": "@",
    "identity:get_auth_system": "@",
    "identity:get_domain": f"{_READ_ALL} or domain_id:%(domain_id)s or "
                           "project_id:%(project_in_domain)s",
    "identity:list_domains": _READ_ALL,
    "identity:create_domain": _ADMIN,
    "identity:update_domain": _ADMIN,
    "identity:delete_domain": _ADMIN,
    # Others list the projects they have a role on (Keystone answers 403).
    "identity:list_projects": _READ_ALL,
    "identity:get_project": f"{_READ_ALL} or project_id:%(project_id)s",
    "identity:create_project": _ADMIN,
    "identity:update_project": _ADMIN,
    "identity:delete_project": _ADMIN,
    "identity:list_project_tags": f"{_READ_ALL} or project_id:%(project_id)s",
    "identity:get_project_tag": f"{_READ_ALL} or project_id:%(project_id)s",
    "identity:update_project_tags": _ADMIN,
    "identity:create_project_tag": _ADMIN,
    "identity:delete_project_tags": _ADMIN,
    "identity:delete_project_tag": _ADMIN,
    "identity:list_users": _READ_ALL,
    "identity:get_user": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:create_user": _ADMIN,
    "identity:update_user": _ADMIN,
    "identity:delete_user": _ADMIN,
    # Keystone enforces no rule: the original password is the proof.
    "identity:change_password": "@",
    "identity:list_user_projects": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:get_group": _READ_ALL,
    "identity:list_groups": _READ_ALL,
    "identity:list_groups_for_user": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:create_group": _ADMIN,
    "identity:update_group": _ADMIN,
    "identity:delete_group": _ADMIN,
    "identity:list_users_in_group": _READ_ALL,
    "identity:check_user_in_group": _READ_ALL,
    "identity:add_user_to_group": _ADMIN,
    "identity:remove_user_from_group": _ADMIN,
    "identity:list_roles": _READ_ALL,
    "identity:get_role": _READ_ALL,
    "identity:create_role": _ADMIN,
    "identity:update_role": _ADMIN,
    "identity:delete_role": _ADMIN,
    "identity:list_implied_roles": _READ_ALL,
    "identity:get_implied_role": _READ_ALL,
    "identity:check_implied_role": _READ_ALL,
    "identity:create_implied_role": _ADMIN,
    "identity:delete_implied_role": _ADMIN,
    "identity:list_role_assignments": _READ_ALL,
    "identity:check_grant": _READ_ALL,
    "identity:list_grants": _READ_ALL,
    "identity:create_grant": _ADMIN,
    "identity:revoke_grant": _ADMIN,
    "identity:create_application_credential": "user_id:%(user_id)s",
    "identity:get_application_credential": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:list_application_credentials": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:delete_application_credential": _OWN_USER,
    "identity:create_credential": _OWN_USER,
    "identity:get_credential": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:list_credentials": _READ_ALL,  # others list their own
    "identity:update_credential": _OWN_USER,
    "identity:delete_credential": _OWN_USER,
    "identity:ec2_create_credential": _OWN_USER,
    "identity:ec2_list_credentials": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:ec2_get_credential": f"{_READ_ALL} or user_id:%(user_id)s",
    "identity:ec2_delete_credential": _OWN_USER,
    "identity:get_policy": _READ_ALL,
    "identity:list_policies": _READ_ALL,
    "identity:create_policy": _ADMIN,
    "identity:update_policy": _ADMIN,
    "identity:delete_policy": _ADMIN,
    "identity:create_domain_config": _ADMIN,
    "identity:get_domain_config": _READ_ALL,
    "identity:get_domain_config_default": _READ_ALL,
    "identity:update_domain_config": _ADMIN,
    "identity:delete_domain_config": _ADMIN,
    "identity:create_endpoint_group": _ADMIN,
    "identity:list_endpoint_groups": _READ_ALL,
    "identity:get_endpoint_group": _READ_ALL,
    "identity:update_endpoint_group": _ADMIN,
    "identity:delete_endpoint_group": _ADMIN,
    "identity:add_endpoint_group_to_project": _ADMIN,
    "identity:list_projects_associated_with_endpoint_group": _READ_ALL,
    "identity:list_endpoint_groups_for_project": _READ_ALL,
    "identity:get_endpoint_group_in_project": _READ_ALL,
    "identity:remove_endpoint_group_from_project": _ADMIN,
    "identity:create_consumer": _ADMIN,
    "identity:get_consumer": _ADMIN,
    "identity:list_consumers": _ADMIN,
    "identity:update_consumer": _ADMIN,
    "identity:delete_consumer": _ADMIN,
    "identity:list_services": "role:reader",
    "identity:get_service": "role:reader",
    "identity:list_endpoints": "role:reader",
    "identity:get_endpoint": "role:reader",
    "identity:list_regions": "@",
    "identity:get_region": "@",
    "identity:create_region": _ADMIN,
    "identity:update_region": _ADMIN,
    "identity:delete_region": _ADMIN,
    "identity:create_service": _ADMIN,
    "identity:update_service": _ADMIN,
    "identity:delete_service": _ADMIN,
    "identity:create_endpoint": _ADMIN,
    "identity:update_endpoint": _ADMIN,
    "identity:delete_endpoint": _ADMIN,

    # --- Bare Metal (Ironic) -----------------------------------------------
    "baremetal:node:list_all": _READ_ALL,
    # Project readers list only nodes their project owns or leases (in SQL).
    "baremetal:node:list": "role:reader",
    "baremetal:node:get": _NODE_READER,
    "baremetal:node:get_states": _NODE_READER,
    "baremetal:node:history:get": _NODE_READER,
    "baremetal:node:traits:list": _NODE_READER,
    "baremetal:node:create": _ADMIN,
    "baremetal:node:update": _ADMIN,
    "baremetal:node:delete": _ADMIN,
    "baremetal:node:traits:set": _ADMIN,
    "baremetal:node:traits:delete": _ADMIN,
    "baremetal:node:set_power_state": _NODE_OWNER_MEMBER,
    "baremetal:node:get_console": _NODE_OWNER_MEMBER,  # its URL opens the console
    "baremetal:node:set_console_state": _NODE_OWNER_MEMBER,
    "baremetal:node:set_provision_state": _NODE_OWNER_MEMBER,
    "baremetal:node:set_maintenance": _NODE_OWNER_MEMBER,
    "baremetal:node:clear_maintenance": _NODE_OWNER_MEMBER,
    "baremetal:node:validate": _NODE_OWNER_MEMBER,
    "baremetal:node:get_boot_device": _NODE_OWNER_MEMBER,
    "baremetal:node:bios:get": _NODE_READER,
    "baremetal:node:firmware:get": _NODE_READER,
    "baremetal:node:inventory:get": _NODE_READER,
    "baremetal:node:set_raid_state": _NODE_OWNER_MEMBER,
    "baremetal:node:vmedia:attach": _NODE_OWNER_MEMBER,
    "baremetal:node:vmedia:detach": _NODE_OWNER_MEMBER,
    "baremetal:shards:get": _READ_ALL,
    "baremetal:node:set_boot_device": _NODE_OWNER_MEMBER,
    # Ironic: readers of the owner or lessee list; the owner's members (and
    # admins, which covers the lessee's admin) attach and detach.
    "baremetal:node:vif:list": _NODE_READER,
    "baremetal:node:vif:attach": _NODE_OWNER_MEMBER,
    "baremetal:node:vif:detach": _NODE_OWNER_MEMBER,
    "baremetal:port:list_all": _READ_ALL,
    "baremetal:port:list": "role:reader",
    "baremetal:port:get": _NODE_READER,
    "baremetal:port:create": _ADMIN,
    "baremetal:port:update": _ADMIN,
    "baremetal:port:delete": _ADMIN,
    "baremetal:portgroup:list_all": _READ_ALL,
    "baremetal:portgroup:list": "role:reader",
    "baremetal:portgroup:get": _NODE_READER,
    "baremetal:portgroup:create": _ADMIN,
    "baremetal:portgroup:update": _ADMIN,
    "baremetal:portgroup:delete": _ADMIN,
    # Volume connectors and targets follow their node, as ports do.
    "baremetal:volume:list_all": _READ_ALL,
    "baremetal:volume:list": "role:reader",
    "baremetal:volume:get": _NODE_READER,
    "baremetal:volume:create": _ADMIN,
    "baremetal:volume:update": _ADMIN,
    "baremetal:volume:delete": _ADMIN,
    "baremetal:allocation:list_all": _READ_ALL,
    "baremetal:allocation:list": "role:reader",
    "baremetal:allocation:get": f"{_NODE_READER} or (role:reader and rule:allocation_owner)",
    # A project member allocates among the nodes its project owns or leases.
    "baremetal:allocation:create": "rule:admin or rule:system_member or "
                                   "(role:member and rule:allocation_owner)",
    "baremetal:allocation:update": "rule:admin or rule:system_member or "
                                   "(role:member and rule:allocation_owner)",
    "baremetal:allocation:delete": "rule:admin or rule:system_member or "
                                   "(role:member and rule:allocation_owner)",
    "allocation_owner": "project_id:%(allocation.owner)s",
    "baremetal:driver:get": "role:reader",
    "baremetal:driver:get_raid_logical_disk_properties": "role:reader",
    # Ironic's secure RBAC: chassis are the system's, not a project's.
    "baremetal:chassis:get": _READ_ALL,
    "baremetal:chassis:create": _ADMIN,
    "baremetal:chassis:update": _ADMIN,
    "baremetal:chassis:delete": _ADMIN,
    "baremetal:deploy_template:get": _READ_ALL,
    "baremetal:deploy_template:create": _ADMIN,
    "baremetal:deploy_template:update": _ADMIN,
    "baremetal:deploy_template:delete": _ADMIN,
    "baremetal:conductor:get": _READ_ALL,
    # Runbooks (1.92): admins write them; a project reads its own (``owner``)
    # and public ones (services/baremetal/runbooks.py), and its members run
    # its own on its nodes.
    "baremetal:runbook:list_all": _READ_ALL,
    "baremetal:runbook:list": "role:reader",
    "baremetal:runbook:get": f"{_READ_ALL} or (role:reader and rule:runbook_owner)",
    "baremetal:runbook:create": _ADMIN,
    "baremetal:runbook:update": _ADMIN,
    "baremetal:runbook:delete": _ADMIN,
    "baremetal:runbook:use": f"{_ADMIN} or rule:system_member or "
                             "(role:member and rule:runbook_owner)",
    "runbook_owner": "project_id:%(runbook.owner)s",

    # --- Image (Glance) ----------------------------------------------------
    "image:get_all": _READ_ALL,  # every image, whoever owns it
    "image:get_image": "role:reader",  # those visible() lets through
    "image:add_image": _IMAGE_OWNER_MEMBER,
    "image:modify_image": _IMAGE_OWNER_MEMBER,
    "image:upload_image": _IMAGE_OWNER_MEMBER,
    "image:delete_image": _IMAGE_OWNER_MEMBER,
    "image:publicize_image": _ADMIN,
    "image:set_image_owner": _ADMIN,
    "image:add_member": _IMAGE_OWNER_MEMBER,
    "image:delete_member": _IMAGE_OWNER_MEMBER,
    "image:get_members_all": f"{_READ_ALL} or project_id:%(owner)s",  # else only one's own
    "image:modify_member": "rule:admin or (role:member and project_id:%(member_id)s)",
    "image:deactivate": _IMAGE_OWNER_MEMBER,
    "image:reactivate": _IMAGE_OWNER_MEMBER,
    "image:download_deactivated": _ADMIN,  # Glance: context.is_admin
    "image:import_image": _IMAGE_OWNER_MEMBER,
    # Glance's location rules: seen by the owner's readers, set by its members,
    # removed by admins (get_/set_/delete_image_location).
    "image:get_image_location": "rule:admin or (role:reader and project_id:%(owner)s)",
    "image:set_image_location": _IMAGE_OWNER_MEMBER,
    "image:delete_image_location": _ADMIN,
    "image:add_image_location": "role:service or " + _IMAGE_OWNER_MEMBER,  # 2.17's API
    "image:fetch_image_location": "role:service",
    "image:manage_image_cache": _ADMIN,  # Glance's cache_image/cache_list/cache_delete
    "image:tasks_api_access": _ADMIN,  # Glance's default: the tasks API is an admin's
    # Metadata definitions: anyone reads the public ones and its project's;
    # Glance's default writes them as an admin only.
    "image:get_metadef": "role:reader",
    "image:modify_metadef": _ADMIN,

    # --- Compute (Nova) ----------------------------------------------------
    # Targets: servers and quotas {"project_id"}, keypairs {"user_id"}.
    "compute:servers:list": "role:reader",  # one's own project's, filtered in SQL
    "compute:servers:list_all": _READ_ALL,  # all_tenants=1
    "compute:servers:show": _PROJECT_READER,
    "compute:servers:create": _PROJECT_MEMBER,
    "compute:servers:create:requested_destination": _ADMIN,  # host / hypervisor_hostname
    "compute:servers:update": _PROJECT_MEMBER,
    "compute:servers:delete": _PROJECT_MEMBER,
    "compute:servers:action": _PROJECT_MEMBER,  # reboot, start, stop, rebuild...
    "compute:servers:lock": _PROJECT_MEMBER,  # lock and unlock
    "compute:servers:unlock_override": _ADMIN,  # unlock another kind's lock
    "compute:context_is_admin": _ADMIN,  # Nova's context.is_admin: locks do not hold
    # Nova's os_compute_api:os-remote-consoles: a console URL is a way in.
    "compute:servers:remote_console": _PROJECT_MEMBER,
    "compute:servers:show:host_details": _ADMIN,  # OS-EXT-SRV-ATTR:*
    "compute:servers:security_groups:list": _PROJECT_READER,  # os-security-groups:list
    "compute:servers:diagnostics": _ADMIN,
    "compute:migrations:list": _ADMIN,  # os-migrations, as Nova's
    # os-server-external-events: the other services (Keystone's service role), as Nova's.
    "compute:external_events:create": "rule:admin or role:service",
    "compute:servers:reset_state": _ADMIN,  # os-resetState, injectNetworkInfo (Nova's)
    "compute:keypairs:list": f"{_READ_ALL} or (role:reader and user_id:%(user_id)s)",
    "compute:keypairs:show": f"{_READ_ALL} or (role:reader and user_id:%(user_id)s)",
    "compute:keypairs:create": "rule:admin or (role:member and user_id:%(user_id)s)",
    "compute:keypairs:delete": "rule:admin or (role:member and user_id:%(user_id)s)",
    # Server groups, as Nova's os_compute_api:os-server-groups (all_projects: admins).
    "compute:server_groups:list": "role:reader",
    "compute:server_groups:list_all": _READ_ALL,
    "compute:server_groups:show": _PROJECT_READER,
    "compute:server_groups:create": "role:member",
    "compute:server_groups:delete": _PROJECT_MEMBER,
    "compute:services:list": _ADMIN,  # os-services and os-hosts, as Nova's
    "compute:usage_audit_log": _ADMIN,  # os-instance-usage-audit-log
    "compute:usage:list": _READ_ALL,  # os-simple-tenant-usage, every project's
    "compute:usage:show": _PROJECT_READER,
    "compute:quotas:show": _PROJECT_READER,
    "compute:quota_classes:show": _READ_ALL,  # as Nova's os-quota-class-sets
    "compute:quota_classes:update": _ADMIN,
    "compute:quotas:update": _ADMIN,
    "compute:quotas:delete": _ADMIN,
    "compute:limits:show": "role:reader",
    "compute:flavors:list": "@",
    "compute:extensions": "@",  # Nova's fixed /extensions listing
    "compute:flavors:show": "@",
    "compute:flavors:create": _ADMIN,
    "compute:flavors:update": _ADMIN,
    "compute:flavors:delete": _ADMIN,
    "compute:flavors:access": _ADMIN,
    "compute:flavors:extra_specs:show": "@",
    "compute:flavors:extra_specs:update": _ADMIN,
    "compute:hypervisors:list": _READ_ALL,
    "compute:hypervisors:show": _READ_ALL,
    # barecloud's hypervisor hosts (enrol, drain, remove; docs/design/vms.md).
    "compute:hypervisors:create": _ADMIN,
    **{f"compute:aggregates:{verb}": _ADMIN for verb in (  # an admin's aggregates, Nova's
        "list", "show", "create", "update", "delete", "add_host", "remove_host",
        "set_metadata")},
    # A project turns the machines its active lease holds into its own hypervisors.
    "compute:hypervisors:create_on_leased": "rule:admin or (role:member and "
                                            "project_id:%(project_id)s)",
    # ... and sees those (barecloud's /barecloud-hypervisors only; os-hypervisors
    # stays the operator's, as in Nova): its members watch them come up.
    "compute:hypervisors:show_owned": _PROJECT_READER,
    "compute:hypervisors:update": _ADMIN,
    "compute:hypervisors:delete": _ADMIN,
    "compute:availability_zones:list": "role:reader",
    "compute:availability_zones:detail": _READ_ALL,

    # --- Network (Neutron) -------------------------------------------------
    # Targets {"project_id"} (the resource's) and {"network.project_id"} (its
    # network's owner).  Who sees which network, subnet and port is SQL
    # (services/network/common.py); "list_all" lets a caller see them all.
    # --- Reservation (Blazar) ---------------------------------------------
    "blazar:leases:get": _PROJECT_READER,
    "blazar:leases:list_all": _READ_ALL,
    "blazar:leases:post": _PROJECT_MEMBER,
    "blazar:leases:put": _PROJECT_MEMBER,
    "blazar:leases:delete": _PROJECT_MEMBER,
    "blazar:oshosts:get": _READ_ALL,
    "blazar:oshosts:post": _ADMIN,
    "blazar:oshosts:put": _ADMIN,
    "blazar:oshosts:delete": _ADMIN,
    "blazar:calendar:get": "role:reader",

    "network:context_is_admin": _ADMIN,
    "network:list_all": _READ_ALL,
    # barecloud's own: switch traffic names every tenant, so operators only.
    "network:get_top_talkers": _READ_ALL,
    "network:get_network": "role:reader",
    "network:create_network": _PROJECT_MEMBER,
    "network:create_network:shared": _ADMIN,
    "network:create_network:router:external": _ADMIN,
    "network:create_network:provider:network_type": _ADMIN,
    "network:create_network:provider:physical_network": _ADMIN,
    "network:create_network:provider:segmentation_id": _ADMIN,
    "network:update_network": _PROJECT_MEMBER,
    "network:update_network:shared": _ADMIN,
    "network:update_network:router:external": _ADMIN,
    "network:update_network:provider:network_type": _ADMIN,
    "network:update_network:provider:physical_network": _ADMIN,
    "network:update_network:provider:segmentation_id": _ADMIN,
    "network:delete_network": _PROJECT_MEMBER,
    "network:get_network:provider": _ADMIN,  # provider:* are shown to admins only
    "network:get_subnet": "role:reader",
    "network:create_subnet": _NET_OWNER_MEMBER,
    "network:update_subnet": _NET_OWNER_MEMBER,
    "network:delete_subnet": _NET_OWNER_MEMBER,
    "network:get_port": "role:reader",
    "network:get_agent": _ADMIN,  # agents.py: others list none
    "network:get_port:binding": _ADMIN,  # binding:host_id, profile, vif_type, vif_details
    "network:create_port": f"{_PROJECT_MEMBER} or (role:member and "
                           "project_id:%(network.project_id)s)",
    "network:create_port:mac_address": _NET_OWNER_MEMBER,
    "network:create_port:fixed_ips:ip_address": _NET_OWNER_MEMBER,
    "network:create_port:port_security_enabled": _NET_OWNER_MEMBER,
    "network:create_port:binding:host_id": _ADMIN,
    "network:create_port:binding:profile": _ADMIN,
    "network:update_port": f"{_PROJECT_MEMBER} or (role:member and "
                           "project_id:%(network.project_id)s)",
    "network:update_port:mac_address": _ADMIN,
    "network:update_port:fixed_ips:ip_address": _NET_OWNER_MEMBER,
    "network:update_port:port_security_enabled": _NET_OWNER_MEMBER,
    "network:update_port:binding:host_id": _ADMIN,
    "network:update_port:binding:profile": _ADMIN,
    "network:update_port:binding:vnic_type": _PROJECT_MEMBER,
    "network:delete_port": f"{_PROJECT_MEMBER} or (role:member and "
                           "project_id:%(network.project_id)s)",
    # Routers and floating IPs (Neutron's l3 policies): a project's own; the
    # gateway's SNAT switch and chosen addresses are the operator's.
    "network:get_router": _PROJECT_READER,
    "network:create_router": _PROJECT_MEMBER,
    "network:create_router:external_gateway_info": _PROJECT_MEMBER,
    "network:create_router:external_gateway_info:network_id": _PROJECT_MEMBER,
    "network:create_router:external_gateway_info:enable_snat": _ADMIN,
    "network:create_router:external_gateway_info:external_fixed_ips": _ADMIN,
    "network:update_router": _PROJECT_MEMBER,
    "network:update_router:external_gateway_info": _PROJECT_MEMBER,
    "network:update_router:external_gateway_info:network_id": _PROJECT_MEMBER,
    "network:update_router:external_gateway_info:enable_snat": _ADMIN,
    "network:update_router:external_gateway_info:external_fixed_ips": _ADMIN,
    "network:delete_router": _PROJECT_MEMBER,
    "network:add_router_interface": _PROJECT_MEMBER,
    "network:remove_router_interface": _PROJECT_MEMBER,
    "network:get_floatingip": _PROJECT_READER,
    "network:create_floatingip": _PROJECT_MEMBER,
    "network:create_floatingip:floating_ip_address": _ADMIN,
    "network:update_floatingip": _PROJECT_MEMBER,
    "network:delete_floatingip": _PROJECT_MEMBER,
    "network:get_quota": _PROJECT_READER,
    "network:get_quotas": _READ_ALL,
    "network:update_quota": _ADMIN,
    "network:delete_quota": _ADMIN,
    "network:get_rbac_policy": "role:reader",  # one's own project's, filtered in SQL
    "network:create_rbac_policy": _PROJECT_MEMBER,
    "network:create_rbac_policy:target_tenant": _ADMIN,  # sharing with "*"
    "network:update_rbac_policy": _PROJECT_MEMBER,
    "network:delete_rbac_policy": _PROJECT_MEMBER,
    # Security groups: a project's own (and the operator's shared profiles, to read).
    "network:get_security_group": "role:reader",
    "network:create_security_group": _PROJECT_MEMBER,
    "network:update_security_group": _PROJECT_MEMBER,
    "network:delete_security_group": _PROJECT_MEMBER,
    "network:get_security_group_rule": "role:reader",
    "network:create_security_group_rule": _PROJECT_MEMBER,
    "network:update_security_group_rule": _PROJECT_MEMBER,
    "network:delete_security_group_rule": _PROJECT_MEMBER,
}

# How each service words a refusal (its clients show the message as it is).
_MESSAGES = {
    "identity": "You are not authorized to perform the requested action: {rule}.",
    "baremetal": "{rule} is disallowed by policy",
    "image": "You are not authorized to complete {action} action.",
    "compute": "Policy doesn't allow {rule} to be performed.",
    "network": "rule:{action} is disallowed by policy",
    "blazar": "Policy doesn't allow {rule} to be performed.",
}


# --- the expression language --------------------------------------------
# Words (whose %(key)s substitutions hold parentheses) and parentheses.
_TOKEN_RE = re.compile(r"(?:[^\s()%]|%\([^)]*\)s)+|\(|\)")
_SUBST_RE = re.compile(r"^%\((.+)\)s$")
_CREDENTIALS: dict[str, Callable[[RequestContext], str | None]] = {
    "project_id": lambda c: c.project,
    "user_id": lambda c: c.user,
    "domain_id": lambda c: c.domain,
}


class PolicySyntaxError(ValueError):
    pass


def _check(word: str) -> Check:
    if word == "@":
        return lambda ctx, target: True
    if word == "!":
        return lambda ctx, target: False
    kind, sep, match = word.partition(":")
    if not sep or not match:
        raise PolicySyntaxError(f"not a check: {word!r}")
    if kind == "rule":
        return lambda ctx, target: _evaluate(match, ctx, target)
    if kind == "role":
        role = match.lower()
        return lambda ctx, target: role in ctx.roles
    if kind == "system_scope":
        if match != "all":
            raise PolicySyntaxError(f"system_scope is 'all' only: {word!r}")
        return lambda ctx, target: ctx.system
    credential = _CREDENTIALS.get(kind)
    subst = _SUBST_RE.match(match)
    if credential is None or subst is None:
        raise PolicySyntaxError(f"unknown check: {word!r}")
    key = subst.group(1)

    def compare(ctx: RequestContext, target: Target) -> bool:
        mine, theirs = credential(ctx), target.get(key)
        return mine is not None and theirs is not None and mine == str(theirs)

    return compare


class _Parser:
    """Recursive descent: or > and > not > (expr) | check."""

    def __init__(self, text: str) -> None:
        self.words = _TOKEN_RE.findall(text)
        self.at = 0

    def parse(self) -> Check:
        check = self._or()
        if self.at != len(self.words):
            raise PolicySyntaxError(f"unexpected {self.words[self.at]!r}")
        return check

    def _peek(self) -> str | None:
        return self.words[self.at] if self.at < len(self.words) else None

    def _take(self) -> str:
        word = self._peek()
        if word is None:
            raise PolicySyntaxError("unexpected end of rule")
        self.at += 1
        return word

    def _or(self) -> Check:
        parts = [self._and()]
        while self._peek() == "or":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (
            lambda ctx, target: any(p(ctx, target) for p in parts))

    def _and(self) -> Check:
        parts = [self._not()]
        while self._peek() == "and":
            self._take()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (
            lambda ctx, target: all(p(ctx, target) for p in parts))

    def _not(self) -> Check:
        if self._peek() == "not":
            self._take()
            inner = self._not()
            return lambda ctx, target: not inner(ctx, target)
        word = self._take()
        if word == "(":
            inner = self._or()
            if self._take() != ")":
                raise PolicySyntaxError("missing ')'")
            return inner
        if word in ("and", "or", ")"):
            raise PolicySyntaxError(f"unexpected {word!r}")
        return _check(word)


def compile_rule(text: str) -> Check:
    return _Parser(text).parse()


_COMPILED: dict[str, Check] = {name: compile_rule(text) for name, text in RULES.items()}


def _evaluate(name: str, ctx: RequestContext, target: Target) -> bool:
    check = _COMPILED.get(name)
    if check is None:
        log.warning("no policy rule %r: applying the default rule", name)
        check = _COMPILED["default"]
    return check(ctx, target)


def can(ctx: RequestContext, rule: str, target: Target | None = None) -> bool:
    """Whether ``ctx`` may do ``rule`` on ``target`` (a flat dict, e.g. {"node.owner": p})."""
    return _evaluate(rule, ctx, target or {})


def authorize(ctx: RequestContext, rule: str, target: Target | None = None) -> None:
    """Raise :class:`Forbidden` (403) unless ``ctx`` may do ``rule`` on ``target``."""
    if not can(ctx, rule, target):
        raise Forbidden(refusal(rule))


def refusal(rule: str) -> str:
    """The message the service ``rule`` belongs to answers a refusal with."""
    service, _, action = rule.partition(":")
    template = _MESSAGES.get(service, "Policy doesn't allow {rule} to be performed.")
    return template.format(rule=rule, action=action)


def node_target(owner: str | None, lessee: str | None) -> dict[str, Any]:
    return {"node.owner": owner, "node.lessee": lessee}
