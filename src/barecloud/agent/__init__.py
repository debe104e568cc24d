"""The deploy agent: runs on the machine (``python3 -m barecloud.agent``).

Standard library only, and imports nothing of barecloud but ``barecloud.agent``:
it is shipped alone, as a zipapp (see :mod:`barecloud.agent.bundle`), into a
ramdisk that has a bare ``python3``.  See docs/design/provisioning.md.
"""
