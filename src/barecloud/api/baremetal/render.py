"""Resources as Ironic shows them at a given microversion.

Each field carries the version that introduced it: a client asking for an
older version sees exactly the fields that version had, as Ironic's own
clients expect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from barecloud import states
from barecloud.conductor.batches import KO, OK
from barecloud.db.models import (
    Allocation,
    Chassis,
    DeployTemplate,
    Node,
    NodeHistory,
    Port,
    Portgroup,
    Runbook,
    VolumeConnector,
    VolumeTarget,
)
from barecloud.drivers import hardware
from barecloud.errors import InvalidParameter, NotAcceptable
from barecloud.services.baremetal.batches import Report

V = tuple[int, int]

NODE_FIELDS: dict[str, V] = {
    "uuid": (1, 1), "name": (1, 5), "driver": (1, 1), "driver_info": (1, 1),
    "driver_internal_info": (1, 3), "properties": (1, 1), "instance_info": (1, 1),
    "instance_uuid": (1, 1), "chassis_uuid": (1, 1), "extra": (1, 1),
    "console_enabled": (1, 1), "last_error": (1, 1), "maintenance": (1, 1),
    "maintenance_reason": (1, 1), "power_state": (1, 1), "target_power_state": (1, 1),
    "provision_state": (1, 1), "target_provision_state": (1, 1),
    "provision_updated_at": (1, 1), "reservation": (1, 1), "created_at": (1, 1),
    "updated_at": (1, 1), "inspection_started_at": (1, 6), "inspection_finished_at": (1, 6),
    "clean_step": (1, 7), "raid_config": (1, 12), "target_raid_config": (1, 12),
    "network_interface": (1, 20), "resource_class": (1, 21),
    "boot_interface": (1, 31), "console_interface": (1, 31), "deploy_interface": (1, 31),
    "inspect_interface": (1, 31), "management_interface": (1, 31), "power_interface": (1, 31),
    "raid_interface": (1, 31), "vendor_interface": (1, 31), "storage_interface": (1, 33),
    "traits": (1, 37), "rescue_interface": (1, 38), "bios_interface": (1, 40),
    "fault": (1, 42), "deploy_step": (1, 44), "conductor_group": (1, 46),
    "automated_clean": (1, 47), "protected": (1, 48), "protected_reason": (1, 48),
    "conductor": (1, 49), "owner": (1, 50), "description": (1, 51),
    "allocation_uuid": (1, 52), "retired": (1, 61), "retired_reason": (1, 61),
    "lessee": (1, 65), "network_data": (1, 66), "boot_mode": (1, 75), "secure_boot": (1, 75),
    "shard": (1, 82), "parent_node": (1, 83), "firmware_interface": (1, 86),
    "service_step": (1, 87),
}
NODE_LIST_FIELDS = ("uuid", "instance_uuid", "maintenance", "power_state",
                    "provision_state", "name")

PORT_FIELDS: dict[str, V] = {
    "uuid": (1, 1), "address": (1, 1), "node_uuid": (1, 1), "extra": (1, 1),
    "created_at": (1, 1), "updated_at": (1, 1), "internal_info": (1, 18),
    "local_link_connection": (1, 19), "pxe_enabled": (1, 19), "portgroup_uuid": (1, 24),
    "physical_network": (1, 34), "is_smartnic": (1, 53), "name": (1, 88),
}


def ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).isoformat()


def links(base: str, kind: str, ident: str) -> list[dict[str, str]]:
    return [
        {"href": f"{base}/baremetal/v1/{kind}/{ident}", "rel": "self"},
        {"href": f"{base}/baremetal/{kind}/{ident}", "rel": "bookmark"},
    ]


def check_fields(fields: Iterable[str] | None, allowed: dict[str, V], version: V) -> None:
    """``?fields=``: unknown names are a 400, names newer than ``version`` a 406 (Ironic)."""
    if fields is None:
        return
    bad = [f for f in fields if f not in allowed]
    if bad:
        raise InvalidParameter(f"Field(s) \"{', '.join(bad)}\" are not valid")
    _reject_newer([f for f in fields if allowed[f] > version], allowed)


def _reject_newer(names: list[str], allowed: dict[str, V]) -> None:
    if names:
        need = max(allowed[n] for n in names)
        raise NotAcceptable(
            f"Field(s) \"{', '.join(names)}\" need API version {need[0]}.{need[1]} or later"
        )


def reject_newer_input(body: Any, allowed: dict[str, V], version: V) -> None:
    """A create body may not set fields newer than the requested version (406, as Ironic)."""
    if not isinstance(body, dict):
        return
    _reject_newer([k for k, v in body.items() if k in allowed and allowed[k] > version
                   and v is not None and not (k == "conductor_group" and v == "")], allowed)


def reject_newer_patch(ops: Any, allowed: dict[str, V], version: V) -> None:
    """A JSON patch may not touch fields newer than the requested version (406)."""
    if not isinstance(ops, list):
        return
    roots = []
    for op in ops:
        for key in ("path", "from"):
            path = op.get(key) if isinstance(op, dict) else None
            if isinstance(path, str) and path.startswith("/"):
                roots.append(path.split("/")[1])
    _reject_newer(sorted({r for r in roots if r in allowed and allowed[r] > version}), allowed)


def _node_value(node: Node, field: str, conductor: str | None) -> Any:
    if field.endswith("_interface"):
        impl = getattr(node, field)
        if impl is None:
            try:
                return hardware.hardware_type(node.driver).default(field[: -len("_interface")])
            except InvalidParameter:
                return None
        return impl
    match field:
        case "driver_info":
            return hardware.mask(node.driver, node.driver_info or {})
        case "instance_info":
            info = dict(node.instance_info or {})
            for key in ("configdrive", "image_url"):
                if key in info:
                    info[key] = "******"
            return info
        case "driver_internal_info":
            # The agent's keys live in a row of their own; Ironic users read them here.
            return internal_info({**(node.driver_internal_info or {}), **node.agent_info()})
        case "traits":
            return [t.trait for t in node.traits]
        case "created_at" | "updated_at" | "provision_updated_at" | "inspection_started_at" \
                | "inspection_finished_at":
            return ts(getattr(node, field))
        case "raid_config" | "target_raid_config" | "service_step":
            return getattr(node, field) or {}
        case "conductor":
            return conductor
        case "boot_mode" | "secure_boot":
            return None
        case _:
            return getattr(node, field)


def node(
    n: Node, version: V, base: str, *, fields: Iterable[str] | None = None,
    detail: bool = True, conductor: str | None = None,
) -> dict[str, Any]:
    if fields is not None:
        wanted = [f for f in fields]
    elif detail:
        wanted = [f for f, v in NODE_FIELDS.items() if v <= version]
    else:
        wanted = [f for f in NODE_LIST_FIELDS if NODE_FIELDS[f] <= version]
    out = {f: _node_value(n, f, conductor) for f in wanted}
    if version < (1, 2) and out.get("provision_state") == states.AVAILABLE:
        out["provision_state"] = None
    out["links"] = links(base, "nodes", n.uuid)
    if detail and fields is None:
        out["ports"] = links(base, f"nodes/{n.uuid}", "ports")
        if version >= (1, 14):
            out["states"] = links(base, f"nodes/{n.uuid}", "states")
        if version >= (1, 24):
            out["portgroups"] = links(base, f"nodes/{n.uuid}", "portgroups")
        if version >= (1, 32):
            out["volume"] = links(base, f"nodes/{n.uuid}", "volume")
    return out


def node_states(n: Node, version: V) -> dict[str, Any]:
    out: dict[str, Any] = {
        "power_state": n.power_state,
        "target_power_state": n.target_power_state,
        "provision_state": n.provision_state,
        "target_provision_state": n.target_provision_state,
        "provision_updated_at": ts(n.provision_updated_at),
        "last_error": n.last_error,
        "console_enabled": n.console_enabled,
    }
    if version < (1, 2) and out["provision_state"] == states.AVAILABLE:
        out["provision_state"] = None  # as the node itself reads below 1.2
    if version >= (1, 12):
        out["raid_config"] = n.raid_config or {}
        out["target_raid_config"] = n.target_raid_config or {}
    if version >= (1, 75):
        out["boot_mode"] = None
        out["secure_boot"] = None
    return out


def port(
    p: Port, node_uuid: str, version: V, base: str, *, fields: Iterable[str] | None = None,
    detail: bool = True,
) -> dict[str, Any]:
    if fields is not None:
        wanted = list(fields)
    elif detail:
        wanted = [f for f, v in PORT_FIELDS.items() if v <= version]
    else:
        wanted = ["uuid", "address"]
    values: dict[str, Any] = {
        "uuid": p.uuid, "address": p.address, "node_uuid": node_uuid, "extra": p.extra,
        "created_at": ts(p.created_at), "updated_at": ts(p.updated_at),
        "internal_info": p.internal_info, "local_link_connection": p.local_link_connection,
        "pxe_enabled": p.pxe_enabled,
        "portgroup_uuid": p.portgroup.uuid if p.portgroup else None,
        "physical_network": p.physical_network, "is_smartnic": p.is_smartnic,
        "name": p.name,
    }
    out = {f: values[f] for f in wanted}
    out["links"] = links(base, "ports", p.uuid)
    return out


CHASSIS_FIELDS = ("uuid", "description", "extra", "created_at", "updated_at", "nodes", "links")


def check_known(fields: Iterable[str] | None, allowed: Iterable[str]) -> None:
    """``?fields=`` of a resource without versioned fields: unknown names are 400."""
    bad = [f for f in fields or () if f not in allowed]
    if bad:
        raise InvalidParameter(f"Field(s) \"{', '.join(bad)}\" are not valid")


def _shaped(values: dict[str, Any], self_links: list[dict[str, str]], *,
            fields: Iterable[str] | None, every: Iterable[str], listed: Iterable[str],
            detail: bool) -> dict[str, Any]:
    """The fields asked for (else every field in detail and show, ``listed`` in a
    plain list); ``links`` always, as Ironic."""
    if fields is not None:
        check_known(fields, every)
    wanted = list(fields) if fields is not None else list(every if detail else listed)
    out = {f: values[f] for f in wanted if f in values}
    out["links"] = self_links
    return out


def check_chassis_fields(fields: Iterable[str] | None) -> None:
    check_known(fields, CHASSIS_FIELDS)


def chassis(c: Chassis, base: str, *, fields: Iterable[str] | None = None,
            detail: bool = True) -> dict[str, Any]:
    """Ironic's chassis: ``uuid`` and ``description`` in a plain list."""
    values: dict[str, Any] = {
        "uuid": c.uuid, "description": c.description, "extra": c.extra or {},
        "created_at": ts(c.created_at), "updated_at": ts(c.updated_at),
        "nodes": links(base, "chassis", f"{c.uuid}/nodes"),
    }
    return _shaped(values, links(base, "chassis", c.uuid), fields=fields,
                   every=CHASSIS_FIELDS, listed=("uuid", "description"), detail=detail)


