"""The host agent's life: report, long-poll the desired list, make the host match it.

As the ramdisk agent (:mod:`barecloud.agent.loop`) it only calls out, and
retries connection errors and 5xx with a capped backoff for as long as it
takes (the service may restart; it is the service that decides a silent
host is down); a 401 stops it (:class:`Unauthorized`).  The protocol is
docs/design/host-agent-protocol.md:

- registration is the first ``POST /report``; reports follow every
  ``report_interval`` seconds the service gives, and at once after acting;
- ``GET /desired`` is long-polled on a connection of its own, so a report
  never waits behind a poll;
- each VM has a worker: operations on one VM run one after the other,
  at most ``max_operations`` on the host at once, each on the newest entry
  for its VM; an entry is carried out when its ``seq`` is above the one
  applied, and its outcome (or its error) is saved with that ``seq``
  (:mod:`barecloud.hostagent.state`) before the next report says it;
- a VM on the host that the last fetched list does not name is deleted;
  one the agent merely has not heard of since it restarted is not (the
  first list decides);
- states are read from the driver at each step and in each report, never
  assumed from what was asked;
- a VM's networks are plugged before each of its operations, and each list
  brings the VTEPs of the host's networks up to date
  (:mod:`barecloud.hostagent.network`) and the taps' security groups
  (the driver's ``filter_taps``, before any VM of the list is started);
- each VM's console log is sent when it changes, and interactive console
  sessions are carried (:mod:`barecloud.hostagent.consoles`, when the driver
  has console sockets) (``consoles``; a fleet of fake hosts goes without both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from barecloud.hostagent import configdrive, network
from barecloud.hostagent.consoles import Consoles, Interactive
from barecloud.hostagent.driver import Driver, VmSpec, VmState
from barecloud.hostagent.firewall import PortRules
from barecloud.hostagent.http import ApiError, HttpClient, Unauthorized, retryable
from barecloud.hostagent.images import ImageCache
from barecloud.hostagent.network import Networking, NoNetworking
from barecloud.hostagent.state import AgentState, VmRecord

PREFIX = "/compute/barecloud-host-agent/v1"
REPORT_INTERVAL = 10.0  # until the service says otherwise
POLL_WAIT = 25.0
MAX_OPERATIONS = 4
MAX_BACKOFF = 15.0
FIRST_BACKOFF = 0.5
STOP_GRACE = 30.0  # a QEMU stop waits 30 s for the guest before it pulls the plug
CONSOLE_INTERVAL = 1.0
CONSOLE_BYTES = 100 * 1024
PRESENT = frozenset({VmState.RUNNING, VmState.PAUSED, VmState.SHUTOFF, VmState.CRASHED})

log = logging.getLogger(__name__)


class DesiredError(ValueError):
    """A desired entry the agent cannot carry out as written."""


def hypervisor_of(credential: str) -> str | None:
    """The hypervisor uuid a credential (``hv.<uuid>.<secret>``) names, for logs."""
    parts = credential.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "hv" else None


class _Prefixed(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Log lines that say which host agent speaks (many share a process in a fleet)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]
                ) -> tuple[Any, MutableMapping[str, Any]]:
        return f"{self.extra['name'] if self.extra else '?'}: {msg}", kwargs


class HostAgent:
    """One hypervisor's agent; :meth:`run` until :meth:`stop`, or a 401."""

    def __init__(self, url: str, credential: str, driver: Driver, state_dir: Path, *,
                 images: ImageCache | None = None, networking: Networking | None = None,
                 max_operations: int = MAX_OPERATIONS, poll_wait: float = POLL_WAIT,
                 host_ip: str | None = None, max_backoff: float = MAX_BACKOFF,
                 stop_grace: float = STOP_GRACE, durable: bool = True,
                 name: str | None = None, consoles: bool = True) -> None:
        base = url.rstrip("/")
        if not base.endswith(PREFIX):
            base += PREFIX
        self.driver = driver
        self._credential = credential
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.images = images or ImageCache(state_dir / "images")
        self.networking: Networking = networking or NoNetworking()
        self.poll_wait = poll_wait
        self.host_ip = host_ip
        self.max_backoff = max_backoff
        self.stop_grace = stop_grace
        self.durable = durable
        self.consoles = consoles
        self._unsaved = False
        self.name = name or hypervisor_of(credential) or str(state_dir)
        self.log = _Prefixed(log, {"name": self.name})
        self.state = AgentState.load(state_dir)
        self.report_interval = REPORT_INTERVAL
        self.hypervisor: dict[str, Any] | None = None  # the report's answer: uuid, hostname
        self.reports = 0  # reports the service accepted
        self.registered = asyncio.Event()
        self._reporter = HttpClient(base, credential)
        self._poller = HttpClient(base, credential, timeout=poll_wait + 30.0)
        self._slots = asyncio.Semaphore(max_operations)
        self._wanted: dict[str, dict[str, Any]] = {}  # the last fetched list, by uuid
        self._fetched: int | None = None  # its generation; None: no list since starting
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._filters: dict[str, tuple[str, PortRules]] = {}  # tap -> VM, rules applied
        self._dirty: set[str] = set()  # VMs whose worker must look again
        self._report_now = asyncio.Event()
        self._stopping = asyncio.Event()

    # -- life --------------------------------------------------------------

    async def run(self) -> None:
        """Serve the host until :meth:`stop`; raises Unauthorized on a 401."""
        self.log.info("starting: %d VM record(s), applied generation %d, service %s",
                      len(self.state.vms), self.state.applied_generation,
                      self._reporter.base_url)
        loops = [asyncio.create_task(self._report_loop(), name=f"{self.name} reports"),
                 asyncio.create_task(self._desired_loop(), name=f"{self.name} desired")]
        if self.consoles:
            loops.append(asyncio.create_task(self._console_loop(),
                                             name=f"{self.name} console logs"))
        if self.consoles and isinstance(self.driver, Interactive):
            loops.append(asyncio.create_task(self._interactive(self.driver),
                                             name=f"{self.name} consoles"))
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait([*loops, stopping],
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = None if task is stopping or task.cancelled() else task.exception()
                if isinstance(exc, Unauthorized):
                    self.log.error("the service refuses this host's credential (%s): "
                                   "stopping", exc)
                if exc is not None:
                    raise exc
        finally:
            self._stopping.set()
            for task in (*loops, stopping):
                task.cancel()
            await asyncio.gather(*loops, stopping, return_exceptions=True)
            await self._finish_operations()
            if self._unsaved:
                self._save(now=True)
            await self._reporter.close()
            await self._poller.close()

    async def _finish_operations(self) -> None:
        """Let operations under way end (up to ``stop_grace`` seconds), so that what a
        restarted agent reads on disk is what the host has."""
        workers = list(self._workers.values())
        if not workers:
            return
        self.log.info("stopping: waiting up to %g s for %d VM operation(s)",
                      self.stop_grace, len(workers))
        _, late = await asyncio.wait(workers, timeout=self.stop_grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    # -- reports -------------------------------------------------------------

    async def _report_loop(self) -> None:
        delay = FIRST_BACKOFF
        while not self._stopping.is_set():
            try:
                await self.report()
                delay = FIRST_BACKOFF
            except Unauthorized:
                raise
            except ApiError as exc:
                if not retryable(exc):  # a 4xx: this agent or the service is wrong
                    self.log.error("report refused: %s; again in %.0f s", exc,
                                   self.report_interval)
                    await self._sleep_or_wake(self.report_interval)
                    continue
                self.log.warning("report: %s; again in %.1f s", exc, delay)
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, self.max_backoff)
                continue
            except Exception:  # the hypervisor did not answer: say nothing rather than lie
                self.log.exception("report: cannot read the hypervisor")
            await self._sleep_or_wake(self.report_interval)

    async def _console_loop(self) -> None:
        """Send each VM's console log when it has changed (its last CONSOLE_BYTES), at
        most every CONSOLE_INTERVAL: the service keeps the copy os-getConsoleOutput
        reads, so no API process needs a way into the host."""
        sent: dict[str, tuple[int, int]] = {}
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CONSOLE_INTERVAL):
                    await self._stopping.wait()
            try:
                present = set(await self.driver.states())
            except Exception:
                continue
            for uuid in sorted(present):
                try:
                    stat = self.driver.console_log(uuid).stat()
                    key = (stat.st_size, stat.st_mtime_ns)
                    if sent.get(uuid) == key:
                        continue
                    data = await asyncio.to_thread(_tail, self.driver.console_log(uuid))
                    await self._reporter.call("PUT", f"/vms/{uuid}/console", content=data)
                    sent[uuid] = key
                except Unauthorized:
                    raise
                except ApiError as exc:
                    if exc.status == 404:  # not this host's (yet): again when it changes
                        sent[uuid] = key
                    else:
                        self.log.debug("console of %s: %s", uuid, exc)
                except OSError:
                    continue
            for gone in set(sent) - present:
                del sent[gone]

    async def _interactive(self, driver: Interactive) -> None:
        """Carry the console sessions the service asks for (once registered)."""
        await self.registered.wait()
        await Consoles(self._reporter.base_url, self._credential, driver, self.log,
                       poll_wait=self.poll_wait, max_backoff=self.max_backoff).run()

    async def _sleep_or_wake(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._report_now.wait()

    def _report_soon(self) -> None:
        self._report_now.set()

    async def report(self) -> dict[str, Any]:
        """Post one report and take in the answer (the first one registers the host)."""
        self._report_now.clear()  # a change from now on is in this report or the next
        if self._unsaved:  # a report never says what the disk does not
            self._save(now=True)
        if self.host_ip is None:
            await self._reporter.connect()
        states = await self.driver.states()
        capacity = self.driver.capacity()
        uuids = set(states) | set(self._wanted) | set(self.state.vms)
        vms = []
        for uuid in sorted(uuids):
            record = self.state.vms.get(uuid)
            vms.append({"uuid": uuid, "state": VmState(states.get(uuid, VmState.MISSING)).value,
                        "seq": record.seq if record else 0,
                        "error": record.error if record else None})
        body = {"hypervisor_type": self.driver.hypervisor_type,
                "hypervisor_version": self.driver.hypervisor_version,
                "host_ip": self.host_ip or self._reporter.local_ip,
                "capacity": {"vcpus": capacity.vcpus, "memory_mb": capacity.memory_mb,
                             "disk_gb": capacity.disk_gb},
                "applied_generation": self.state.applied_generation,
                "uptime": host_uptime(),
                "vms": vms}
        answer = await self._reporter.call("POST", "/report", body)
        if not isinstance(answer, dict):
            raise ApiError(502, f"POST /report: unexpected answer {answer!r}")
        interval = answer.get("report_interval")
        if isinstance(interval, int | float) and interval > 0:
            self.report_interval = float(interval)
        if isinstance(answer.get("hypervisor"), dict):
            if self.hypervisor is None:
                self.log.info("registered as hypervisor %s (%s); reporting every %g s",
                              answer["hypervisor"].get("uuid"),
                              answer["hypervisor"].get("hostname"), self.report_interval)
            self.hypervisor = answer["hypervisor"]
        self.reports += 1
        self.registered.set()
        return answer

    # -- the desired list ----------------------------------------------------

    async def _desired_loop(self) -> None:
        await self.registered.wait()
        since = self.state.applied_generation
        delay = FIRST_BACKOFF
        while not self._stopping.is_set():
            try:
                answer = await self._poller.call(
                    "GET", f"/desired?since={since}&wait={self.poll_wait:g}",
                    timeout=self.poll_wait + 30.0)
                generation, entries = _parse_desired(answer)
            except Unauthorized:
                raise
            except (ApiError, DesiredError) as exc:
                self.log.warning("desired list: %s; again in %.1f s", exc, delay)
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, self.max_backoff)
                continue
            delay = FIRST_BACKOFF
            if entries is not None:
                try:
                    await self.take(generation, entries)
                except Exception:  # the hypervisor did not answer: the next list retries
                    self.log.exception("desired list generation %d", generation)
                    await asyncio.sleep(_jitter(self.max_backoff))
                    continue
            since = generation

    async def take(self, generation: int, entries: list[dict[str, Any]]) -> None:
        """Start carrying out a whole desired list (workers do the operations)."""
        if generation != self._fetched:
            self.log.info("desired list generation %d: %d VM(s)", generation, len(entries))
        self._wanted = {entry["uuid"]: entry for entry in entries}
        self._fetched = generation
        await self._refresh_networks()
        await self._refresh_filters()
        states = await self.driver.states()
        for uuid in set(self._wanted) | {u for u, s in states.items() if s in PRESENT}:
            if self._needs_work(uuid, states):
                self._wake_worker(uuid)
        for uuid in list(self.state.vms):  # records of VMs gone for good
            if uuid not in self._wanted and states.get(uuid) not in PRESENT \
                    and uuid not in self._workers:
                del self.state.vms[uuid]
        if not self._workers:
            self._settle()

    async def _refresh_networks(self) -> None:
        """Bring the VTEPs of the host's networks up to date with the list: they
        change when another host joins or leaves a network, which changes no
        entry of this host's.  A failure is logged and never stops the list (the
        next list tries again); a bad entry is left out (its worker reports it)."""
        nics: list[network.NicPlan] = []
        for uuid, entry in self._wanted.items():
            try:
                nics.extend(network.plan(uuid, entry.get("nics")))
            except ValueError:
                continue
        try:
            await self.networking.refresh(nics)
        except Exception as exc:
            self.log.warning("networks' VTEPs not brought up to date: %s", _describe(exc))

    async def _refresh_filters(self) -> None:
        """Every tap of the list filtered by its port's rules (the driver's, the whole
        host's at once), before any worker starts a VM on one: a rule or a group's
        member changes the list, not an entry's seq.  The taps of an entry this
        agent cannot read keep the rules they had (not opened by a bad entry); a
        failure is logged, the next list and the VM's next start try again."""
        wanted: dict[str, tuple[str, PortRules]] = {}
        for uuid, entry in self._wanted.items():
            try:
                nics = network.plan(uuid, entry.get("nics"))
            except ValueError:
                wanted.update({t: v for t, v in self._filters.items() if v[0] == uuid})
                continue
            wanted.update({n.tap: (uuid, n.firewall) for n in nics if n.firewall is not None})
        try:
            await self.driver.filter_taps({t: rules for t, (_, rules) in wanted.items()})
        except Exception as exc:
            self.log.warning("security groups of the taps not applied: %s", _describe(exc))
            return
        self._filters = wanted

    def _needs_work(self, uuid: str, states: Mapping[str, VmState]) -> bool:
        entry = self._wanted.get(uuid)
        if entry is None:  # not wanted: delete it, once a list has said so
            return self._fetched is not None and states.get(uuid, VmState.MISSING) in PRESENT
        record = self.state.vms.get(uuid)
        return int(entry["seq"]) > (record.seq if record else 0)

    def _wake_worker(self, uuid: str) -> None:
        self._dirty.add(uuid)
        if uuid not in self._workers:
            self._workers[uuid] = asyncio.create_task(self._work(uuid), name=f"vm {uuid}")

    def _settle(self) -> None:
        """No work left: the last fetched list is carried out in full."""
        if self._fetched is None or self._fetched == self.state.applied_generation \
                or self._dirty:  # stopping with work not done
            return
        self.state.applied_generation = self._fetched
        self._save()
        self._report_soon()

    def _save(self, *, now: bool = False) -> None:
        """Write the state after each operation; or, not ``durable`` (a fleet of fake
        hosts, whose VMs die with the process anyway), before the next report only:
        a file replaced per operation is milliseconds of a loop hundreds share."""
        if self.durable or now:
            self.state.save(self.state_dir, durable=self.durable)
            self._unsaved = False
        else:
            self._unsaved = True

    # -- one VM --------------------------------------------------------------

    async def _work(self, uuid: str) -> None:
        try:
            while uuid in self._dirty and not self._stopping.is_set():
                self._dirty.discard(uuid)
                async with self._slots:
                    states = await self.driver.states()
                    if not self._needs_work(uuid, states):
                        continue
                    entry = self._wanted.get(uuid)
                    if entry is None:
                        await self._delete_unwanted(uuid)
                    else:
                        await self._carry_out(uuid, entry, states.get(uuid, VmState.MISSING))
                self._report_soon()
        except asyncio.CancelledError:
            self._workers.pop(uuid, None)
            raise
        except Exception:  # a bug here must not stop the other VMs
            self.log.exception("VM %s: worker failed", uuid)
        self._workers.pop(uuid, None)
        if not self._workers:
            self._settle()

    async def _delete_unwanted(self, uuid: str) -> None:
        self.log.info("VM %s is not in the desired list: deleting it", uuid)
        try:
            await self.driver.delete(uuid)
            await self.networking.unplug(uuid)
        except Exception as exc:
            self.log.error("VM %s: delete failed: %s", uuid, _describe(exc))
            record = self.state.vms.setdefault(uuid, VmRecord())
            record.error = f"delete (not in the desired list): {_describe(exc)}"
        else:
            self.state.vms.pop(uuid, None)
        self._save()

    async def _carry_out(self, uuid: str, entry: dict[str, Any], state: VmState) -> None:
        seq = int(entry["seq"])
        record = self.state.vms.setdefault(uuid, VmRecord())
        self.log.info("VM %s: seq %d (power %s, reboot %s), now %s", uuid, seq,
                      entry.get("power"), entry.get("reboot"), state.value)
        try:
            await self._apply(uuid, entry, state, record)
            record.error = None
        except Exception as exc:
            record.error = _describe(exc)
            self.log.error("VM %s: seq %d failed: %s", uuid, seq, record.error,
                           exc_info=isinstance(exc, OSError))  # an unforeseen one: where
        record.seq = seq
        self._save()

    async def _apply(self, uuid: str, entry: dict[str, Any], state: VmState,
                     record: VmRecord) -> None:
        """The contract's steps: create, or rebuild / resize / reboot; then power."""
        power = entry.get("power")
        if power not in ("on", "off", "absent"):
            raise DesiredError(f"power must be on, off or absent, not {power!r}")
        if power == "absent":
            if state in PRESENT:
                await self.driver.delete(uuid)
            await self.networking.unplug(uuid)
            record.image_id = record.config_digest = record.flavor = None
            return
        reboot = entry.get("reboot")
        if reboot not in (None, "soft", "hard"):
            raise DesiredError(f"reboot must be soft, hard or null, not {reboot!r}")
        flavor = _flavor(entry)
        image = entry.get("image")
        if not isinstance(image, dict) or not image.get("id"):
            raise DesiredError("no image")
        image_id = str(image["id"])
        digest = configdrive.digest(entry.get("config_drive"))
        nics = _nics(uuid, entry)
        # Before any driver step, not only create: a host that rebooted lost its
        # bridges, and a VM's taps go on them whenever its QEMU starts.
        await self.networking.plug(uuid, nics)
        if state not in PRESENT:
            spec = await self._spec(uuid, entry, flavor, nics)
            await self.driver.create(spec)
            record.image_id, record.config_digest, record.flavor = image_id, digest, flavor
            reboot = None  # it has just booted
        else:
            if record.image_id is None:  # found on the host with no record: take it as is
                record.image_id, record.config_digest = image_id, digest
                record.flavor = record.flavor or flavor
            if record.image_id != image_id or record.config_digest != digest:
                await self.driver.rebuild(await self._spec(uuid, entry, flavor, nics))
                record.image_id, record.config_digest = image_id, digest
            if record.flavor != flavor:
                await self.driver.resize(await self._spec(uuid, entry, flavor, nics))
                record.flavor = flavor
        if reboot is not None and await self._state(uuid) in (VmState.RUNNING,
                                                               VmState.PAUSED):
            await self.driver.reboot(uuid, hard=reboot == "hard")
        now = await self._state(uuid)
        if power == "on" and now != VmState.RUNNING:
            await self.driver.start(uuid)
        elif power == "off" and now != VmState.SHUTOFF:
            await self.driver.stop(uuid)

    async def _state(self, uuid: str) -> VmState:
        return VmState((await self.driver.states()).get(uuid, VmState.MISSING))

    async def _spec(self, uuid: str, entry: Mapping[str, Any], flavor: dict[str, int],
                    nics: tuple[network.NicPlan, ...]) -> VmSpec:
        image = entry["image"]
        try:
            files = configdrive.files(entry.get("config_drive"))
        except ValueError as exc:
            raise DesiredError(str(exc)) from None
        path = await self.images.get(image)
        spec = VmSpec(uuid=uuid, name=str(entry.get("name") or uuid), vcpus=flavor["vcpus"],
                      memory_mb=flavor["memory_mb"], disk_gb=flavor["disk_gb"], image=path,
                      image_format=str(image.get("disk_format") or "raw"), config_drive=files,
                      nics=tuple(n.nic() for n in nics))
        return spec


