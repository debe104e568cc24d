"""Hardware and network drivers behind small Protocols (see base.py)."""
