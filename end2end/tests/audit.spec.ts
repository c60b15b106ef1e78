import { expect, test } from "@playwright/test";
import { signIn } from "./session";

test.beforeEach(async ({ page }) => signIn(page));

// A console action shows up in the tenant's audit trail; filters, verification and export work.
test("a tenant created in the console is on its audit trail", async ({ page }, info) => {
  const slug = `audited-${Date.now().toString(36)}`;
  await page.goto("/tenants");
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  const form = page.getByRole("form", { name: "New tenant" });
  await form.getByLabel("Slug").fill(slug);
  await form.getByLabel("Name").fill("Audited");
  await form.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.locator(`tr[data-tenant="${slug}"]`)).toBeVisible();
  const usersHref = await page.locator(`tr[data-tenant="${slug}"]`).getByRole("link", { name: "Users" }).getAttribute("href");
  const tenant = new URL(usersHref!, "http://x").searchParams.get("tenant")!;

  // Rename it, so the trail has two records.
  await page.locator(`tr[data-tenant="${slug}"]`).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Tenant name").fill("Audited twice");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator(`tr[data-tenant="${slug}"]`)).toContainText("Audited twice");

  await page.goto(`/audit?tenant=${tenant}`);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();
  await expect(page.locator('tr[data-seq="1"]')).toContainText("tenant.create");
  await expect(page.locator('tr[data-seq="2"]')).toContainText("tenant.update");
  await expect(page.locator('tr[data-seq="2"]')).toContainText("user:");

  // Filter by action.
  await page.getByLabel("Action").fill("tenant.update");
  await page.getByLabel("Action").press("Enter");
  await page.getByLabel("Action").blur();
  await expect(page.locator("tr[data-seq]")).toHaveCount(1);
  await expect(page.locator('tr[data-seq="2"]')).toBeVisible();

  // Verify the chain.
  await page.getByRole("button", { name: "Verify chain" }).click();
  await expect(page.getByRole("status")).toContainText("Chain intact: 2 records verified");
  await page.screenshot({ path: info.outputPath("audit.png"), fullPage: true });

  // The CSV export carries the filter.
  const href = await page.getByRole("link", { name: "Export CSV" }).getAttribute("href");
  expect(href).toContain("format=csv");
  const csv = await (await page.request.get(href!)).text();
  const lines = csv.trim().split("\r\n");
  expect(lines[0]).toMatch(/^seq,at,actor,action,target,outcome/);
  expect(lines).toHaveLength(2);
  expect(lines[1]).toContain("tenant.update");
});
