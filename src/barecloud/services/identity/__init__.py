"""Identity (Keystone v3): users, projects, roles, tokens; see docs/design/tenancy.md."""
