"""Neutron's errors: each carries the ``type`` Neutron names it with (the class name).

The API answers them as ``{"NeutronError": {"type", "message", "detail"}}``;
clients (openstacksdk, the CLI) show the message and some match the type.
Messages are neutron-lib's wording.  Errors without a type of their own
(plain ``InvalidParameter``, ``Forbidden``) get the type of their status.
"""

from __future__ import annotations

from barecloud.errors import BarecloudError, Conflict, InvalidParameter, NotFound


class NetworkError(BarecloudError):
    """Mixed into every typed error; the API renders it with its class name as ``type``."""

    @property
    def neutron_type(self) -> str:
        return type(self).__name__


# --- 400 -------------------------------------------------------------------
class BadRequest(NetworkError, InvalidParameter):
    def __init__(self, resource: str, msg: str) -> None:
        super().__init__(f"Bad {resource} request: {msg}.")


class InvalidInput(NetworkError, InvalidParameter):
    def __init__(self, msg: str) -> None:
        super().__init__(f"Invalid input for operation: {msg}.")


class HTTPBadRequest(NetworkError, InvalidParameter):
    """What Neutron's attribute validation answers (webob's exception, by name)."""


def invalid_attr(attr: str, reason: str) -> HTTPBadRequest:
    return HTTPBadRequest(f"Invalid input for {attr}. Reason: {reason}.")


class InvalidAllocationPool(NetworkError, InvalidParameter):
    def __init__(self, pool: str) -> None:
        super().__init__(f"The allocation pool {pool} is not valid.")


class OutOfBoundsAllocationPool(NetworkError, InvalidParameter):
    def __init__(self, pool: str, cidr: str) -> None:
        super().__init__(f"The allocation pool {pool} spans beyond the subnet cidr {cidr}.")


class InvalidIpForSubnet(NetworkError, InvalidParameter):
    def __init__(self, ip: str) -> None:
        super().__init__(f"IP address {ip} is not a valid IP for the specified subnet.")


class InvalidIpForNetwork(NetworkError, InvalidParameter):
    def __init__(self, ip: str) -> None:
        super().__init__(f"IP address {ip} is not a valid IP for any of the subnets on the "
                         "specified network.")


class DNSNameServersExhausted(NetworkError, InvalidParameter):
    def __init__(self, subnet: str, quota: int) -> None:
        super().__init__(f"Unable to complete operation for {subnet}. The number of DNS "
                         f"nameservers exceeds the limit {quota}.")


class HostRoutesExhausted(NetworkError, InvalidParameter):
    def __init__(self, subnet: str, quota: int) -> None:
        super().__init__(f"Unable to complete operation for {subnet}. The number of host "
                         f"routes exceeds the limit {quota}.")


class SecurityGroupInvalidPortRange(NetworkError, InvalidParameter):
    def __init__(self) -> None:
        super().__init__("For TCP/UDP protocols, port_range_min must be <= port_range_max")


class SecurityGroupInvalidPortValue(NetworkError, InvalidParameter):
    def __init__(self, port: object) -> None:
        super().__init__(f"Invalid value for port {port}")


class SecurityGroupInvalidIcmpValue(NetworkError, InvalidParameter):
    def __init__(self, field: str, attr: str, value: object) -> None:
        super().__init__(f"Invalid value for ICMP {field} ({attr}) {value}. It must be "
                         "0 to 255.")


class SecurityGroupMissingIcmpType(NetworkError, InvalidParameter):
    def __init__(self, value: object) -> None:
        super().__init__(f"ICMP code (port-range-max) {value} is provided but ICMP type "
                         "(port-range-min) is missing.")


class SecurityGroupInvalidProtocolForPortRange(NetworkError, InvalidParameter):
    def __init__(self, protocol: object) -> None:
        super().__init__(f"Invalid protocol {protocol} for port range, only supported for "
                         "TCP, UDP, UDPLITE, SCTP and DCCP.")


class SecurityGroupRuleInvalidProtocol(NetworkError, InvalidParameter):
    def __init__(self, protocol: object, values: list[object]) -> None:
        super().__init__(f"Security group rule protocol {protocol} not supported. Only "
                         f"protocol values {values} and integer representations [0 to 255] "
                         "are supported.")


class SecurityGroupRemoteGroupAndRemoteIpPrefix(NetworkError, InvalidParameter):
    def __init__(self) -> None:
        super().__init__("Only remote_ip_prefix or remote_group_id may be provided.")


