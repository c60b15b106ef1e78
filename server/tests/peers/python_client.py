"""The official MCP Python SDK client (mcp 2.x) against the gateway.

usage: python_client.py URL TOKEN MODE   (MODE: auto = server/discover, 2026-07-28; legacy =
initialize). Lists tools, calls `everything.echo`, lists and reads a resource, gets a prompt,
and checks that a denied tool is refused; prints one JSON line with what it saw.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, mode: str) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        seen: dict = {"protocol": client.session.protocol_version}
        tools = await client.list_tools()
        seen["tools"] = sorted(t.name for t in tools.tools)
        echo = await client.call_tool("everything.echo", {"message": f"python {mode}"})
        seen["echo"] = [c.text for c in echo.content if getattr(c, "text", None)]
        try:
            await client.call_tool("everything.get-env", {})
            seen["denied"] = "called"
        except Exception as error:  # the SDK raises the JSON-RPC error
            seen["denied"] = str(error)
        resources = await client.list_resources()
        seen["resource"] = str(resources.resources[0].uri)
        read = await client.read_resource(resources.resources[0].uri)
        seen["read_uri"] = str(read.contents[0].uri)
        prompts = await client.list_prompts()
        simple = next(p for p in prompts.prompts if not any(a.required for a in (p.arguments or [])))
        got = await client.get_prompt(simple.name)
        seen["prompt_messages"] = len(got.messages)
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
