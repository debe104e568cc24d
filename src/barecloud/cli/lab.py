"""``barecloud lab``: virtual machines with real BMCs, for trying and testing.

The commands are defined with the lab (:mod:`barecloud.lab.commands`), so
``python -m barecloud.lab`` (what the service spawns) and ``barecloud lab``
are the same commands; the lab imports nothing of the service.
"""

from barecloud.lab.commands import lab_app

__all__ = ["lab_app"]
