"""Blazar's Reservation API v1 under /reservation/v1 (design: docs/design/leasing.md)."""
