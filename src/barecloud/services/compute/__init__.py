"""Compute (Nova v2.1) business rules: servers, flavors, scheduling, quotas."""
