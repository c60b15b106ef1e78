// The `conformance client` command: the client under test is the gateway itself, as the
// OAuth client of the scenario's MCP server. This script is only the administrator at the
// console: it registers the scenario's server as an OAuth upstream, starts the authorization,
// plays the browser (the suite's authorization endpoint approves at once and redirects to the
// gateway's callback, which the script follows with the administrator's credentials), and
// calls the upstream's tool through the gateway. Discovery, registration, PKCE, scopes, the
// token request and the bearer the upstream sees are all the gateway's.
//
// When the gateway says the upstream wants more scope, the script authorizes again, as an
// administrator would from the console; when the gateway refuses to, it stops.
//
// Usage (by the suite): node conformance_client.mjs <server-url>
// Environment: SWITCHYARD_URL, SWITCHYARD_TOKEN (an administrator's), SWITCHYARD_TENANT.

const serverUrl = process.argv[process.argv.length - 1];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? "";
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}");
const base = process.env.SWITCHYARD_URL;
const tenant = process.env.SWITCHYARD_TENANT;
const admin = { authorization: `Bearer ${process.env.SWITCHYARD_TOKEN}` };

const api = async (method, path, body) => {
  const response = await fetch(`${base}/api/v1/tenants/${tenant}${path}`, {
    method,
    headers: { ...admin, accept: "application/json", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
};

const fail = (why) => {
  console.error(why);
  process.exit(1);
};

const oauth = {};
if (context.client_id) oauth.client_id = context.client_id;
if (context.client_secret) oauth.client_secret = context.client_secret;
if (context.private_key_pem) oauth.private_key = context.private_key_pem;
if (context.signing_algorithm) oauth.signing_algorithm = context.signing_algorithm;
if (scenario.startsWith("auth/client-credentials")) oauth.grant = "client_credentials";

const name = `c${Math.random().toString(16).slice(2, 12)}`;
const created = await api("POST", "/upstreams", {
  name,
  connection: { transport: "streamable_http", url: serverUrl, oauth },
});
if (created.status !== 201) fail(`registering the upstream: ${JSON.stringify(created)}`);
const id = created.body.id;

// What the console's Authorize button does, and the browser after it.
async function authorize() {
  const started = await api("POST", `/upstreams/${id}/authorize`);
  if (started.status !== 200) fail(`authorize: ${started.status} ${started.body?.detail}`);
  const url = started.body.authorization_url;
  if (!url) return; // client credentials: granted already
  const approved = await fetch(url, { redirect: "manual" });
  const callback = approved.headers.get("location");
  if (!callback) fail(`the authorization endpoint answered ${approved.status} without a redirect`);
  const done = await fetch(callback, { headers: { ...admin, accept: "application/json" } });
  if (done.status !== 200) fail(`callback: ${done.status} ${await done.text()}`);
  console.log(`authorized (${started.body.authorization.state} before)`);
}

await authorize();
for (let attempt = 0; attempt < 3; attempt++) {
  const called = await api("POST", "/tools/call", { tool: `${name}.test-tool`, arguments: {} });
  if (called.status === 200) {
    console.log(`called: ${JSON.stringify(called.body.result)}`);
    process.exit(0);
  }
  const detail = called.body?.detail ?? "";
  if (!/needs authorization|asks for more scope/.test(detail)) fail(`tools/call: ${called.status} ${detail}`);
  console.log(`the gateway says: ${detail}`);
  await authorize();
}
fail("the tool could not be called after three authorizations");
