"""``@accepts`` for /boot/: what machines fetch takes no body, and only the signed
image URL a query string; refusals are the plain ``{"error": ...}`` of these routes."""

from __future__ import annotations

from barecloud.api.accepts import Inputs
from barecloud.services.validation import plain_wording

accepts = Inputs(plain_wording)