DEPLOY_TEMPLATE_FIELDS = ("uuid", "name", "steps", "extra", "created_at", "updated_at",
                          "links")


def check_deploy_template_fields(fields: Iterable[str] | None) -> None:
    check_known(fields, DEPLOY_TEMPLATE_FIELDS)


def _masked(value: Any) -> Any:
    """Step arguments with secret-looking keys masked, as Ironic's mask_dict_password."""
    if isinstance(value, dict):
        return {k: "******" if any(w in str(k).lower() for w in hardware.SECRET_WORDS)
                else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def deploy_template(t: DeployTemplate, base: str, *, fields: Iterable[str] | None = None,
                    detail: bool = True) -> dict[str, Any]:
    """Ironic's deploy template: ``uuid`` and ``name`` in a plain list."""
    values: dict[str, Any] = {
        "uuid": t.uuid, "name": t.name, "steps": _masked(t.steps), "extra": t.extra or {},
        "created_at": ts(t.created_at), "updated_at": ts(t.updated_at),
    }
    return _shaped(values, links(base, "deploy_templates", t.uuid), fields=fields,
                   every=DEPLOY_TEMPLATE_FIELDS, listed=("uuid", "name"), detail=detail)


RUNBOOK_FIELDS = ("uuid", "name", "steps", "extra", "public", "owner", "disable_ramdisk",
                  "created_at", "updated_at", "links")


def check_runbook_fields(fields: Iterable[str] | None) -> None:
    check_known(fields, RUNBOOK_FIELDS)


def runbook(r: Runbook, base: str, *, fields: Iterable[str] | None = None,
            detail: bool = True) -> dict[str, Any]:
    """Ironic's runbook: ``uuid`` and ``name`` in a plain list."""
    values: dict[str, Any] = {
        "uuid": r.uuid, "name": r.name, "steps": _masked(r.steps), "extra": r.extra or {},
        "public": r.public, "owner": r.owner, "disable_ramdisk": r.disable_ramdisk,
        "created_at": ts(r.created_at), "updated_at": ts(r.updated_at),
    }
    return _shaped(values, links(base, "runbooks", r.uuid), fields=fields,
                   every=RUNBOOK_FIELDS, listed=("uuid", "name"), detail=detail)


VOLUME_FIELDS = {
    "connectors": ("uuid", "type", "connector_id", "node_uuid", "extra", "created_at",
                   "updated_at", "links"),
    "targets": ("uuid", "volume_type", "properties", "boot_index", "extra", "volume_id",
                "node_uuid", "created_at", "updated_at", "links"),
}
VOLUME_LIST_FIELDS = {
    "connectors": ("uuid", "type", "connector_id", "node_uuid"),
    "targets": ("uuid", "node_uuid", "volume_type", "boot_index", "volume_id"),
}


def check_volume_fields(kind: str, fields: Iterable[str] | None) -> None:
    check_known(fields, VOLUME_FIELDS[kind])


def volume(kind: str, r: VolumeConnector | VolumeTarget, node_uuid: str, base: str, *,
           fields: Iterable[str] | None = None, detail: bool = True) -> dict[str, Any]:
    """Ironic's volume connector or target (``kind``: ``connectors``/``targets``);
    secret-looking keys of a target's ``properties`` masked, as Ironic's."""
    values: dict[str, Any] = {
        "uuid": r.uuid, "node_uuid": node_uuid, "extra": r.extra or {},
        "created_at": ts(r.created_at), "updated_at": ts(r.updated_at),
    }
    if isinstance(r, VolumeConnector):
        values |= {"type": r.type, "connector_id": r.connector_id}
    else:
        values |= {"volume_type": r.volume_type, "properties": _masked(r.properties or {}),
                   "boot_index": r.boot_index, "volume_id": r.volume_id}
    return _shaped(values, links(base, f"volume/{kind}", r.uuid), fields=fields,
                   every=VOLUME_FIELDS[kind], listed=VOLUME_LIST_FIELDS[kind], detail=detail)


PORTGROUP_FIELDS: dict[str, V] = {
    "uuid": (1, 23), "name": (1, 23), "address": (1, 23), "node_uuid": (1, 23),
    "standalone_ports_supported": (1, 23), "internal_info": (1, 23), "extra": (1, 23),
    "created_at": (1, 23), "updated_at": (1, 23), "links": (1, 23), "ports": (1, 24),
    "mode": (1, 26), "properties": (1, 26),
}


def portgroup(g: Portgroup, node_uuid: str, version: V, base: str, *,
              fields: Iterable[str] | None = None, detail: bool = True) -> dict[str, Any]:
    """Ironic's port group: ``uuid``, ``address`` and ``name`` in a plain list, every
    field of the requested version in detail and show; ``links`` always."""
    if fields is not None:
        wanted = list(fields)
    elif detail:
        wanted = [f for f, v in PORTGROUP_FIELDS.items() if v <= version]
    else:
        wanted = ["uuid", "address", "name"]
    values: dict[str, Any] = {
        "uuid": g.uuid, "name": g.name, "address": g.address, "node_uuid": node_uuid,
        "standalone_ports_supported": g.standalone_ports_supported,
        "internal_info": g.internal_info or {}, "extra": g.extra or {},
        "created_at": ts(g.created_at), "updated_at": ts(g.updated_at),
        "ports": links(base, "portgroups", f"{g.uuid}/ports"), "mode": g.mode,
        "properties": g.properties or {},
    }
    out = {f: values[f] for f in wanted if f in values}
    out["links"] = links(base, "portgroups", g.uuid)
    return out


def allocation(a: Allocation, node_uuid: str | None, base: str,
               fields: Iterable[str] | None = None,
               version: tuple[int, int] = (1, 60)) -> dict[str, Any]:
    """Ironic's allocation; ``owner`` from 1.60 (asking for it before is 406)."""
    if fields is not None and version < (1, 60) and "owner" in fields:
        raise NotAcceptable("The owner field needs API version 1.60 or later.")
    values: dict[str, Any] = {
        "uuid": a.uuid, "name": a.name, "node_uuid": node_uuid,
        "resource_class": a.resource_class, "traits": a.traits,
        "candidate_nodes": a.candidate_nodes, "state": a.state, "last_error": a.last_error,
        "extra": a.extra, "owner": a.owner, "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
    }
    if version < (1, 60):
        del values["owner"]
    if fields is not None:
        bad = [f for f in fields if f not in values]
        if bad:
            raise InvalidParameter(f"Field(s) \"{', '.join(bad)}\" are not valid")
        values = {f: values[f] for f in fields}
    values["links"] = links(base, "allocations", a.uuid)
    return values


def history(h: NodeHistory, base: str, node_uuid: str, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uuid": h.uuid, "created_at": ts(h.created_at), "severity": h.severity,
        "event": h.event,
        "links": [{"href": f"{base}/baremetal/v1/nodes/{node_uuid}/history/{h.uuid}",
                   "rel": "self"}],
    }
    if detail:
        out.update({
            "event_type": h.event_type, "conductor": h.conductor, "user": h.user,
            "from_state": h.from_state, "to_state": h.to_state,
            "request_id": h.request_id, "duration": h.duration,
        })
    return out


# Agent command parameters that carry secrets: a chain's stream tokens, a signed
# image URL's query, and the config drive (user data), masked as instance_info's
# configdrive is.
_MASKED_PARAMS = ("files", "image")


def internal_info(dii: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in dii.items() if not k.startswith("agent_token")}
    command = out.get("agent_command")
    if isinstance(command, dict) and isinstance(command.get("params"), dict):
        params = dict(command["params"])
        for key in _MASKED_PARAMS:
            if key in params:
                params[key] = "******"
        if isinstance(params.get("serve"), dict):
            params["serve"] = {"token": "******"}
        if isinstance(params.get("url"), str) and "?" in params["url"]:
            params["url"] = params["url"].split("?")[0] + "?******"  # a signed URL
        if isinstance(params.get("upstreams"), list):
            params["upstreams"] = [str(u).split("/chain/")[0] + "/chain/******"
                                   for u in params["upstreams"]]
        out["agent_command"] = {**command, "params": params}
    return out


def deploy_batch(report: Report) -> dict[str, Any]:
    """A deploy batch and, per machine, how its image write went (chain tokens never)."""
    batch, phase = report.batch, report.image_phase()
    return {
        "uuid": batch.uuid,
        "delivery": batch.delivery,
        "state": batch.state,
        "expected": batch.expected,
        "ok": report.count(OK),
        "ko": report.count(KO),
        "image_phase_seconds": round(phase, 3) if phase is not None else None,
        "created_at": ts(batch.created_at),
        "started_at": ts(batch.started_at),
        "finished_at": ts(batch.finished_at),
        "gate_deadline": ts(batch.gate_deadline),
        "members": [{
            "node_uuid": m.node_uuid, "node_name": m.node_name, "position": m.position,
            "state": m.state, "delivery": m.delivery, "retried": m.retried,
            "agent_url": m.agent_url,
            "provision_state": report.provision_states.get(m.node_uuid), "bytes": m.bytes,
            "seconds": m.seconds, "write_started_at": ts(m.write_started_at),
            "write_finished_at": ts(m.write_finished_at), "sources": m.sources,
            "failures": m.failures, "error": m.error,
        } for m in report.members],
    }
