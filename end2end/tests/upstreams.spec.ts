import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { api, open, signIn } from "./session";

test("register, disable and remove upstreams; secrets are named, never shown", async ({ page }, info) => {
  await signIn(page);
  const slug = `up-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Upstreams ${slug}` });
  await open(page, `/upstreams?tenant=${tenant.id}`);
  await expect(page.getByText("No upstreams yet.")).toBeVisible();

  const form = page.getByRole("form", { name: "New upstream" });
  // A bad URL is refused with the server's field message; nothing is added.
  await form.getByLabel("Name").fill("github");
  await form.getByLabel("URL").fill("ftp://nowhere");
  await form.getByRole("button", { name: "Add upstream" }).click();
  await expect(form.getByRole("alert")).toContainText("connection.url");

  await form.getByLabel("URL").fill("https://mcp.example.com/mcp");
  await form.getByLabel("Secret header").fill("Authorization");
  await form.getByLabel("Secret value").fill("Bearer top-secret-value");
  await form.getByRole("button", { name: "Add upstream" }).click();
  const github = page.locator('tr[data-upstream="github"]');
  await expect(github).toContainText("https://mcp.example.com/mcp");
  await expect(github).toContainText("Authorization");
  await expect(page.getByText("top-secret-value")).toHaveCount(0);

  // A stdio upstream.
  await form.getByLabel("Transport").selectOption("stdio");
  await form.getByLabel("Name").fill("everything");
  await form.getByLabel("Command").fill("npx");
  await form.getByLabel("Arguments").fill("-y @modelcontextprotocol/server-everything");
  await form.getByRole("button", { name: "Add upstream" }).click();
  await expect(page.locator('tr[data-upstream="everything"]')).toContainText("npx -y @modelcontextprotocol/server-everything");

  // Disable one; the state survives a reload. Remove the other.
  await github.getByRole("button", { name: "Disable" }).click();
  await expect(github).toContainText("disabled");
  await page.reload();
  await expect(page.locator('tr[data-upstream="github"]')).toContainText("disabled");
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.locator('tr[data-upstream="everything"]').getByRole("button", { name: "Remove" }).click();
  await expect(page.locator('tr[data-upstream="everything"]')).toHaveCount(0);
  await page.screenshot({ path: info.outputPath("upstreams.png"), fullPage: true });

  // The API never returns the secret either.
  const list = await api(page, "GET", `/api/v1/tenants/${tenant.id}/upstreams`);
  expect(JSON.stringify(list)).not.toContain("top-secret-value");
  expect(list.items[0].secret_names).toEqual(["Authorization"]);
});

test("test connection lists a real stdio server's tools, and says why another fails", async ({ page }) => {
  await signIn(page);
  const slug = `probe-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Probe ${slug}` });
  const everything = path.resolve(__dirname, "../node_modules/@modelcontextprotocol/server-everything/dist/index.js");
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/upstreams`, {
    name: "everything",
    connection: { transport: "stdio", command: "node", args: [everything, "stdio"] },
  });
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/upstreams`, {
    name: "broken",
    connection: { transport: "stdio", command: "/nonexistent/server" },
  });
  await open(page, `/upstreams?tenant=${tenant.id}`);
  await page.locator('tr[data-upstream="everything"]').getByRole("button", { name: "Test" }).click();
  await expect(page.getByTestId("probe-tools")).toContainText("echo");
  await page.locator('tr[data-upstream="broken"]').getByRole("button", { name: "Test" }).click();
  await expect(page.locator("tr.probe").getByRole("alert")).toContainText("cannot start `/nonexistent/server`");
  // The catalog says which upstream is not answering.
  await expect(page.getByText("Not answering: broken")).toBeVisible();
});

test("try a tool through the gateway with the signed-in user's rights", async ({ page }) => {
  await signIn(page);
  const slug = `try-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Try ${slug}` });
  const everything = path.resolve(__dirname, "../node_modules/@modelcontextprotocol/server-everything/dist/index.js");
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/upstreams`, {
    name: "everything",
    connection: { transport: "stdio", command: "node", args: [everything, "stdio"] },
  });
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/policies`, {
    name: "echo-only",
    effect: "allow",
    tool_pattern: "everything.echo",
  });
  await open(page, `/upstreams?tenant=${tenant.id}`);
  // Only what the policy allows is listed.
  const tools = page.getByRole("list", { name: "Tools" });
  await expect(tools.getByRole("button")).toHaveCount(1);
  await page.getByLabel("Search tools").fill("echo");
  await tools.getByRole("button", { name: "everything.echo" }).click();
  await expect(page.getByTestId("chosen-tool")).toHaveText("everything.echo");
  await page.getByLabel("Arguments (JSON)").fill("not json");
  await page.getByRole("button", { name: "Call" }).click();
  await expect(page.getByRole("alert")).toContainText("not a JSON object");
  await page.getByLabel("Arguments (JSON)").fill('{"message": "hello from the console"}');
  await page.getByRole("button", { name: "Call" }).click();
  await expect(page.getByTestId("tool-result")).toContainText("hello from the console");
  await expect(page.getByTestId("tool-result")).toContainText("echo-only");
  // The usage table counts the call (and the refused one before it was never sent: bad JSON).
  await expect(page.locator('tr[data-tool="everything.echo"]').getByTestId("tool-calls")).toHaveText("1");
});

