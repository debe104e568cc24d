"""``python3 -m barecloud.agent``."""

import sys

from barecloud.agent.cli import main

sys.exit(main())
