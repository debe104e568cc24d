"""The unmodified ``openstack`` CLI, run on the clouds.yaml a test's service wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests import preloaded, support

OPENSTACK = Path(sys.executable).parent / "openstack"


class Cli:
    def __init__(self, svc: support.Service, cloud: str = "barecloud") -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update({"OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml), "OS_CLOUD": cloud,
                         "PYTHONWARNINGS": "ignore"})

    def run(self, *args: str, ok: bool = True, cloud: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "OS_CLOUD": cloud} if cloud else self.env
        proc = preloaded.run([str(OPENSTACK), *args], env=env, capture_output=True,
                             text=True, timeout=300)
        assert (proc.returncode == 0) == ok, (args, proc.stdout, proc.stderr)
        return proc

    def json(self, *args: str, cloud: str | None = None) -> Any:
        return json.loads(self.run(*args, "-f", "json", cloud=cloud).stdout)
