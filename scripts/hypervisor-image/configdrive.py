"""Read the config drive for the hypervisor image's /init (python3, stdlib only).

    python3 configdrive.py DIR OUT

DIR is ``openstack/latest`` of the mounted drive.  Writes into OUT:
``url`` (the service's), ``credential`` (mode 0600, made so before a byte is
in it) and ``hostname`` (from meta_data.json).  Exit 1, with one line on
stderr, when vendor_data.json has no ``barecloud_host_agent`` entry.
"""

import json
import os
import sys


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        print(f"barecloud-hypervisor: {path}: {exc}", file=sys.stderr)
        return {}


def write(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def main(src, out):
    meta = load(os.path.join(src, "meta_data.json"))
    vendor = load(os.path.join(src, "vendor_data.json"))
    name = meta.get("hostname") or meta.get("name") if isinstance(meta, dict) else None
    if isinstance(name, str) and name:
        write(os.path.join(out, "hostname"), name.split(".")[0])
    agent = vendor.get("barecloud_host_agent") if isinstance(vendor, dict) else None
    url = agent.get("url") if isinstance(agent, dict) else None
    credential = agent.get("credential") if isinstance(agent, dict) else None
    if not (isinstance(url, str) and url.startswith(("http://", "https://"))
            and isinstance(credential, str) and credential):
        print("barecloud-hypervisor: vendor_data.json has no barecloud_host_agent "
              "{url, credential}", file=sys.stderr)
        return 1
    write(os.path.join(out, "url"), url)
    write(os.path.join(out, "credential"), credential, 0o600)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