def _parse_desired(answer: Any) -> tuple[int, list[dict[str, Any]] | None]:
    """The generation and the entries (None: the answer has no list, so no change).

    An answer without ``vms`` is taken as "nothing new", never as an empty list:
    an empty list deletes every VM on the host.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("generation"), int):
        raise DesiredError(f"unexpected answer {str(answer)[:200]}")
    vms = answer.get("vms")
    if vms is None:
        return answer["generation"], None
    if not isinstance(vms, list):
        raise DesiredError("vms is not a list")
    entries = []
    for entry in vms:
        if not (isinstance(entry, dict) and isinstance(entry.get("uuid"), str)
                and entry["uuid"] and isinstance(entry.get("seq"), int)):
            # Without a uuid and a seq it cannot be carried out nor reported; its VM
            # (if any) is in no list then, so refuse the whole list rather than delete it.
            raise DesiredError(f"bad entry {str(entry)[:200]}")
        entries.append(entry)
    return answer["generation"], entries


def _nics(uuid: str, entry: Mapping[str, Any]) -> tuple[network.NicPlan, ...]:
    try:
        return network.plan(uuid, entry.get("nics"))
    except ValueError as exc:
        raise DesiredError(str(exc)) from None


def _flavor(entry: Mapping[str, Any]) -> dict[str, int]:
    flavor = entry.get("flavor")
    if not isinstance(flavor, dict):
        raise DesiredError("no flavor")
    out = {}
    for key in ("vcpus", "memory_mb", "disk_gb"):
        value = flavor.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DesiredError(f"flavor.{key} must be a whole number, not {value!r}")
        out[key] = value
    return out


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 1000 else text[:1000] + "…"


def _jitter(delay: float) -> float:
    """Hundreds of agents that lost the service do not all come back at once."""
    return delay * random.uniform(0.5, 1.0)


def _tail(path: Path) -> bytes:
    with path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - CONSOLE_BYTES))
        return f.read(CONSOLE_BYTES)


def host_uptime() -> str | None:
    """The host's uptime as ``uptime`` prints it, which is what Nova's
    os-hypervisors/{id}/uptime shows (and openstackclient parses)."""
    try:
        seconds = float(Path("/proc/uptime").read_text().split()[0])
        loads = os.getloadavg()
    except (OSError, ValueError, IndexError):
        return None
    days, rest = divmod(int(seconds), 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    up = (f"{days} day{'s' if days != 1 else ''}, " if days else "") + f"{hours:2d}:{minutes:02d}"
    now = time.strftime("%H:%M:%S")
    return (f" {now} up {up},  0 users,  load average: "
            + ", ".join(f"{x:.2f}" for x in loads))