class SecurityGroupProtocolRequiredWithPorts(NetworkError, InvalidParameter):
    def __init__(self) -> None:
        super().__init__("Must also specify protocol if port range is given.")


class SecurityGroupRuleParameterConflict(NetworkError, InvalidParameter):
    def __init__(self, ethertype: str, cidr: str) -> None:
        super().__init__(f"Conflicting value ethertype {ethertype} for CIDR {cidr}")


class SecurityGroupEthertypeConflictWithProtocol(NetworkError, InvalidParameter):
    def __init__(self, ethertype: str, protocol: str) -> None:
        super().__init__(f"Invalid ethertype {ethertype} for protocol {protocol}.")


class PortSecurityAndIPRequiredForSecurityGroups(NetworkError, InvalidParameter):
    def __init__(self) -> None:
        super().__init__("Port security must be enabled and port must have an IP address "
                         "in order to use security groups.")


# --- 404 -------------------------------------------------------------------
class NetworkNotFound(NetworkError, NotFound):
    def __init__(self, net_id: str) -> None:
        super().__init__(f"Network {net_id} could not be found.")


class AgentNotFound(NetworkError, NotFound):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"Agent {agent_id} could not be found.")


class SubnetNotFound(NetworkError, NotFound):
    def __init__(self, subnet_id: str) -> None:
        super().__init__(f"Subnet {subnet_id} could not be found.")


class PortNotFound(NetworkError, NotFound):
    def __init__(self, port_id: str) -> None:
        super().__init__(f"Port {port_id} could not be found.")


class RbacPolicyNotFound(NetworkError, NotFound):
    def __init__(self, policy_id: str, object_type: str = "network") -> None:
        super().__init__(f"RBAC policy of type {object_type} with ID {policy_id} not found")


class SecurityGroupNotFound(NetworkError, NotFound):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"Security group {group_id} does not exist")


class SecurityGroupRuleNotFound(NetworkError, NotFound):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule {rule_id} does not exist")


class RouterNotFound(NetworkError, NotFound):
    def __init__(self, router_id: str) -> None:
        super().__init__(f"Router {router_id} could not be found")


class RouterInterfaceNotFound(NetworkError, NotFound):
    def __init__(self, router_id: str, port_id: str) -> None:
        super().__init__(f"Router {router_id} does not have an interface with id {port_id}")


class RouterInterfaceNotFoundForSubnet(NetworkError, NotFound):
    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router {router_id} has no interface on subnet {subnet_id}")


class FloatingIPNotFound(NetworkError, NotFound):
    def __init__(self, floatingip_id: str) -> None:
        super().__init__(f"Floating IP {floatingip_id} could not be found")


class ExternalGatewayForFloatingIPNotFound(NetworkError, NotFound):
    def __init__(self, external_network_id: str, subnet_id: str, port_id: str) -> None:
        super().__init__(f"External network {external_network_id} is not reachable from "
                         f"subnet {subnet_id}.  Therefore, cannot associate Port {port_id} "
                         "with a Floating IP.")


# --- 409 -------------------------------------------------------------------
class SecurityGroupInUse(NetworkError, Conflict):
    def __init__(self, group_id: str, reason: str = "in use") -> None:
        super().__init__(f"Security Group {group_id} {reason}.")


class SecurityGroupCannotRemoveDefault(NetworkError, Conflict):
    def __init__(self) -> None:
        super().__init__("Insufficient rights for removing default security group.")


class SecurityGroupCannotUpdateDefault(NetworkError, Conflict):
    def __init__(self) -> None:
        super().__init__("Updating default security group not allowed.")


class SecurityGroupDefaultAlreadyExists(NetworkError, Conflict):
    def __init__(self) -> None:
        super().__init__("Default security group already exists.")


class SecurityGroupRuleExists(NetworkError, Conflict):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule already exists. Rule id is {rule_id}.")


class PortSecurityPortHasSecurityGroup(NetworkError, Conflict):
    def __init__(self) -> None:
        super().__init__("Port has security group associated. Cannot disable port "
                         "security or ip address until security group is removed")


class NetworkInUse(NetworkError, Conflict):
    def __init__(self, net_id: str) -> None:
        super().__init__(f"Unable to complete operation on network {net_id}. There are one "
                         "or more ports still in use on the network.")


class SubnetInUse(NetworkError, Conflict):
    def __init__(self, subnet_id: str) -> None:
        super().__init__(f"Unable to complete operation on subnet {subnet_id}: One or more "
                         "ports have an IP allocation from this subnet.")


