"""A fixture upstream on the official MCP Python SDK (mcp 2.x `MCPServer`), over stdio or
Streamable HTTP, with tools whose annotations the gateway must respect.

usage: fixture_server.py stdio [MARKER]  |  fixture_server.py http PORT
MARKER is ignored; tests pass one to find the process.
"""

import asyncio
import sys
from typing import Annotated

from pydantic import BaseModel

from mcp.server.mcpserver import Elicit, MCPServer, Resolve
from mcp.types import ToolAnnotations

server = MCPServer("switchyard-fixture")
writes = 0


class Confirmation(BaseModel):
    ok: bool


def ask_to_confirm(item: str) -> Elicit[Confirmation]:
    return Elicit(f"Order {item}?", Confirmation)


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


@server.tool()
def order(item: str, confirmation: Annotated[Confirmation, Resolve(ask_to_confirm)]) -> str:
    """Orders `item` once the user confirms. At 2026-07-28 the SDK asks in an
    input_required result (SEP-2322); at earlier revisions, with elicitation/create mid-call."""
    return f"ordered {item}" if confirmation.ok else f"did not order {item}"


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
