"""``python3 -m barecloud.hostagent``."""

import sys

from barecloud.hostagent.cli import main

sys.exit(main())
