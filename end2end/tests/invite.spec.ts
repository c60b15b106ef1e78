import { expect, test } from "@playwright/test";
import { api, open, signIn } from "./session";

test("invite a user from the users page; the link sets a password once and the invitee signs in", async ({ page, browser }, info) => {
  await signIn(page);
  // A tenant of its own, so the users page shows only this test's invitation.
  const slug = `inv-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Invite ${slug}` });
  await open(page, `/users?tenant=${tenant.id}`);

  const email = `grace-${Date.now().toString(36)}@example.com`;
  const form = page.getByRole("form", { name: "Invite user" });
  await form.getByLabel("Invite email").fill(email);
  await form.getByLabel("Invite as viewer").check();
  await form.getByRole("button", { name: "Invite" }).click();
  const link = page.getByTestId("invite-link");
  await expect(link).toHaveValue(/\/invite#sy_inv_/);
  const url = await link.inputValue();
  await expect(page.locator(`tr[data-user="${email}"]`).getByTestId("user-roles")).toHaveText("viewer");
  await expect(page.locator(`tr[data-invitation="${email}"]`)).toBeVisible();
  await page.screenshot({ path: info.outputPath("invited.png"), fullPage: true });

  // The invitee, in a browser of their own, with no session.
  const invitee = await (await browser.newContext()).newPage();
  await invitee.goto(url);
  await expect(invitee.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(invitee.getByTestId("invite-for")).toContainText(email);
  await invitee.getByLabel("Password", { exact: true }).fill("too short");
  await invitee.getByLabel("Repeat password").fill("too short");
  await invitee.getByRole("button", { name: "Set password" }).click();
  await expect(invitee.getByRole("alert")).toContainText("password: password must be at least 12 characters");
  await invitee.getByLabel("Password", { exact: true }).fill("a password for grace");
  await invitee.getByLabel("Repeat password").fill("a password for grace");
  await invitee.getByRole("button", { name: "Set password" }).click();
  await expect(invitee.getByTestId("invite-accepted")).toBeVisible();
  await invitee.screenshot({ path: info.outputPath("accepted.png"), fullPage: true });

  // The link is spent (a fresh load: same-URL navigation would only change the fragment); the
  // invitee signs in with the new password.
  await invitee.goto("about:blank");
  await invitee.goto(url);
  await expect(invitee.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(invitee.getByRole("alert")).toContainText("invalid, expired or already used");
  await signIn(invitee, { tenant: slug, email, password: "a password for grace" });

  // The administrator's page no longer lists the invitation.
  await page.reload();
  await expect(page.locator(`tr[data-user="${email}"]`)).toBeVisible();
  await expect(page.locator(`tr[data-invitation="${email}"]`)).toHaveCount(0);
});
