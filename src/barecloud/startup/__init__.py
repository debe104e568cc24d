"""Starting and administering the service: what ``barecloud serve``, ``api``,
``conductor``, ``db upgrade`` and ``secrets rotate`` run.

Below ``cli/`` (which parses arguments and prints) and above ``api/``: the
server-side commands legitimately work on the database (as ``nova-manage``
does), and they do it from here, so that ``cli/`` stays a client.
"""
