"""Fixtures for the agent's tests: HTTP servers on loopback, closed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.servers import FakeApi, FileServer


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., FileServer]]:
    """Start a file server on a directory (default: the test's tmp_path)."""
    servers: list[FileServer] = []

    def start(root: Path | None = None, **options: Any) -> FileServer:
        server = FileServer(root or tmp_path, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def fake_api() -> Iterator[Callable[..., tuple[FakeApi, str]]]:
    """Start the service's agent API in memory; (api, base URL)."""
    apis: list[FakeApi] = []

    def start(**options: Any) -> tuple[FakeApi, str]:
        options.setdefault("node_uuid", "0b7c1a52-2a2f-4e6c-9a57-5f1c3c1d0e01")
        options.setdefault("macs", {"52:54:00:10:00:01"})
        options.setdefault("token", "s3cret-token")
        api = FakeApi(**options)
        url = api.start()
        apis.append(api)
        return api, url

    yield start
    for api in apis:
        api.close()
