"""Persistence: models, sessions, migrations and the state-writing helper."""
