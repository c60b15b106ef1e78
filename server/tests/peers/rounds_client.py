"""The official MCP Python SDK client (mcp 2.x) calling a tool whose upstream asks for input
through the gateway (server/tests/mcp_rounds.rs).

usage: rounds_client.py URL TOKEN MODE TOOL ARGUMENTS ANSWER
MODE: auto (2026-07-28: the SDK drives the input_required rounds, SEP-2322) or legacy
(initialize: the question comes as elicitation/create mid-call). ARGUMENTS: the tool's, as
JSON; ANSWER: the content the "user" accepts with, as JSON. Prints one JSON line: the
protocol, the tool's text, what was asked.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
import mcp.types as types


async def main(url: str, token: str, mode: str, tool: str, arguments: str, answer: str) -> None:
    asked: list[str] = []

    async def elicit(_context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content=json.loads(answer))

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    transport = streamable_http_client(url, http_client=http)
    async with Client(transport, mode=mode, elicitation_callback=elicit) as client:
        result = await client.call_tool(tool, json.loads(arguments))
        text = [c.text for c in result.content if getattr(c, "text", None)]
        seen = {"protocol": client.session.protocol_version, "text": text, "asked": asked}
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
