"""The official MCP Python SDK client (mcp 2.x) against `switchyard serve-tool math`.

usage: math_client.py MODE stdio BINARY   (launches `BINARY serve-tool math` over stdio)
       math_client.py MODE http URL       (Streamable HTTP)
MODE: auto (server/discover, 2026-07-28) or legacy (initialize). Lists the tools with their
annotations, evaluates an expression, converts a unit, sends a bad expression and calls an
unknown tool; prints one JSON line with what it saw.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def main(mode: str, transport: str, target: str) -> None:
    server = StdioServerParameters(command=target, args=["serve-tool", "math"]) if transport == "stdio" else target
    async with Client(server, mode=mode) as client:
        seen: dict = {"protocol": client.session.protocol_version}
        tools = await client.list_tools()
        seen["tools"] = {
            t.name: {"read_only": t.annotations.read_only_hint, "destructive": t.annotations.destructive_hint,
                     "has_output_schema": t.output_schema is not None}
            for t in tools.tools
        }
        result = await client.call_tool("evaluate", {"expression": "2^64 + x", "variables": {"x": 1}})
        seen["evaluate"] = result.structured_content
        converted = await client.call_tool("convert_units", {"value": 100, "from": "°C", "to": "°F"})
        seen["convert"] = converted.structured_content
        bad = await client.call_tool("evaluate", {"expression": "(1 + 2"})
        seen["bad"] = {"is_error": bad.is_error, "text": [c.text for c in bad.content]}
        try:
            await client.call_tool("nope", {})
            seen["unknown"] = "called"
        except Exception as error:  # the SDK raises the JSON-RPC error
            seen["unknown"] = str(error)
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
