"""What drivers see of a node: a frozen view of its row, its secrets opened.

The engine builds one for each step it runs, the power sync for each node it
probes (conductor/reconcilers.py), the API for the driver calls it makes
itself (validate, vendor passthru).
"""

from __future__ import annotations

from collections.abc import Sequence

from barecloud.db.models import Node, Port
from barecloud.db.sealed import Keyring
from barecloud.drivers.base import NodeView, PortView


def node_view(node: Node, keys: Keyring, *, with_ports: bool = True,
              ports: Sequence[Port] | None = None) -> NodeView:
    """What drivers see of a node: its secrets opened (they are sealed in the
    database; ``keys`` is ``sealed.keyring(settings.data_dir)``).  ``ports``, when
    given, are the node's ports as the caller queried them (an async session
    cannot load ``node.ports`` lazily); ``with_ports=False`` shows none."""
    if ports is None:
        ports = node.ports if with_ports else ()
    dii = dict(node.driver_internal_info or {})
    dii.update(node.agent_info())  # the agent's row, under the keys drivers read
    dii["interfaces"] = {
        name: getattr(node, f"{name}_interface")
        for name in ("boot", "console", "deploy", "inspect", "management", "network",
                     "power", "rescue")
    }
    return NodeView(
        uuid=node.uuid,
        name=node.name,
        driver=node.driver,
        driver_info=keys.open_info(node.driver_info or {}),
        driver_internal_info=dii,
        properties=dict(node.properties or {}),
        instance_info=dict(node.instance_info or {}),
        power_state=node.power_state,
        provision_state=node.provision_state,
        ports=tuple(
            PortView(p.address, p.pxe_enabled, dict(p.local_link_connection or {}),
                     p.physical_network, dict(p.internal_info or {}))
            for p in ports
        ),
        workflow_args=dict(node.workflow_args or {}),
    )
