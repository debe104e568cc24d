"""The Image API's ``@accepts``: declarations from services/image/schemas.py,
refusals in Glance's words, bodies read as Glance reads them."""

from __future__ import annotations

from barecloud.api.accepts import Inputs
from barecloud.api.image import params
from barecloud.services.image.errors import wording

accepts = Inputs(wording, read=params.json_body)
