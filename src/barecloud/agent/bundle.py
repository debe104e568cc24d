"""The agent as one file: a zipapp that ``python3 ramdisk`` runs.

The service serves it at ``/boot/agent/ramdisk`` when no real initramfs is
configured, and the lab firmware runs it.  It holds ``barecloud/__init__.py``
and ``barecloud/agent/**.py`` only (the agent imports nothing else of
barecloud) and a ``__main__`` that runs the agent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipapp
from pathlib import Path

INTERPRETER = "/usr/bin/env python3"
MAIN = '"""Run the barecloud agent."""\nimport sys\n\nfrom barecloud.agent.cli import main\n\n' \
       "sys.exit(main())\n"


def build(target: str | os.PathLike[str]) -> Path:
    """Write the agent's zipapp to ``target`` atomically (a reader never sees half)."""
    target = Path(target)
    package = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="barecloud-agent-") as tmp:
        staging = Path(tmp)
        (staging / "barecloud").mkdir()
        shutil.copy2(package.parent / "__init__.py", staging / "barecloud" / "__init__.py")
        for source in sorted(package.rglob("*.py")):
            if "__pycache__" in source.parts:
                continue
            dest = staging / "barecloud" / "agent" / source.relative_to(package)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
        (staging / "__main__.py").write_text(MAIN, encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            zipapp.create_archive(staging, partial, interpreter=INTERPRETER, compressed=True)
            os.chmod(partial, 0o755)
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    return target
