import { createHash, randomBytes } from "node:crypto";
import { expect, test } from "@playwright/test";
import { ADMIN, open } from "./session";

const REDIRECT = "http://127.0.0.1:9/callback";

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

test("an MCP client's authorization request: sign in, consent, code, token; the app is listed and withdrawn", async ({ page, baseURL }, info) => {
  // The client registers itself (RFC 7591), as an MCP client does after discovery.
  const registered = await page.request.post("/oauth/default/register", {
    data: { client_name: "E2E Desktop", redirect_uris: [REDIRECT] },
  });
  expect(registered.status()).toBe(201);
  const { client_id } = await registered.json();
  const { verifier, challenge } = pkce();
  const authorize = new URL("/oauth/default/authorize", baseURL);
  const resource = new URL("/mcp/default", baseURL).toString();
  for (const [k, v] of Object.entries({
    response_type: "code", client_id, redirect_uri: REDIRECT, state: "e2e-state",
    code_challenge: challenge, code_challenge_method: "S256", resource, scope: "mcp",
  })) authorize.searchParams.set(k, v);

  // The redirect URI is the client's own listener; the browser's arrival there is the answer.
  await page.route(`${REDIRECT}**`, (route) => route.fulfill({ contentType: "text/plain", body: "back at the client" }));

  // Signed out: the consent page asks to sign in, and the login page comes back to it.
  await page.goto(authorize.toString());
  await expect(page).toHaveURL(/\/oauth\/consent\?request=/);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  const consentUrl = page.url();
  await page.getByTestId("consent-sign-in").getByRole("link", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/login\?next=/);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.getByLabel("Tenant").fill(ADMIN.tenant);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(consentUrl);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();

  // The page names the client, where the answer goes, what for, and who answers; no site may frame it.
  await expect(page.getByTestId("consent-client")).toContainText("E2E Desktop");
  await expect(page.getByTestId("consent-client")).toContainText(ADMIN.email);
  await expect(page.getByTestId("consent-redirect")).toHaveText(REDIRECT);
  await expect(page.getByTestId("consent-scopes")).toContainText("mcp");
  const headers = (await page.request.get(consentUrl)).headers();
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["content-security-policy"]).toBe("frame-ancestors 'none'");
  await page.screenshot({ path: info.outputPath("consent.png"), fullPage: true });

  await page.getByTestId("consent-allow").click();
  await page.waitForURL(`${REDIRECT}**`);
  const back = new URL(page.url());
  expect(back.searchParams.get("state")).toBe("e2e-state");
  expect(back.searchParams.get("iss")).toBe(new URL("/oauth/default", baseURL).toString());
  const code = back.searchParams.get("code")!;
  expect(code).toBeTruthy();

  // The client exchanges the code with its verifier for a token bound to the endpoint.
  const tokens = await page.request.post("/oauth/default/token", {
    form: { grant_type: "authorization_code", code, client_id, redirect_uri: REDIRECT, code_verifier: verifier },
  });
  expect(tokens.status()).toBe(200);
  const { access_token } = await tokens.json();
  const claims = JSON.parse(Buffer.from(access_token.split(".")[1], "base64url").toString());
  expect(claims.aud).toBe(resource);

  // The Account page lists the app; withdrawing it removes it.
  await open(page, "/account");
  const row = page.locator('tr[data-app="E2E Desktop"]');
  await expect(row).toBeVisible();
  await page.screenshot({ path: info.outputPath("connected-apps.png"), fullPage: true });
  await row.getByRole("button", { name: "Withdraw" }).click();
  await expect(row).toHaveCount(0);
});

test("a refused request goes back to the client as access_denied", async ({ page, baseURL }) => {
  const registered = await page.request.post("/oauth/default/register", {
    data: { client_name: "Refused App", redirect_uris: [REDIRECT] },
  });
  const { client_id } = await registered.json();
  await page.route(`${REDIRECT}**`, (route) => route.fulfill({ contentType: "text/plain", body: "back" }));
  await open(page, "/login");
  await page.getByLabel("Tenant").fill(ADMIN.tenant);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-as")).toHaveText(ADMIN.email);
  const authorize = new URL("/oauth/default/authorize", baseURL);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id, redirect_uri: REDIRECT, state: "s2",
    code_challenge: pkce().challenge, code_challenge_method: "S256",
  })) authorize.searchParams.set(k, v);
  await page.goto(authorize.toString());
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.getByTestId("consent-client")).toContainText("Refused App");
  await page.getByTestId("consent-deny").click();
  await page.waitForURL(`${REDIRECT}**`);
  const back = new URL(page.url());
  expect(back.searchParams.get("error")).toBe("access_denied");
  expect(back.searchParams.get("state")).toBe("s2");
});
