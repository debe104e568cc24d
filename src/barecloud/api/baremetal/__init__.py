"""Bare Metal API v1, compatible with OpenStack Ironic."""
