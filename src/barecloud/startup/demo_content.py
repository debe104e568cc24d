"""What `serve --lab` adds so that `openstack server create` works at once.

A bare-metal flavor per resource class the lab's nodes have
(``bm.<class>``, ``resources:CUSTOM_<CLASS>=1``) and a small public image,
``barecloud-demo``: an MBR disk with one partition, which the lab firmware
boots (it has the boot signature) and whose config drive the agent adds.

For VMs (a netns lab, whose machines can become hypervisors): the flavor
``vm.tiny`` (1 vCPU, 256 MiB, 1 GiB); when there is no hypervisor image
yet, ``barecloud-hypervisor``: the demo disk, because a netns lab machine's
"OS" is the lab's own whatever its disk holds (the config drive is what
makes it a hypervisor; lab/hypervisor.py); and, when hypervisors are asked
for, the image ``barecloud-tiny`` that ``scripts/build-vm-image`` builds (a
kernel and busybox that read the config drive, like CirrOS; built on first
use, then cached).
Each is created once and left alone afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select

from barecloud.db.compute_models import Flavor
from barecloud.db.identity_models import DEFAULT_DOMAIN, Project
from barecloud.db.models import Image, Node
from barecloud.services import children
from barecloud.services.compute import flavors
from barecloud.services.context import ADMIN_ROLES, RequestContext, Runtime
from barecloud.services.image import images

log = logging.getLogger(__name__)

DEMO_IMAGE = "barecloud-demo"
VM_IMAGE = "barecloud-tiny"
VM_FLAVOR = "vm.tiny"
REPO = Path(__file__).resolve().parents[3]  # a source tree's root (src/barecloud/startup/)
MIB = 1 << 20
IMAGE_SIZE = 16 * MIB
# The newest microversion the flavor body below is valid for.
FLAVOR_VERSION = (2, 55)


def demo_disk() -> bytes:
    """An MBR disk image: one Linux partition from 1 MiB to the end."""
    sectors = IMAGE_SIZE // 512
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                        2048, sectors - 2048)
    mbr = bytearray(512)
    mbr[440:444] = b"bcdm"  # disk signature
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr) + bytes(IMAGE_SIZE - 512)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), MIB):
        yield data[offset:offset + MIB]


async def admin_context(rt: Runtime) -> RequestContext:
    """The bootstrap admin on project admin (noauth: the one admin project)."""
    if rt.settings.auth_strategy != "keystone":
        return RequestContext.noauth("req-demo")
    async with rt.db.session() as s:
        project = await s.scalar(select(Project.id).where(Project.name == "admin",
                                                          Project.domain_id == DEFAULT_DOMAIN))
    return RequestContext(request_id="req-demo", project=project, project_name="admin",
                          roles=ADMIN_ROLES)


async def ensure(rt: Runtime, vms: bool = False, vm_image: bool = False) -> list[str]:
    """Create what is missing (``vms``: and the VM flavor and hypervisor image;
    ``vm_image``: and the VM image, built if need be, seconds even when it is);
    return what was created, for the operator."""
    ctx = await admin_context(rt)
    created: list[str] = []
    async with rt.db.session() as s:
        classes = sorted({rc for rc in (await s.scalars(
            select(Node.resource_class).where(Node.resource_class.is_not(None)))).all() if rc})
        names = set((await s.scalars(select(Flavor.name))).all())
        have_image = await s.scalar(select(Image.id).where(Image.name == DEMO_IMAGE))
        sample = await s.scalar(select(Node).where(Node.resource_class.is_not(None)))
    props = (sample.properties if sample is not None else None) or {}
    for rc in classes:
        name = f"bm.{rc}"
        if name in names:
            continue
        flavor = await flavors.create(rt, ctx, {"flavor": {
            "name": name, "vcpus": int(props.get("cpus") or 1),
            "ram": int(props.get("memory_mb") or 1024),
            "disk": int(props.get("local_gb") or 1),
        }}, FLAVOR_VERSION)
        await flavors.set_specs(rt, ctx, flavor.flavorid, {
            f"resources:{flavors.normalize_resource_class(rc)}": "1",
            "resources:VCPU": "0", "resources:MEMORY_MB": "0", "resources:DISK_GB": "0",
        })
        created.append(f"flavor {name}")
    if not have_image:
        image = await images.create(rt, ctx, {"name": DEMO_IMAGE, "disk_format": "raw",
                                               "container_format": "bare",
                                               "visibility": "public"})
        await images.upload(rt, ctx, image.uuid, _chunks(demo_disk()))
        created.append(f"image {DEMO_IMAGE}")
    if vms:
        created += await _for_vms(rt, ctx, names, vm_image)
    return created


async def _has_image(rt: Runtime, name: str) -> bool:
    async with rt.db.session() as s:
        return await s.scalar(select(Image.id).where(Image.name == name)) is not None


async def _for_vms(rt: Runtime, ctx: RequestContext, flavor_names: set[str],
                   vm_image: bool) -> list[str]:
    created: list[str] = []
    if VM_FLAVOR not in flavor_names:
        await flavors.create(rt, ctx, {"flavor": {"name": VM_FLAVOR, "vcpus": 1, "ram": 256,
                                                  "disk": 1}}, FLAVOR_VERSION)
        created.append(f"flavor {VM_FLAVOR}")
    if not await _has_image(rt, rt.settings.hypervisor_image):
        image = await images.create(rt, ctx, {
            "name": rt.settings.hypervisor_image, "disk_format": "raw",
            "container_format": "bare", "visibility": "private"})
        await images.upload(rt, ctx, image.uuid, _chunks(demo_disk()))
        created.append(f"image {rt.settings.hypervisor_image}")
    if vm_image and not await _has_image(rt, VM_IMAGE):
        built = await build_vm_image()
        if built is not None:
            image = await images.create(rt, ctx, {
                "name": VM_IMAGE, "disk_format": "qcow2", "container_format": "bare",
                "visibility": "public"})
            await images.upload(rt, ctx, image.uuid, _file_chunks(built))
            created.append(f"image {VM_IMAGE}")
    return created


async def build_vm_image() -> Path | None:
    """``scripts/build-vm-image``'s qcow2 (built if need be), or None, said why, if
    this is not a source tree or the build fails."""
    script = REPO / "scripts" / "build-vm-image"
    if not script.exists():
        log.warning("no %s (not a source tree): no %s image", script, VM_IMAGE)
        return None
    proc = await asyncio.create_subprocess_exec(
        str(script), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        preexec_fn=children.die_with_parent())
    _, err = await proc.communicate()
    built = REPO / ".cache" / "vm-image" / f"{VM_IMAGE}.qcow2"
    if proc.returncode or not built.exists():
        log.warning("scripts/build-vm-image failed (status %s): %s", proc.returncode,
                    err.decode(errors="replace").strip()[-2000:])
        return None
    return built


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, MIB):
            yield chunk
