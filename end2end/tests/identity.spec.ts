import { expect, test } from "@playwright/test";
import { ADMIN, api, open, signIn, totp } from "./session";

test("signed-out visitors are sent to sign in", async ({ page }) => {
  await open(page, "/tenants");
  await expect(page.getByText("You are signed out")).toBeVisible();
  await page.getByRole("link", { name: "Sign in" }).first().click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  // A wrong password is refused with the server's message.
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("invalid tenant, email or password");
});

test("sign in with TOTP, then find the sign-ins on the audit trail", async ({ page }, info) => {
  await signIn(page);
  const me = await api(page, "GET", "/api/v1/auth/me");
  const email = `mfa-${Date.now().toString(36)}@example.com`;
  const user = await api(page, "POST", `/api/v1/tenants/${me.tenant_id}/users`, { email, display_name: "MFA user" });
  const password = "a long enough password";
  await api(page, "POST", `/api/v1/tenants/${me.tenant_id}/users/${user.id}/password`, { new_password: password });
  await api(page, "PUT", `/api/v1/tenants/${me.tenant_id}/users/${user.id}/roles`, { roles: ["tenant_admin"] });
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();

  // The new user signs in and enrols an authenticator.
  const who = { tenant: "default", email, password };
  await signIn(page, who);
  const enrolment = await api(page, "POST", "/api/v1/auth/mfa/totp");
  expect(enrolment.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
  const codes = await api(page, "POST", "/api/v1/auth/mfa/totp/confirm", { code: totp(enrolment.secret) });
  expect(codes.recovery_codes).toHaveLength(10);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();

  // Password first, then the code step (the next step's code: the current one is spent).
  await signIn(page, who, () => totp(enrolment.secret, Date.now() / 1000 + 30));
  await page.screenshot({ path: info.outputPath("signed-in-with-mfa.png"), fullPage: true });

  // The trail has the MFA enrolment and the sign-ins, with the second factor noted.
  await open(page, `/audit?tenant=${me.tenant_id}`);
  await page.getByLabel("Action").fill("auth.mfa.enrol");
  await page.getByLabel("Action").press("Enter");
  await expect(page.locator("tr[data-seq]").first()).toContainText(`user:${user.id}`);
  await page.getByLabel("Action").fill("auth.login");
  await page.getByLabel("Action").press("Enter");
  await expect(page.locator("tr[data-seq]").filter({ hasText: `user:${user.id}` }).first()).toContainText("success");
  await page.screenshot({ path: info.outputPath("audit-logins.png"), fullPage: true });
});
