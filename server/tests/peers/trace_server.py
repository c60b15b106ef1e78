"""An upstream on the official MCP Python SDK over Streamable HTTP whose one tool tells the W3C
trace context its call arrived with: in the request's `_meta` (SEP-414) and as HTTP headers.

usage: trace_server.py http PORT
"""

import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("switchyard-trace")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def trace_context(ctx: Context) -> dict:
    """Returns the trace context this call came with."""
    request_context = ctx.request_context
    meta = dict((request_context.params or {}).get("_meta") or {})
    http = request_context.request
    headers = http.headers if http is not None else {}
    return {
        "meta_traceparent": meta.get("traceparent"),
        "header_traceparent": headers.get("traceparent"),
    }


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
