-- Built-in MCP servers (issue #6) are upstreams with the `builtin` transport.
ALTER TABLE upstreams DROP CONSTRAINT upstreams_transport_check;
ALTER TABLE upstreams ADD CONSTRAINT upstreams_transport_check
    CHECK (transport IN ('stdio', 'streamable_http', 'sse', 'builtin'));
