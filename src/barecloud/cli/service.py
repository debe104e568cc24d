"""Reaching the service from the CLI: a client with a token, errors as one line.

A service that cannot be reached, or an error answer in any OpenStack
service's format, is one line on stderr and an exit status, not a traceback.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

TokenOpt = Annotated[str | None, typer.Option("--token", envvar="OS_TOKEN",
                                              help="X-Auth-Token (default: from --cloud).")]
CloudOpt = Annotated[str | None, typer.Option(
    "--cloud", envvar="OS_CLOUD", help="Get a token as this cloud of clouds.yaml.")]
BM_HEADERS = {"X-OpenStack-Ironic-API-Version": "latest"}


class _Reaching(httpx.HTTPTransport):
    """A service that cannot be reached is one line and exit status 2, not a traceback."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.TransportError as exc:
            where = f"{request.url.scheme}://{request.url.netloc.decode()}"
            typer.echo(f"error: cannot reach barecloud at {where}: {exc or type(exc).__name__}",
                       err=True)
            raise typer.Exit(2) from None


def client(url: str, token: str | None, cloud: str | None, *,
           prefix: str = "/baremetal/v1",
           headers: dict[str, str] | None = None) -> httpx.Client:
    from barecloud.cli.credentials import CredentialsError, Unreachable, token_for_cloud

    headers = dict(BM_HEADERS if headers is None else headers)
    if not token and cloud:
        try:
            token = token_for_cloud(cloud)
        except CredentialsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2 if isinstance(exc, Unreachable) else 1) from None
    if token:
        headers["X-Auth-Token"] = token
    return httpx.Client(base_url=url.rstrip("/") + prefix, headers=headers,
                        timeout=60, transport=_Reaching())


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            if "NeutronError" in body:
                message = body["NeutronError"]["message"]
            elif len(body) == 1 and isinstance(next(iter(body.values())), dict) and (
                    "message" in next(iter(body.values()))):  # Nova's {"<fault>": {...}}
                message = next(iter(body.values()))["message"]
            elif isinstance(body.get("error_code"), int):  # Blazar's: a plain message
                message = body["error_message"]
            else:
                message = json.loads(body["error_message"])["faultstring"]
        except Exception:
            message = response.text
        typer.echo(f"error {response.status_code}: {message}", err=True)
        raise typer.Exit(1)
    return response.json() if response.content else None


def service_url(url: str | None, cloud: str | None) -> str:
    """``--url``, else the service of ``--cloud``, else the local default."""
    from barecloud.cli.credentials import CredentialsError, service_url_for_cloud

    if url is not None:
        return url
    try:
        return service_url_for_cloud(cloud) if cloud else "http://127.0.0.1:6385"
    except CredentialsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


ServiceUrlOpt = Annotated[str | None, typer.Option(
    "--url", envvar="BARECLOUD_URL",
    help="The barecloud service (default: --cloud's, else http://127.0.0.1:6385).")]