test("authorize the gateway at an OAuth upstream: sign in and consent at its server, then calls go through", async ({ page, baseURL }, info) => {
  await signIn(page);
  const stamp = Date.now().toString(36);
  // The upstream: another tenant's MCP endpoint, an OAuth 2.1 protected resource with its own
  // authorization server, reached as `localhost` — another origin than the console's
  // 127.0.0.1, so the two sign-ins keep their own cookies, as two servers' would.
  const upstreamSlug = `as-${stamp}`;
  const inner = await api(page, "POST", "/api/v1/tenants", { slug: upstreamSlug, name: `AS ${stamp}` });
  const everything = path.resolve(__dirname, "../node_modules/@modelcontextprotocol/server-everything/dist/index.js");
  await api(page, "POST", `/api/v1/tenants/${inner.id}/upstreams`, {
    name: "everything",
    connection: { transport: "stdio", command: "node", args: [everything, "stdio"] },
  });
  await api(page, "POST", `/api/v1/tenants/${inner.id}/policies`, { name: "all", effect: "allow", tool_pattern: "everything.*" });
  const owner = { tenant: upstreamSlug, email: `owner-${stamp}@example.com`, password: "owner-password-1234" };
  const user = await api(page, "POST", `/api/v1/tenants/${inner.id}/users`, { email: owner.email, display_name: "Owner" });
  await api(page, "POST", `/api/v1/tenants/${inner.id}/users/${user.id}/password`, { new_password: owner.password });
  await api(page, "PUT", `/api/v1/tenants/${inner.id}/users/${user.id}/roles`, { roles: ["member"] });

  const home = await api(page, "POST", "/api/v1/tenants", { slug: `oa-${stamp}`, name: `OAuth ${stamp}` });
  const port = new URL(baseURL!).port;
  await open(page, `/upstreams?tenant=${home.id}`);
  const form = page.getByRole("form", { name: "New upstream" });
  await form.getByLabel("Name").fill("remote");
  await form.getByLabel("URL").fill(`http://localhost:${port}/mcp/${upstreamSlug}`);
  await form.getByLabel("OAuth (authorize after adding)").check();
  await form.getByRole("button", { name: "Add upstream" }).click();
  const row = page.locator('tr[data-upstream="remote"]');
  await expect(row.getByTestId("upstream-authorization")).toHaveText("OAuth: authorization required");
  await api(page, "POST", `/api/v1/tenants/${home.id}/policies`, { name: "remote", effect: "allow", tool_pattern: "remote.*" });

  // Authorize: off to the upstream's server, whose consent page asks its own user to sign in.
  await row.getByRole("button", { name: "Authorize" }).click();
  await expect(page).toHaveURL(/^http:\/\/localhost:\d+\/oauth\/consent\?request=/);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.getByTestId("consent-sign-in").getByRole("link", { name: "Sign in" }).click();
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.getByLabel("Tenant").fill(owner.tenant);
  await page.getByLabel("Email").fill(owner.email);
  await page.getByLabel("Password").fill(owner.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("consent-client")).toContainText("Switchyard gateway");
  await expect(page.getByTestId("consent-redirect")).toHaveText(`http://127.0.0.1:${port}/api/v1/upstream-oauth/callback`);
  await page.getByTestId("consent-allow").click();

  // Back at the console, signed in as before: the upstream is authorized and its tool works.
  await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/upstreams\?tenant=.*&authorized=/);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(row.getByTestId("upstream-authorization")).toContainText("OAuth: authorized (mcp offline_access), refreshable");
  await page.screenshot({ path: info.outputPath("upstream-oauth.png"), fullPage: true });
  const called = await api(page, "POST", `/api/v1/tenants/${home.id}/tools/call`, {
    tool: "remote.everything.echo", arguments: { message: "through the grant" },
  });
  expect(JSON.stringify(called.result)).toContain("through the grant");
  const shown = await api(page, "GET", `/api/v1/tenants/${home.id}/upstreams`);
  expect(JSON.stringify(shown)).not.toContain("eyJ");
});
