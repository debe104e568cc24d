"""The Identity API's ``@accepts``: declarations from services/identity/schemas.py,
refusals in Keystone's words."""

from __future__ import annotations

from barecloud.api.accepts import Inputs
from barecloud.api.accepts import router as router
from barecloud.services.identity.schemas import wording

accepts = Inputs(wording)
