"""The lab's Redfish service: ``service.py`` (routes, credentials, sessions,
actions), ``documents.py`` (what a machine looks like in Redfish),
``responses.py`` (JSON answers and Redfish error bodies)."""
