"""A fixture upstream on the official MCP Python SDK (mcp 2.x `MCPServer`), over stdio or
Streamable HTTP, with tools whose annotations the gateway must respect.

usage: fixture_server.py stdio [MARKER]  |  fixture_server.py http PORT
MARKER is ignored; tests pass one to find the process.
"""

import asyncio
import sys

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("switchyard-fixture")
writes = 0


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
def add(a: float, b: float) -> str:
    """Adds a and b."""
    return str(a + b)


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, idempotentHint=False, destructiveHint=True))
async def slow_write(seconds: float) -> str:
    """Writes something after `seconds`: not safe to repeat."""
    global writes
    await asyncio.sleep(seconds)
    writes += 1
    return f"write {writes} done"


@server.tool()
async def hog(mb: int, seconds: float) -> str:
    """Holds `mb` MiB of memory for `seconds` (to test the gateway's limits)."""
    held = bytearray(mb * 1024 * 1024)
    for i in range(0, len(held), 4096):
        held[i] = 1
    await asyncio.sleep(seconds)
    return f"held {len(held) >> 20} MiB"


@server.resource("fixture://greeting")
def greeting() -> str:
    """A fixed greeting."""
    return "hello from the fixture"


@server.prompt()
def review(code: str) -> str:
    """Asks for a review of `code`."""
    return f"Please review:\n{code}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
