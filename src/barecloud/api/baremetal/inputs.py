"""``@accepts`` for the Bare Metal API: its declarations (services/baremetal/schemas.py),
refused in Ironic's words (services/baremetal/checks.py)."""

from __future__ import annotations

from barecloud.api.accepts import Inputs
from barecloud.services.baremetal.checks import wording

accepts = Inputs(wording)
