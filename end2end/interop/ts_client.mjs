// The official MCP TypeScript SDK client against the gateway.
// usage: node ts_client.mjs URL TOKEN — lists tools, calls `everything.echo`, reads a
// resource, gets a prompt, tries a denied tool; prints one JSON line with what it saw.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "switchyard-interop", version: "1.0.0" });
await client.connect(transport);
const seen = { protocol: transport.protocolVersion ?? null, session: transport.sessionId != null };
seen.tools = (await client.listTools()).tools.map((t) => t.name).sort();
const echo = await client.callTool({ name: "everything.echo", arguments: { message: "typescript" } });
seen.echo = echo.content.filter((c) => c.type === "text").map((c) => c.text);
try {
  await client.callTool({ name: "everything.get-env", arguments: {} });
  seen.denied = "called";
} catch (error) {
  seen.denied = String(error.message ?? error);
}
const resources = (await client.listResources()).resources;
seen.resource = resources[0].uri;
seen.read_uri = (await client.readResource({ uri: resources[0].uri })).contents[0].uri;
const prompts = (await client.listPrompts()).prompts;
const simple = prompts.find((p) => !(p.arguments ?? []).some((a) => a.required));
seen.prompt_messages = (await client.getPrompt({ name: simple.name })).messages.length;
await transport.terminateSession();
await client.close();
console.log(JSON.stringify(seen));
