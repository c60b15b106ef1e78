import { expect, test } from "@playwright/test";
import { open, signIn } from "./session";

test.beforeEach(async ({ page }) => signIn(page));

function unique(prefix: string) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

test("create a tenant and a user through the console; both survive a reload", async ({ page }, info) => {
  const slug = unique("acme");
  await open(page, "/tenants");
  await expect(page.getByRole("heading", { name: "Tenants" })).toBeVisible();

  const form = page.getByRole("form", { name: "New tenant" });
  await form.getByLabel("Slug").fill(slug);
  await form.getByLabel("Name").fill(`Acme ${slug}`);
  await form.getByRole("button", { name: "Create tenant" }).click();
  const row = page.locator(`tr[data-tenant="${slug}"]`);
  await expect(row).toContainText(`Acme ${slug}`);
  await expect(form.getByLabel("Slug")).toHaveValue("");

  await page.reload();
  await expect(page.locator(`tr[data-tenant="${slug}"]`)).toContainText(`Acme ${slug}`);
  await page.screenshot({ path: info.outputPath("tenants.png"), fullPage: true });

  // A clashing slug is refused with the server's message, and nothing is added.
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await form.getByLabel("Slug").fill(slug);
  await form.getByLabel("Name").fill("Duplicate");
  await form.getByRole("button", { name: "Create tenant" }).click();
  await expect(form.getByRole("alert")).toContainText("already");
  await expect(page.locator(`tr[data-tenant="${slug}"]`)).toHaveCount(1);

  // Rename in place.
  await page.locator(`tr[data-tenant="${slug}"]`).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Tenant name").fill(`Renamed ${slug}`);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator(`tr[data-tenant="${slug}"]`)).toContainText(`Renamed ${slug}`);

  // Its users page, through the row's link.
  await page.locator(`tr[data-tenant="${slug}"]`).getByRole("link", { name: "Users" }).click();
  await expect(page).toHaveURL(/\/users\?tenant=/);
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  await expect(page.getByText("No users match.")).toBeVisible();
  const email = `${unique("ada")}@example.com`;
  const userForm = page.getByRole("form", { name: "New user" });
  await userForm.getByLabel("Email").fill(email);
  await userForm.getByLabel("Name").fill("Ada Lovelace");
  await userForm.getByRole("button", { name: "Create user" }).click();
  await expect(page.locator(`tr[data-user="${email}"]`)).toContainText("Ada Lovelace");

  await page.reload();
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  const userRow = page.locator(`tr[data-user="${email}"]`);
  await expect(userRow).toContainText("active");

  // Give the user a role and a password, and disable them; the changes persist.
  await userRow.getByRole("button", { name: "Edit" }).click();
  await userRow.getByLabel("Role viewer").check();
  await userRow.getByLabel("New password").fill("a long enough password");
  await userRow.getByLabel("Disabled").check();
  await userRow.getByRole("button", { name: "Save" }).click();
  // Saved once the row leaves edit mode (its "disabled" checkbox label would match before).
  await expect(page.locator(`tr[data-user="${email}"]`).getByRole("button", { name: "Edit" })).toBeVisible();
  await expect(page.locator(`tr[data-user="${email}"]`)).toContainText("disabled");
  await page.reload();
  await expect(page.locator(`tr[data-user="${email}"]`)).toContainText("disabled");
  await expect(page.locator(`tr[data-user="${email}"]`).getByTestId("user-roles")).toHaveText("viewer");
  await page.screenshot({ path: info.outputPath("users.png"), fullPage: true });
});

test("bad input shows the server's field errors", async ({ page }) => {
  await open(page, "/tenants");
  const form = page.getByRole("form", { name: "New tenant" });
  await form.getByLabel("Slug").fill("Not A Slug");
  await form.getByLabel("Name").fill("Bad");
  await form.getByRole("button", { name: "Create tenant" }).click();
  await expect(form.getByRole("alert")).toContainText("slug: may contain only lowercase letters");
  await expect(page.locator('tr[data-tenant="Not A Slug"]')).toHaveCount(0);
});

for (const width of [390, 1280]) {
  test(`console fits a ${width} px wide screen`, async ({ page }, info) => {
    await page.setViewportSize({ width, height: 844 });
    for (const path of ["/tenants", "/users", "/audit"]) {
      await open(page, path);
      await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
      await expect(page.locator("table")).toBeVisible();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} scrolls sideways at ${width} px`).toBeLessThanOrEqual(0);
      await page.screenshot({ path: info.outputPath(`${path.slice(1)}-${width}.png`), fullPage: true });
    }
  });
}

test("loading and error states", async ({ page }) => {
  // Hold the API answer back to see the loading state, then fail it to see the error state.
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  await open(page, "/tenants");
  await page.route("**/api/v1/tenants?*", async (route) => {
    await held;
    await route.fulfill({
      status: 503,
      contentType: "application/problem+json",
      body: JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, detail: "database unreachable" }),
    });
  });
  await page.getByLabel("Search tenants").fill("zzz");
  await expect(page.locator(".loading, table, .empty").first()).toBeVisible();
  release();
  await expect(page.getByRole("alert")).toContainText("database unreachable");
});
