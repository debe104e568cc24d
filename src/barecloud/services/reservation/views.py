"""Leases, reservations and events in Blazar's response shape."""

from __future__ import annotations

from typing import Any

from barecloud.db.lease_models import Lease, LeaseEvent, LeaseReservation
from barecloud.services.reservation.dates import render, stamp


def lease(row: Lease) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "project_id": row.project_id,
        "user_id": row.user_id, "trust_id": None,
        "start_date": render(row.start_date), "end_date": render(row.end_date),
        "status": row.status, "degraded": row.degraded,
        # barecloud's own: why a start waits, why a lease failed.
        "status_reason": row.status_reason or None,
        "created_at": stamp(row.created_at), "updated_at": stamp(row.updated_at),
        "reservations": [reservation(r) for r in row.reservations],
        "events": [event(e) for e in row.events],
    }


def reservation(row: LeaseReservation) -> dict[str, Any]:
    return {
        "id": row.id, "lease_id": row.lease_id, "resource_id": row.id,
        "resource_type": row.resource_type, "status": row.status,
        "min": row.min, "max": row.max,
        "hypervisor_properties": row.hypervisor_properties,
        "resource_properties": row.resource_properties, "before_end": row.before_end,
        "missing_resources": row.missing_resources,
        "resources_changed": row.resources_changed,
        # barecloud's own: which hosts the reservation holds (Blazar hides them).
        "hosts": sorted(a.host_id for a in row.allocations),
        "created_at": stamp(row.created_at), "updated_at": stamp(row.updated_at),
    }


def event(row: LeaseEvent) -> dict[str, Any]:
    return {"id": row.id, "lease_id": row.lease_id, "event_type": row.event_type,
            "time": render(row.time), "status": row.status,
            "created_at": stamp(row.created_at), "updated_at": stamp(row.updated_at)}
