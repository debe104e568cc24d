"""HTTP: one package per OpenStack service, with thin handlers."""
