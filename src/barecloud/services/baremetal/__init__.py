"""Bare Metal (Ironic v1) business rules: nodes, ports, allocations, the agent's channel."""
