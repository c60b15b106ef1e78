"""An upstream on the official MCP Python SDK over Streamable HTTP whose tool, resource template
and prompt tell the W3C trace context their request arrived with: in the request's `_meta`
(SEP-414) and as HTTP headers.

usage: trace_server.py http PORT
"""

import json
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("switchyard-trace")


def seen(ctx: Context) -> dict:
    """The trace context the request in hand came with."""
    request_context = ctx.request_context
    meta = dict((request_context.params or {}).get("_meta") or {})
    http = request_context.request
    headers = http.headers if http is not None else {}
    return {
        "meta_traceparent": meta.get("traceparent"),
        "header_traceparent": headers.get("traceparent"),
    }


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def trace_context(ctx: Context) -> dict:
    """Returns the trace context this call came with."""
    return seen(ctx)


@server.resource("trace://context/{label}")
def trace_resource(label: str, ctx: Context) -> str:
    """The trace context this read came with, as JSON."""
    return json.dumps(seen(ctx))


@server.prompt()
def trace_prompt(ctx: Context) -> str:
    """The trace context this get came with, as JSON."""
    return json.dumps(seen(ctx))


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
