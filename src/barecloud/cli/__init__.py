"""The ``barecloud`` command."""
