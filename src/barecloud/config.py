"""One settings object for every process: ``BARECLOUD_*`` variables, optional TOML.

Defaults are the embedded, single-process setup (SQLite in the data
directory); production points ``BARECLOUD_DATABASE_URL`` at PostgreSQL.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BARECLOUD_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""  # empty: SQLite at <data_dir>/barecloud.sqlite
    host: str = "127.0.0.1"
    port: int = 6385
    # The URL machines and clients use to reach this service; derived if empty.
    public_url: str = ""
    # "keystone": every API but version documents, token creation, /boot/ and
    # the agent needs an X-Auth-Token; "noauth": every request is the admin
    # (development; see docs/design/tenancy.md).
    auth_strategy: Literal["keystone", "noauth"] = "keystone"
    # Lifetime of Identity tokens (seconds).
    token_expiration: int = Field(default=3600, gt=0)
    conductor_name: str = Field(default_factory=socket.gethostname)
    conductor_group: str = ""

    # Kadeploy-style windows: work over the limit waits in line.
    max_concurrent_deploys: int = 250
    max_concurrent_power_actions: int = 64
    max_concurrent_workflows: int = 1000

    # Deploy batches (docs/design/deploy-batches.md): the delivery a batch gets
    # when its request does not say; how long the chain waits for its members'
    # agents before it starts with those that are up; how many predecessors an
    # agent can fall back to before the image server; the agent's wait for a
    # silent upstream; how long a member may write without progress before it
    # is retried alone (once per retry).
    deploy_batch_delivery: Literal["chain", "http"] = "chain"
    deploy_batch_gate_timeout: float = Field(default=600.0, gt=0)
    deploy_chain_fallbacks: int = Field(default=4, ge=0)
    deploy_chain_stall_timeout: float = Field(default=10.0, gt=0)
    deploy_batch_progress_timeout: float = Field(default=30.0, gt=0)
    deploy_batch_retries: int = Field(default=1, ge=0)

    # Deadlines of wait states (seconds).
    deploy_callback_timeout: float = 1800.0
    clean_callback_timeout: float = 1800.0
    inspect_wait_timeout: float = 1800.0
    rescue_callback_timeout: float = 1800.0

    # Automated cleaning (provide, undeploy): "quick" wipes partition tables and
    # file-system signatures at both ends of the disk; "full" every byte.
    automated_clean_erase: Literal["quick", "full"] = "quick"

    # Reconcilers.
    deadline_check_interval: float = 5.0
    power_sync_interval: float = 60.0
    power_sync_max_failures: int = 3
    power_sync_workers: int = 64
    # "record": trust the hardware and record drift; "enforce": restore the
    # power state barecloud last set.
    power_state_change_policy: str = "record"
    conductor_heartbeat_interval: float = Field(default=10.0, gt=0)
    conductor_heartbeat_timeout: float = Field(default=60.0, gt=0)
    # Liveness (docs/design/engine.md, "Recovery"): a conductor drives machines
    # only until (start of its last successful heartbeat) + timeout - margin;
    # peers take its nodes over only once its heartbeat is older than the
    # timeout, so the margin must cover a hardware call in flight and the
    # clock offset's error.  0: twice the heartbeat interval, at most half the
    # timeout.  API processes heartbeat as members too, every this many seconds.
    conductor_lease_margin: float = Field(default=0.0, ge=0)
    work_poll_interval: float = 1.0

    # Network boot (docs/design/provisioning.md).  Empty agent_kernel and
    # agent_ramdisk: the lab kernel and the agent zipapp of this installation.
    agent_kernel: str = ""
    agent_ramdisk: str = ""
    # dnsmasq as a child process: DHCP on dhcp_interface over dhcp_range
    # ("10.0.0.100,10.0.0.200,255.255.255.0"); iPXE is sent dhcp_boot_url
    # (empty: <base_url>/boot/boot.ipxe).
    dhcp_enabled: bool = False
    dhcp_interface: str = ""
    dhcp_range: str = ""
    dhcp_boot_url: str = ""

    # Compute (docs/design/tenancy.md): deploys tried per server before ERROR,
    # and how often servers in transient states are brought up to date.
    scheduler_max_attempts: int = 3
    # The weigher that puts a multi-create's servers and a lease's machines under
    # as few switches as the free pool allows (docs/design/compute-api.md);
    # off: the old order (random nodes claimed by id; best-fitting hosts).
    scheduler_spare_network: bool = True
    compute_sync_interval: float = 1.0
    # VMs (docs/design/vms.md): Nova's allocation ratios (a host takes VMs up to
    # its reported total times the ratio), spread (most free RAM first) or
    # pack (least free first), and how often host agents report; a host silent
    # for host_down_after_reports reports is down.
    cpu_allocation_ratio: float = Field(default=4.0, gt=0)
    ram_allocation_ratio: float = Field(default=1.0, gt=0)
    disk_allocation_ratio: float = Field(default=1.0, gt=0)
    vm_placement: Literal["spread", "pack"] = "spread"
    host_report_interval: float = Field(default=10.0, gt=0)
    # The Glance image (name or id) nodes are deployed with to become hypervisors.
    hypervisor_image: str = "barecloud-hypervisor"
    # The network (name or id) a hypervisor's first NIC is bound to when it is
    # deployed, where its host agent reaches the service; empty: the
    # provisioning network (where the service listens for machines already).
    hypervisor_network: str = ""
    host_down_after_reports: int = Field(default=3, gt=0)
    # Remote consoles (docs/design/remote-consoles.md): how long a console URL's
    # token opens the console (Nova's [consoleauth] token_ttl).
    console_token_ttl: float = Field(default=600.0, gt=0)
    # Over PostgreSQL, API processes hand each other the host agents' legs of VM
    # console sessions (services/compute/console_peers.py): where this process
    # listens for its peers (empty: ``host``; a wildcard is advertised as this
    # host's address towards the database) and on what port (0: any free one).
    console_relay_host: str = ""
    console_relay_port: int = Field(default=0, ge=0, le=65535)

    # Networks (docs/design/networking.md).  Segment ids are allocated from
    # these "first:last" ranges (several separated by commas).
    network_default_type: Literal["vxlan", "vlan", "flat"] = "vxlan"
    network_vni_ranges: str = "5000:5999"
    network_vlan_ranges: str = "100:199"
    network_default_mtu: int = 1450
    # Operator networks (name or id): where deploying and cleaning machines'
    # NICs go; empty: the node's ports are not moved (noop behaviour).
    provisioning_network: str = ""
    cleaning_network: str = ""
    # Switches: {name: {"driver": "linux-bridge" | "generic-ssh" | "fake", ...}};
    # the per-driver keys are in drivers/switches/.  Credentials are secrets.
    switches: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The switch barecloud's own host is cabled to (it must be able to plug
    # host ports, as linux-bridge does): tenant networks' DHCP servers go
    # there.  Empty: no DHCP on tenant networks (config drive only).
    network_host_switch: str = ""
    # How often switch port counters are sampled for the top-talker report.
    switch_counter_interval: float = 10.0
    # The sFlow collector (docs/design/flows.md): the address it listens on
    # and switches that export flows send to (empty: ``host``; each switch
    # gets a UDP port of its own, chosen free), and how often what it
    # sampled is written, summed per flow.
    flow_collector_host: str = ""
    flow_interval: float = Field(default=10.0, gt=0)

    # Leases (docs/design/leasing.md).  Durations are in seconds; 0 = no limit.
    lease_max_duration: int = 0
    # An extension (a later end) is accepted only this close to the lease's end.
    lease_extension_window: int = 0
    # At most this many machines held by one project at any instant.
    lease_max_hosts_per_project: int = 0
    # Kept free between two leases of one machine for its cleaning (Blazar's
    # cleaning_time), in seconds.
    lease_cleaning_time: int = 0
    # How often the lease manager looks for due events and broken machines.
    lease_interval: float = 5.0
    # A test- or demo-controlled clock for leases: when set, "now" is the ISO
    # time written in this file (re-read each time); otherwise the real clock.
    lease_clock_file: str = ""

    # API.
    api_max_limit: int = 1000
    sqlite_busy_timeout_ms: int = 30000
    # PostgreSQL connections per process, opened on demand and kept.
    db_pool_size: int = 40
    # Background work (everything but a user's read) holding a turn at once, per
    # process (docs/design/admission.md); 0: 2 on SQLite, 8 on PostgreSQL.
    admission_slots: int = Field(default=0, ge=0)
    # No turn given back for this long: the holders are stuck, one more is taken.
    admission_max_wait: float = Field(default=2.0, gt=0)

    # Divided periodic work (docs/design/engine.md, "Power sync").  A step that
    # raises a retryable driver error (a BMC with no free session) is run again
    # after the error's delay for at most this many seconds, then fails.  How
    # often a conductor that is not the network leader tries to become it.
    step_retry_timeout: float = Field(default=60.0, ge=0)
    leader_retry_interval: float = Field(default=5.0, gt=0)

    # Operability (docs/design/operability.md).  /metrics is served without a
    # token, as Prometheus exporters are (keep the port internal), unless this
    # asks for an admin's; /readyz fails when the database takes longer.
    metrics_require_auth: bool = False
    readiness_timeout: float = Field(default=2.0, gt=0)
    # `barecloud conductor` serves no API: its step and power-sync metrics are
    # served on this port (on `host`) when set; 0: not served.
    conductor_metrics_port: int = Field(default=0, ge=0, le=65535)

    # Limits (docs/design/limits.md).  Request bodies: JSON on every API (Nova's
    # and Keystone's max_request_body_size), the agent's reports (an inventory of
    # hundreds of disks and NICs fits many times over), an image upload (Glance's
    # image_size_cap), in bytes; over the limit is a 413.  Seconds a client may
    # take to send its request's headers, and to send the next piece of its
    # body (a JSON body must also arrive whole within it).
    api_max_body_size: int = Field(default=114688, gt=0)
    agent_max_body_size: int = Field(default=1048576, gt=0)
    image_size_cap: int = Field(default=1099511627776, gt=0)
    api_header_timeout: float = Field(default=20.0, gt=0)
    api_body_timeout: float = Field(default=30.0, gt=0)
    # Failed logins (Keystone's lockout_failure_attempts, lockout_duration): a
    # user name, known or not, is locked for lockout_duration seconds after
    # that many failures in a row; a source address after
    # lockout_source_attempts failures within lockout_duration.  0 disables.
    lockout_failure_attempts: int = Field(default=6, ge=0)
    lockout_duration: int = Field(default=1800, gt=0)
    lockout_source_attempts: int = Field(default=30, ge=0)

    # Image API (docs/design/image-api.md), Glance's options of the same names.
    # show_multiple_locations: images show their ``locations`` and the owner's
    # members add http(s) ones (Glance's http store, read-only; the service
    # asks each URL for its size).  Import methods offered besides glance-direct
    # ("web-download": the service downloads a URL the import names, if it passes
    # the filter below, Glance's [import_filtering_opts]: a scheme, host and port
    # allowed; empty allowed_hosts: any host not disallowed).  image_cache: keep
    # Glance's image cache (/v2/cache) under <data_dir>/image-cache.
    image_show_multiple_locations: bool = False
    image_import_methods: list[Literal["glance-direct", "web-download"]] = ["glance-direct"]
    image_import_allowed_schemes: list[str] = ["http", "https"]
    image_import_allowed_hosts: list[str] = []
    image_import_disallowed_hosts: list[str] = []
    image_import_allowed_ports: list[int] = [80, 443]
    image_cache: bool = False

    # Secrets: how long a signed image URL (/boot/images/<id>?node&expires&signature,
    # conductor/image_urls.py) outlives the deploy wait it is issued for, so that a
    # slow write's late Range resumes still work.
    image_url_margin: float = Field(default=1800.0, ge=0)

    # IPMI sessions (docs/design/drivers-ipmi-redfish.md): an open session is
    # sent a keep-alive once per interval (0: never), so that BMCs (idle
    # timeout 60 s, some 30 s) keep it between power syncs; one no call used
    # for ipmi_session_max_idle (a node deleted or moved) is logged out: keep
    # that above power_sync_interval, or every sweep logs in again.
    ipmi_keepalive_interval: float = Field(default=20.0, ge=0)
    ipmi_session_max_idle: float = Field(default=300.0, gt=0)

    # Provisioning channel secrets (docs/design/provisioning.md, "Token"): a
    # node's boot script, which carries its agent token, is served once and
    # only this many seconds after it is written (the machine's reboot and POST
    # must fit in it).  A non-empty provisioning_listen_address is the only
    # local address /boot/ and the agent's endpoints answer on (404 elsewhere).
    boot_script_ttl: float = 900.0
    provisioning_listen_address: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("BARECLOUD_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'barecloud.sqlite'}"

    @model_validator(mode="after")
    def _chain_timeouts(self) -> Settings:
        # A member waiting out a silent upstream (a stall, then a second try) shows no
        # progress meanwhile: it must not be taken for dead and rebooted for that.
        if self.deploy_batch_progress_timeout <= 2 * self.deploy_chain_stall_timeout:
            raise ValueError(
                f"deploy_batch_progress_timeout ({self.deploy_batch_progress_timeout:g} s) "
                "must be more than twice deploy_chain_stall_timeout "
                f"({self.deploy_chain_stall_timeout:g} s)")
        return self

    @property
    def lease_margin(self) -> float:
        """The liveness margin in effect (``conductor_lease_margin``, or its default)."""
        if self.conductor_lease_margin:
            return self.conductor_lease_margin
        return min(2 * self.conductor_heartbeat_interval, self.conductor_heartbeat_timeout / 2)

    @model_validator(mode="after")
    def _lease(self) -> Settings:
        # A lease of zero seconds: the conductor could never act.
        if self.lease_margin >= self.conductor_heartbeat_timeout:
            raise ValueError(
                f"conductor_lease_margin ({self.lease_margin:g} s) must be less than "
                f"conductor_heartbeat_timeout ({self.conductor_heartbeat_timeout:g} s)")
        return self

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def boot_url(self) -> str:
        """The first iPXE script DHCP hands out."""
        return self.dhcp_boot_url or f"{self.base_url}/boot/boot.ipxe"

    def wait_timeout(self, state: str) -> float:
        from barecloud import states

        return {
            states.DEPLOYWAIT: self.deploy_callback_timeout,
            states.CLEANWAIT: self.clean_callback_timeout,
            states.INSPECTWAIT: self.inspect_wait_timeout,
            states.RESCUEWAIT: self.rescue_callback_timeout,
        }.get(state, self.deploy_callback_timeout)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
