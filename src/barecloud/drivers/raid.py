"""Target RAID configurations: the schema every RAID interface checks them with.

Ironic's ``raid_config_schema.json`` and ``common/raid.py``: a configuration is
a non-empty list of logical disks, each with a RAID level and a size, and at
most one root volume.  The descriptions are what
``GET /v1/drivers/{name}/raid/logical_disk_properties`` answers.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from barecloud.errors import InvalidParameter

LEVELS = ["JBOD", "0", "1", "2", "5", "6", "1+0", "5+0", "6+0"]

LOGICAL_DISK: dict[str, Any] = {
    "type": "object",
    "properties": {
        "raid_level": {
            "type": "string", "enum": LEVELS,
            "description": "RAID level for the logical disk. Valid values are 'JBOD', '0', "
                           "'1', '2', '5', '6', '1+0', '5+0' and '6+0'. Required."},
        "size_gb": {
            "anyOf": [{"type": "integer", "minimum": 0},
                      {"type": "string", "enum": ["MAX"]}],
            "description": "Size in GiB (Integer) for the logical disk. Use 'MAX' as size_gb "
                           "if this logical disk is supposed to use the rest of the space "
                           "available. Required."},
        "volume_name": {
            "type": "string",
            "description": "Name of the volume to be created. If this is not specified, it "
                           "will be auto-generated. Optional."},
        "is_root_volume": {
            "type": "boolean",
            "description": "Specifies whether this disk is a root volume. By default, this "
                           "is False. Optional."},
        "share_physical_disks": {
            "type": "boolean",
            "description": "Specifies whether other logical disks can share physical disks "
                           "with this logical disk. By default, this is False. Optional."},
        "disk_type": {
            "type": "string", "enum": ["hdd", "ssd"],
            "description": "The type of disk preferred. Valid values are 'hdd' and 'ssd'. "
                           "If this is not specified, disk type will not be a selection "
                           "criterion for choosing backing physical disks. Optional."},
        "interface_type": {
            "type": "string", "enum": ["sata", "scsi", "sas"],
            "description": "The interface type of disk. Valid values are 'sata', 'scsi' and "
                           "'sas'. If this is not specified, interface type will not be a "
                           "selection criterion for choosing backing physical disks. "
                           "Optional."},
        "number_of_physical_disks": {
            "type": "integer", "minimum": 0, "exclusiveMinimum": True,
            "description": "Number of physical disks to use for this logical disk. By "
                           "default, the driver uses the minimum number of disks required "
                           "for that RAID level. Optional."},
        "controller": {
            "type": "string",
            "description": "Controller to use for this logical disk. If not specified, the "
                           "driver will choose a suitable RAID controller on the bare metal "
                           "node. Optional."},
        "physical_disks": {
            "anyOf": [{"type": "array", "items": {"type": "string"}},
                      {"type": "array", "items": {"type": "object"}, "minItems": 2}],
            "description": "The physical disks to use for this logical disk. If not "
                           "specified, the driver will choose suitable physical disks to "
                           "use. Optional."},
    },
    "required": ["raid_level", "size_gb"],
    "additionalProperties": False,
    "dependencies": {"physical_disks": ["controller"]},
}
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {"logical_disks": {"type": "array", "items": LOGICAL_DISK, "minItems": 1}},
    "required": ["logical_disks"],
    "additionalProperties": False,
}
_VALIDATOR = jsonschema.Draft4Validator(SCHEMA)


def logical_disk_properties() -> dict[str, str]:
    return {k: v["description"] for k, v in LOGICAL_DISK["properties"].items()}


def validate(config: dict[str, Any]) -> None:
    """Ironic's ``raid.validate_configuration``: the schema, then one root volume."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(config))
    if error is not None:
        raise InvalidParameter(f"RAID config validation error: {error.message}")
    roots = [d for d in config["logical_disks"] if d.get("is_root_volume")]
    if len(roots) > 1:
        raise InvalidParameter("Raid config cannot have more than one root volume. "
                               f"{len(roots)} root volumes were specified")
