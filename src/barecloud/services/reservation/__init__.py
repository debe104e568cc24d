"""Leasing physical machines: Blazar's Reservation v1 (docs/design/leasing.md)."""
