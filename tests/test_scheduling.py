"""The suite's own parallel running: work units, their order, and per-worker ports."""

from __future__ import annotations

import pytest

from tests import support
from tests.scheduling import HOST_NETWORK, PG_CLUSTERS, REAL_VMS, unit, weight


def test_host_network_tests_are_one_unit_and_other_tests_go_by_module() -> None:
    assert unit("tests/services/boot/test_dhcp.py::test_a_pxe_rom_gets_ipxe_by_tftp"
                ) == HOST_NETWORK
    assert unit("tests/acceptance/test_readme.py::test_the_readme_blocks_run_in_order"
                ) == HOST_NETWORK
    netns = ("tests/startup/test_serve_processes.py::"
             "test_sigkill_of_a_netns_lab_service_leaves_no_process")
    assert unit(netns) == HOST_NETWORK
    loopback = "tests/startup/test_serve_processes.py::test_two_loopback_labs_run_at_once"
    assert unit(loopback) == "tests/startup/test_serve_processes.py"
    assert unit("tests/api/compute/test_flavors.py::test_x[postgresql]") == (
        "tests/api/compute/test_flavors.py")
    # The PostgreSQL clusters: one unit, whichever of their modules.
    assert unit("tests/startup/test_faults.py::test_no_invariant_breaks_under_kills_pauses_"
                "and_restarts") == unit("tests/startup/test_scale_out.py::test_x") == PG_CLUSTERS
    # A module whose name starts like a listed one's is not in the group.
    assert (unit("tests/services/boot/test_dhcp_more.py::test_x")
            == "tests/services/boot/test_dhcp_more.py")


def test_the_host_group_goes_first_then_heavy_modules_then_by_size() -> None:
    units = {HOST_NETWORK: 9, "tests/api/image/test_bad_input.py": 212,
             "tests/acceptance/test_leasing.py": 1, "tests/lab/test_faults.py": 5}
    order = sorted(units, key=lambda u: weight(u, units[u]), reverse=True)
    assert order == [HOST_NETWORK, "tests/lab/test_faults.py",
                     "tests/acceptance/test_leasing.py", "tests/api/image/test_bad_input.py"]


def test_real_vms_wait_for_the_groups_then_go_before_everything_else() -> None:
    units = {REAL_VMS: 6, "tests/api/image/test_bad_input.py": 212,
             "tests/acceptance/test_leasing.py": 1, PG_CLUSTERS: 7}
    waiting = sorted(units, key=lambda u: weight(u, units[u]), reverse=True)
    assert waiting[-1] == REAL_VMS
    del units[PG_CLUSTERS]
    over = sorted(units, key=lambda u: weight(u, units[u], groups_over=True), reverse=True)
    assert over[0] == REAL_VMS


def test_workers_take_ports_from_slices_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    slices = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
        slices.append(set(support.worker_ports(support.SERVICE_PORTS)))
        port = support.free_port()
        assert port in slices[-1] and support.port_free(port)
    assert not (slices[0] & slices[1] or slices[1] & slices[2] or slices[0] & slices[2])
    assert set().union(*slices) <= set(support.SERVICE_PORTS)
    assert max(support.SERVICE_PORTS) < 15000  # below the labs' default ports
