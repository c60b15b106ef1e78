import { expect, test } from "@playwright/test";
import { api, open, signIn, totp } from "./session";

test("set up TOTP and an API key on the account page", async ({ page }, info) => {
  await signIn(page);
  const me = await api(page, "GET", "/api/v1/auth/me");
  const email = `acct-${Date.now().toString(36)}@example.com`;
  const password = "a long enough password";
  const user = await api(page, "POST", `/api/v1/tenants/${me.tenant_id}/users`, { email, display_name: "Account user" });
  await api(page, "POST", `/api/v1/tenants/${me.tenant_id}/users/${user.id}/password`, { new_password: password });
  await api(page, "PUT", `/api/v1/tenants/${me.tenant_id}/users/${user.id}/roles`, { roles: ["member"] });
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  const who = { tenant: "default", email, password };
  await signIn(page, who);

  // Two-factor: QR code and key, a code from the app, then the recovery codes once.
  await page.getByTestId("signed-in-as").click();
  await expect(page.getByRole("heading", { name: "Your account" })).toBeVisible();
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await expect(page.locator(".qr svg")).toBeVisible();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  const confirm = page.getByRole("form", { name: "Confirm authenticator" });
  await confirm.getByLabel("Code from the app").fill("000000");
  await confirm.getByRole("button", { name: "Turn on" }).click();
  await expect(page.getByRole("alert")).toContainText("invalid");
  await confirm.getByLabel("Code from the app").fill(totp(secret));
  await confirm.getByRole("button", { name: "Turn on" }).click();
  await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10);
  await page.screenshot({ path: info.outputPath("account-mfa.png"), fullPage: true });

  // An API key: shown once, usable, then revoked.
  const keyForm = page.getByRole("form", { name: "New API key" });
  await keyForm.getByLabel("Key name").fill("laptop");
  await keyForm.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-key").textContent())!.trim();
  expect(key).toMatch(/^sy_[0-9a-f]{10}_/);
  const used = await page.request.get("/api/v1/auth/me", { headers: { authorization: `Bearer ${key}` } });
  expect((await used.json()).authenticated_by).toBe("api_key");

  // The page says where MCP clients connect, and the key opens that endpoint.
  const endpoint = (await page.getByTestId("mcp-endpoint").textContent())!.trim();
  expect(endpoint).toMatch(/^http:\/\/[^/]+\/mcp\/[a-z0-9-]+$/);
  await expect(page.getByTestId("desktop-config")).toContainText("\"connect\"");
  await expect(page.getByTestId("desktop-config")).toContainText(endpoint);
  await page.getByTestId("connect-client").screenshot({ path: info.outputPath("account-connect.png") });
  const discover = await page.request.post(endpoint, {
    headers: {
      authorization: `Bearer ${key}`,
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "server/discover",
    },
    data: {
      jsonrpc: "2.0", id: 1, method: "server/discover",
      params: { _meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: "e2e", version: "1" },
      } },
    },
  });
  expect(discover.status()).toBe(200);
  expect(await discover.text()).toContain("2026-07-28");
  await expect(page.locator('tr[data-key="laptop"]')).toContainText("active");
  await page.locator('tr[data-key="laptop"]').getByRole("button", { name: "Revoke" }).click();
  await expect(page.locator('tr[data-key="laptop"]')).toContainText("revoked");
  const refused = await page.request.get("/api/v1/auth/me", { headers: { authorization: `Bearer ${key}` } });
  expect(refused.status()).toBe(401);

  // Next sign-in asks for a code.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await signIn(page, who, () => totp(secret, Date.now() / 1000 + 30));
  await open(page, "/account");
  await expect(page.getByTestId("mfa-status")).toContainText("TOTP is on");
});