class MacAddressInUse(NetworkError, Conflict):
    def __init__(self, net_id: str, mac: str) -> None:
        super().__init__(f"Unable to complete operation for network {net_id}. The mac "
                         f"address {mac} is in use.")


class IpAddressAlreadyAllocated(NetworkError, Conflict):
    def __init__(self, ip: str, subnet_id: str) -> None:
        super().__init__(f"IP address {ip} already allocated in subnet {subnet_id}")


class IpAddressGenerationFailure(NetworkError, Conflict):
    def __init__(self, net_id: str) -> None:
        super().__init__(f"No more IP addresses available on network {net_id}.")


class OverQuota(NetworkError, Conflict):
    def __init__(self, overs: list[str]) -> None:
        super().__init__(f"Quota exceeded for resources: {overs}.")


class TunnelIdInUse(NetworkError, Conflict):
    def __init__(self, tunnel_id: int) -> None:
        super().__init__(f"Unable to create the network. The tunnel ID {tunnel_id} is in use.")


class VlanIdInUse(NetworkError, Conflict):
    def __init__(self, vlan_id: int, physnet: str | None) -> None:
        super().__init__(f"Unable to create the network. The VLAN {vlan_id} on physical "
                         f"network {physnet} is in use.")


class OverlappingAllocationPools(NetworkError, Conflict):
    def __init__(self, pool_1: str, pool_2: str, cidr: str) -> None:
        super().__init__(f"Found overlapping allocation pools: {pool_1} {pool_2} for subnet "
                         f"{cidr}.")


class GatewayConflictWithAllocationPools(NetworkError, Conflict):
    def __init__(self, ip: str, pool: str) -> None:
        super().__init__(f"Gateway ip {ip} conflicts with allocation pool {pool}.")


class DuplicateRbacPolicy(NetworkError, Conflict):
    def __init__(self) -> None:
        super().__init__("An RBAC policy already exists with those values.")


class RbacPolicyInUse(NetworkError, Conflict):
    def __init__(self, object_id: str, details: str) -> None:
        super().__init__(f"RBAC policy on object {object_id} cannot be removed because other "
                         f"objects depend on it.\nDetails: {details}")


class InvalidSharedSetting(NetworkError, Conflict):
    def __init__(self, network: str) -> None:
        super().__init__(f"Unable to reconfigure sharing settings for network {network}. "
                         "Multiple tenants are using it.")


class RouterInUse(NetworkError, Conflict):
    def __init__(self, router_id: str, reason: str = "still has ports") -> None:
        super().__init__(f"Router {router_id} {reason}")


class RouterInterfaceInUseByFloatingIP(NetworkError, Conflict):
    def __init__(self, subnet_id: str, router_id: str) -> None:
        super().__init__(f"Router interface for subnet {subnet_id} on router {router_id} "
                         "cannot be deleted, as it is required by one or more floating IPs.")


class RouterExternalGatewayInUseByFloatingIp(NetworkError, Conflict):
    def __init__(self, router_id: str, net_id: str) -> None:
        super().__init__(f"Gateway cannot be updated for router {router_id}, since a gateway "
                         f"to external network {net_id} is required by one or more floating "
                         "IPs.")


class FloatingIPPortAlreadyAssociated(NetworkError, Conflict):
    def __init__(self, address: str, fip_id: str, port_id: str, fixed_ip: str,
                 net_id: str) -> None:
        super().__init__(f"Cannot associate floating IP {address} ({fip_id}) with port "
                         f"{port_id} using fixed IP {fixed_ip}, as that fixed IP already has a "
                         f"floating IP on external network {net_id}.")


class ServicePortInUse(NetworkError, Conflict):
    def __init__(self, port_id: str, owner: str) -> None:
        super().__init__(f"Port {port_id} cannot be deleted directly via the port API: has "
                         f"device owner {owner}.")


class PortInUse(NetworkError, Conflict):
    def __init__(self, net_id: str, port_id: str, device_id: str) -> None:
        super().__init__(f"Unable to complete operation on port {port_id} for network "
                         f"{net_id}. Port already has an attached device {device_id}.")


# --- 503 -------------------------------------------------------------------
class NoNetworkAvailable(NetworkError):
    code = 503

    def __init__(self) -> None:
        super().__init__("Unable to create the network. No tenant network is available for "
                         "allocation.")
