"""Image (Glance v2) business rules: records, the store, sharing."""
