"""The Network API's ``@accepts``: declarations from services/network/schemas.py,
refusals in Neutron's words."""

from __future__ import annotations

from barecloud.api.accepts import Inputs
from barecloud.api.accepts import router as router
from barecloud.services.network.schemas import wording

accepts = Inputs(wording)
