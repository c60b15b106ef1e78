import { createHmac } from "node:crypto";
import { expect, type Page } from "@playwright/test";

export const ADMIN = { tenant: "default", email: "admin@localhost", password: "e2e-admin-password" };

/// Opens `path` and waits for hydration (a click before it does nothing).
export async function open(page: Page, path: string) {
  await page.goto(path);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
}

/// Signs in through the login page; `code` answers the TOTP step when the account has MFA.
export async function signIn(page: Page, who = ADMIN, code?: () => string) {
  await open(page, "/login");
  await page.getByLabel("Tenant").fill(who.tenant);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (code) {
    await expect(page.getByLabel("Authentication code")).toBeVisible();
    await page.getByLabel("Authentication code").fill(code());
    await page.getByRole("button", { name: "Verify" }).click();
  }
  await expect(page.getByTestId("signed-in-as")).toHaveText(who.email);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
}

/// Calls the API with the page's session cookie and CSRF token, as the console does.
export async function api(page: Page, method: string, path: string, data?: unknown) {
  const cookies = await page.context().cookies();
  const csrf = cookies.find((c) => c.name.endsWith("switchyard_csrf"))?.value ?? "";
  const response = await page.request.fetch(path, { method, data, headers: { "x-csrf-token": csrf } });
  const text = await response.text();
  expect(response.ok(), `${method} ${path}: ${response.status()} ${text}`).toBeTruthy();
  return text ? JSON.parse(text) : undefined;
}

/// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret at `at` seconds.
export function totp(secret: string, at = Date.now() / 1000): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, "0");
}
