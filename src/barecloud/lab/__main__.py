"""``python -m barecloud.lab up|down|status|fault|console|enroll``: see barecloud.lab."""

from barecloud.lab.commands import main

main()
