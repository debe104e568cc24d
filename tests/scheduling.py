"""How ``pytest -n N`` (pytest-xdist) shares the suite between workers.

A work unit is a test module, so a module's shared service (module-scoped
fixtures) starts once, on one worker.  The tests of ``HOST_NETWORK`` form one
unit whatever their module: they use what a host has only once (``serve
--netns`` plugs ``bcprov0`` with 10.97.0.1 and runs DHCP on port 67 in the
root namespace), so they run one after the other on one worker while the
other workers run the rest.  A new test that starts ``serve --netns`` (or
its own DHCP server in the root namespace) goes in that list.  Likewise
``PG_CLUSTERS``: the tests that start clusters of processes on PostgreSQL.
The heaviest units go first (the groups, then the acceptance, lab, CLI and
startup modules, then the rest by size), so that no long test is left to run
alone at the end.

The list is here, not an ``xdist_group`` mark: pytest-xdist tells the
scheduler a test's group by appending it to the node id, which pytest 9.2
no longer lets a plugin change.

Everything else the workers could share is kept apart by the fixtures:
ports (``support.free_port`` and the labs' ``free_range`` take from the
worker's own slice), databases (a new PostgreSQL database per test or
module, named at random), directories (``tmp_path`` is per worker), and
namespaces and interfaces (named after the lab's path, the PID or a random
tag).
"""

from __future__ import annotations

from typing import Any

import pytest

HOST_NETWORK = "host-network"
HOST_NETWORK_TESTS = (  # modules, or single tests by node id
    "tests/acceptance/test_readme.py",  # the README's serve --lab 4 --netns
    "tests/acceptance/test_tenant_isolation.py",
    "tests/acceptance/test_ipv6.py",  # dual stack between lab machines, routed outside
    "tests/acceptance/test_security_groups_netns.py",
    "tests/acceptance/test_flows.py",  # serve --lab 2 --netns --switch openvswitch
    "tests/acceptance/test_floating_ips.py",  # routers' namespaces, the lab's outside
    "tests/acceptance/test_vm_floating_ips.py",  # and a real VM behind them
    "tests/acceptance/test_chain_failures.py",
    "tests/lab/test_service_rate.py",
    "tests/lab/test_netns_hypervisor.py",  # and a real VM in the machine's namespace
    "tests/acceptance/test_seed_experiment.py",  # three lab hypervisors, six real VMs
    "tests/services/boot/test_dhcp.py",  # dnsmasq on port 67 in the root namespace
    # a qdhcp- namespace of its own, which test_tenant_isolation's check would see
    "tests/services/network/test_agent_dhcp.py",
    "tests/startup/test_serve_processes.py::test_sigkill_of_a_netns_lab_service_leaves_no_process",
)

# Clusters of processes on PostgreSQL (API and conductor processes, each with its
# own pool, and the fault run's checker): one of them takes half of the server's
# 100 connections, two at once more than it has.  One unit: one after another.
PG_CLUSTERS = "pg-clusters"
PG_CLUSTER_TESTS = ("tests/startup/test_faults.py", "tests/startup/test_scale_out.py",
                    "tests/startup/test_console_processes.py")

# Real VMs under TCG burn a core each (four at once in test_qemu.py): one unit,
# started once the host-network and PostgreSQL cluster units are over, so that it
# does not run beside them (it upset their timings: the chain test, the fault
# run), and not last either (alone at the end, it left the other workers idle
# for two minutes).
REAL_VMS = "real-vms"
REAL_VM_TESTS = ("tests/hostagent/test_qemu.py", "tests/acceptance/test_real_vms.py")

# Modules that hold the suite's long tests (real labs, clients, deploys, the fuzzer's
# minute of CPU in one test): started first, else one is left to run alone at the end.
HEAVY = ("tests/acceptance/", "tests/lab/", "tests/cli/", "tests/startup/",
         "tests/drivers/test_lab.py", "tests/api/test_fuzz.py")


def unit(nodeid: str) -> str:
    """The work unit of a test: ``HOST_NETWORK``, ``PG_CLUSTERS`` or ``REAL_VMS`` for
    the tests listed there, else its module."""
    for group, listed_tests in ((HOST_NETWORK, HOST_NETWORK_TESTS),
                                (PG_CLUSTERS, PG_CLUSTER_TESTS), (REAL_VMS, REAL_VM_TESTS)):
        for listed in listed_tests:
            if nodeid == listed or nodeid.startswith((f"{listed}::", f"{listed}[")):
                return group
    return nodeid.split("::", 1)[0]


def weight(scope: str, tests: int, groups_over: bool = False) -> tuple[int, int]:
    """Which unit goes first: the groups, then the heavy modules, larger first; the
    real VMs as soon as the host-network and PostgreSQL groups are over
    (``groups_over``), last while they are not."""
    if scope == REAL_VMS:
        return (3 if groups_over else -1, tests)
    if scope in (HOST_NETWORK, PG_CLUSTERS):
        return (2, tests)
    return (1 if scope.startswith(HEAVY) else 0, tests)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scope scheduling, with our units, heaviest first."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit(nodeid)

        def _groups_over(self) -> bool:
            """The host-network and PostgreSQL cluster units ran every test."""
            groups = (HOST_NETWORK, PG_CLUSTERS)
            return not any(group in self.workqueue for group in groups) and all(
                all(work[group].values())
                for work in self.assigned_work.values() for group in groups if group in work)

        def _assign_work_unit(self, node: Any) -> None:
            over = self._groups_over()
            heaviest = max(self.workqueue,
                           key=lambda scope: weight(scope, len(self.workqueue[scope]), over))
            self.workqueue.move_to_end(heaviest, last=False)
            super()._assign_work_unit(node)

    return UnitScheduling(config, log)
