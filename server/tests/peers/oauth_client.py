"""The official MCP Python SDK's OAuth client (mcp 2.x) against the gateway's authorization
server: no token given, it discovers everything from the endpoint's 401 (protected resource
metadata, authorization server metadata), registers itself, sends the user to the
authorization URL with PKCE, exchanges the code and calls tools with the token.

usage: oauth_client.py URL MODE   (MODE: auto or legacy, as in python_client.py)
env:   SWITCHYARD_COOKIE, SWITCHYARD_CSRF: a console session, standing in for the person at
       the browser who signs in and presses Allow on the consent page.
Prints one JSON line with what it saw.
"""

import asyncio
import json
import os
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)


class Memory:
    """TokenStorage kept in memory for one run."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def main(url: str, mode: str) -> None:
    origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
    browser = httpx2.AsyncClient(
        headers={"Cookie": os.environ["SWITCHYARD_COOKIE"]}, follow_redirects=False, timeout=30
    )
    seen: dict = {}
    answer: dict = {}

    async def redirect_handler(authorization_url: str) -> None:
        seen["authorization_url"] = authorization_url
        r = await browser.get(authorization_url)
        consent = r.headers["location"]
        request = parse_qs(urlparse(consent).query)["request"][0]
        shown = (await browser.get(f"{origin}/api/v1/oauth/requests/{request}")).json()
        seen["consent"] = shown
        r = await browser.post(
            f"{origin}/api/v1/oauth/requests/{request}",
            json={"allow": True},
            headers={"x-csrf-token": os.environ["SWITCHYARD_CSRF"]},
        )
        query = parse_qs(urlparse(r.json()["redirect_to"]).query)
        answer.update({k: query[k][0] for k in ("code", "state", "iss") if k in query})

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(**answer)

    storage = Memory()
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK OAuth client",
            redirect_uris=["http://127.0.0.1:33418/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    http = httpx2.AsyncClient(auth=provider, timeout=30)
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        seen["protocol"] = client.session.protocol_version
        tools = await client.list_tools()
        seen["tools"] = sorted(t.name for t in tools.tools)
        echo = await client.call_tool("everything.echo", {"message": f"oauth {mode}"})
        seen["echo"] = [c.text for c in echo.content if getattr(c, "text", None)]
    seen["client_id"] = storage.client.client_id if storage.client else None
    seen["scope"] = storage.tokens.scope if storage.tokens else None
    seen["has_refresh_token"] = bool(storage.tokens and storage.tokens.refresh_token)
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
