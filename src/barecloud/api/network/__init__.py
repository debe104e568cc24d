"""Network API v2.0 (Neutron's) under /network."""
