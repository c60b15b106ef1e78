"""A FastMCP (PyPI `fastmcp` 4.x) upstream over Streamable HTTP, with one tool, one resource
and one prompt, for the gateway's interop tests.

usage: fastmcp_server.py PORT
"""

import sys

from fastmcp import FastMCP

mcp = FastMCP("switchyard-fastmcp-fixture")


@mcp.tool(annotations={"readOnlyHint": True})
def shout(text: str) -> str:
    """Upper-cases `text`."""
    return text.upper()


@mcp.resource("fast://motto")
def motto() -> str:
    """The fixture's motto."""
    return "fast and typed"


@mcp.prompt()
def summarize(topic: str) -> str:
    """Asks for a summary of `topic`."""
    return f"Summarize {topic} in one line."


if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), show_banner=False)
