"""What a node's workflow args say about its deploy batch.

The deploy workflow (conductor/workflows.py) reads these to know whether its
write joins a batch; the batches (conductor/batches.py) write and read them
to run the gate.  Kept apart so that the workflows need nothing else of the
batches: the batches rewind the deploy workflow, so they sit above it.
"""

from __future__ import annotations

from typing import Any


def member_args(batch_uuid: str, delivery: str) -> dict[str, Any]:
    """The workflow args that make a deploy a member of batch ``batch_uuid``."""
    return {"deploy_batch": batch_uuid, "batch_delivery": delivery}


def batch_of(args: dict[str, Any]) -> str | None:
    ref = args.get("deploy_batch")
    return ref if isinstance(ref, str) and ref else None


def chained(args: dict[str, Any]) -> bool:
    """Whether the workflow should bring the agent up before writing (chain delivery)."""
    return bool(batch_of(args)) and args.get("batch_delivery") == "chain" and (
        args.get("image_delivery") != "http")
