"""Identity API v3 (Keystone) under /identity."""
