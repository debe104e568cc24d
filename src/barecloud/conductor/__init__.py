"""The engine: locks, workflows, reconcilers."""
