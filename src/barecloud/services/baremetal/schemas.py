"""Input models: what a client may send, with types checked before anything is written."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from barecloud.errors import InvalidParameter

NAME_RE = re.compile(r"^[A-Za-z0-9\-._~]+$")
MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
TRAIT_RE = re.compile(r"^(CUSTOM_[A-Z0-9_]+|[A-Z][A-Z0-9_]+)$")

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate ``data`` as ``model``; every problem becomes one 400 message."""
    if not isinstance(data, dict):
        raise InvalidParameter(f"Invalid {what}: expected a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or what
            if err["type"] == "extra_forbidden":
                problems.append(f"Unknown attribute for argument {what}: {loc}")
            else:
                problems.append(f"Invalid value for {loc}: {err['msg']}")
        raise InvalidParameter("; ".join(problems)) from None


# Ironic reads booleans with oslo's ``bool_from_string(strict=True)``, and its
# clients send them as strings (``baremetal node set --retired`` sends "True").
TRUE_STRINGS = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_STRINGS = frozenset({"0", "f", "false", "off", "n", "no"})


def ironic_bool(value: Any) -> Any:
    """``value`` as a bool if it is one of Ironic's boolean spellings, else unchanged."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_STRINGS:
            return True
        if text in FALSE_STRINGS:
            return False
    return value


Bool = Annotated[bool, BeforeValidator(ironic_bool)]


def check_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not NAME_RE.match(name) or UUID_RE.match(name) or len(name) > 255:
        raise ValueError(
            f"Expected a logical name (RFC 3986 unreserved characters, not a UUID) but "
            f"received {name!r}"
        )
    return name


def normalize_mac(mac: str) -> str:
    value = mac.strip().lower().replace("-", ":")
    if not MAC_RE.match(value):
        raise ValueError(f"Expected a MAC address but received {mac}.")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NodeCreate(Strict):
    uuid: str | None = None
    name: str | None = None
    description: str | None = Field(default=None, max_length=4096)
    driver: str
    driver_info: dict[str, Any] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    instance_info: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    network_data: dict[str, Any] = Field(default_factory=dict)
    resource_class: str | None = Field(default=None, max_length=80)
    owner: str | None = Field(default=None, max_length=255)
    lessee: str | None = Field(default=None, max_length=255)
    conductor_group: str = Field(default="", max_length=255)
    chassis_uuid: str | None = None
    automated_clean: Bool | None = None
    protected: Bool = False
    protected_reason: str | None = None
    retired: Bool = False
    retired_reason: str | None = None
    instance_uuid: str | None = None
    boot_interface: str | None = None
    console_interface: str | None = None
    deploy_interface: str | None = None
    inspect_interface: str | None = None
    management_interface: str | None = None
    network_interface: str | None = None
    power_interface: str | None = None
    rescue_interface: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return check_name(v)

    @field_validator("uuid", "instance_uuid", "chassis_uuid")
    @classmethod
    def _uuid(cls, v: str | None) -> str | None:
        if v is not None and not UUID_RE.match(v):
            raise ValueError(f"Expected a UUID but received {v}.")
        return v.lower() if v else v

    @field_validator("conductor_group")
    @classmethod
    def _group(cls, v: str) -> str:
        if v and not re.match(r"^[A-Za-z0-9_\-.]*$", v):
            raise ValueError(f"Invalid conductor group {v!r}.")
        return v.lower()


# Fields a JSON patch may change on a node.  Validation reuses NodeCreate.
NODE_WRITABLE = set(NodeCreate.model_fields) - {"uuid"} | {"maintenance", "maintenance_reason"}
NODE_INTERNAL = {
    "uuid", "id", "provision_state", "target_provision_state", "power_state",
    "target_power_state", "provision_updated_at", "created_at", "updated_at", "reservation",
    "last_error", "driver_internal_info", "console_enabled", "clean_step", "deploy_step",
    "inspection_started_at", "inspection_finished_at", "fault", "conductor", "allocation_uuid",
    "traits", "links", "ports", "portgroups", "states", "volume",
}


class PortCreate(Strict):
    uuid: str | None = None
    name: str | None = None
    address: str
    node_uuid: str
    extra: dict[str, Any] = Field(default_factory=dict)
    local_link_connection: dict[str, Any] = Field(default_factory=dict)
    pxe_enabled: Bool = True
    physical_network: str | None = Field(default=None, max_length=64)
    is_smartnic: Bool = False
    description: str | None = None
    portgroup_uuid: str | None = None

    @field_validator("address")
    @classmethod
    def _mac(cls, v: str) -> str:
        return normalize_mac(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return check_name(v)

    @field_validator("local_link_connection")
    @classmethod
    def _llc(cls, v: dict[str, Any]) -> dict[str, Any]:
        allowed = {"switch_id", "port_id", "switch_info", "network_type"}
        unknown = set(v) - allowed
        if unknown:
            raise ValueError(
                f"local_link_connection may only hold {', '.join(sorted(allowed))}; "
                f"got {', '.join(sorted(unknown))}"
            )
        if v and v.get("network_type") != "unmanaged" and not {"switch_id", "port_id"} <= set(v):
            raise ValueError("local_link_connection needs switch_id and port_id")
        return v


PORT_WRITABLE = set(PortCreate.model_fields) - {"uuid", "portgroup_uuid"}
PORT_INTERNAL = {"uuid", "id", "created_at", "updated_at", "internal_info", "links"}


class AllocationCreate(Strict):
    uuid: str | None = None
    name: str | None = None
    resource_class: str | None = Field(default=None, max_length=80)
    traits: list[str] = Field(default_factory=list)
    candidate_nodes: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    owner: str | None = None
    node: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return check_name(v)

    @field_validator("traits")
    @classmethod
    def _traits(cls, v: list[str]) -> list[str]:
        for t in v:
            check_trait(t)
        return v


def check_trait(trait: Any) -> str:
    if not isinstance(trait, str) or not TRAIT_RE.match(trait) or len(trait) > 255:
        raise InvalidParameter(
            f"Invalid trait {trait!r}: a trait is a standard os-traits name or CUSTOM_ "
            "followed by capital letters, digits and underscores."
        )
    return trait
