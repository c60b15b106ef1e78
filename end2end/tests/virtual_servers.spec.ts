import * as path from "node:path";
import { expect, type Page, test } from "@playwright/test";
import { api, open, signIn } from "./session";

/// Signs in, makes a tenant with server-everything as `everything`, all of it allowed.
async function tenantWithEverything(page: Page, prefix: string) {
  await signIn(page);
  const slug = `${prefix}-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Gateway ${slug}` });
  const everything = path.resolve(__dirname, "../node_modules/@modelcontextprotocol/server-everything/dist/index.js");
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/upstreams`, {
    name: "everything",
    connection: { transport: "stdio", command: "node", args: [everything, "stdio"] },
  });
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/policies`, {
    name: "everything-all",
    effect: "allow",
    tool_pattern: "everything.*",
  });
  return { slug, tenant };
}

test("bundle tools into a virtual server: preview, refusals, endpoint, edit, delete", async ({ page }, info) => {
  const { slug, tenant } = await tenantWithEverything(page, "vs");
  await open(page, `/virtual-servers?tenant=${tenant.id}`);
  await expect(page.getByText("No virtual servers yet.")).toBeVisible();

  const form = page.getByRole("form", { name: "Virtual server" });
  // The preview follows the patterns as they are typed, over the tools the user can see.
  await form.getByLabel("Tools, one name or pattern per line").fill("everything.echo\neverything.get-s*");
  await expect(form.getByTestId("vs-preview")).toContainText("everything.echo");
  await expect(form.getByTestId("vs-preview")).toContainText("everything.get-sum");
  await expect(form.getByTestId("vs-preview")).not.toContainText("everything.trigger");

  // A bad name is refused with the server's field message; nothing is added.
  await form.getByLabel("Name", { exact: true }).fill("Bad Name");
  await form.getByRole("button", { name: "Save virtual server" }).click();
  await expect(form.getByRole("alert")).toContainText("name");
  await expect(page.getByText("No virtual servers yet.")).toBeVisible();

  await form.getByLabel("Name", { exact: true }).fill("kit");
  await form.getByRole("button", { name: "Save virtual server" }).click();
  const kit = page.locator('tr[data-virtual-server="kit"]');
  await expect(kit.getByTestId("vs-endpoint")).toHaveText(new RegExp(`/mcp/${slug}/kit$`));
  await expect(kit).toContainText("everything.echo, everything.get-s*");

  // Edit: the form fills with the server; the change survives a reload.
  await kit.getByRole("button", { name: "Edit" }).click();
  await expect(form.getByRole("heading")).toHaveText("Edit kit");
  await expect(form.getByLabel("Name", { exact: true })).toHaveValue("kit");
  await form.getByLabel("Offer the upstreams' own names").check();
  await form.getByRole("button", { name: "Save virtual server" }).click();
  await expect(kit).toContainText("upstreams' own names");
  await page.reload();
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.locator('tr[data-virtual-server="kit"]')).toContainText("upstreams' own names");
  await page.screenshot({ path: info.outputPath("virtual-servers.png"), fullPage: true });

  const stored = await api(page, "GET", `/api/v1/tenants/${tenant.id}/virtual-servers`);
  expect(stored.items[0].tools).toEqual(["everything.echo", "everything.get-s*"]);
  expect(stored.items[0].bare_names).toBe(true);

  await page.locator('tr[data-virtual-server="kit"]').getByRole("button", { name: "Delete" }).click();
  await expect(page.locator('tr[data-virtual-server="kit"]')).toHaveCount(0);
});

test("search the catalog of tools, prompts, resources and templates", async ({ page }) => {
  const { tenant } = await tenantWithEverything(page, "cat");
  await open(page, `/catalog?tenant=${tenant.id}`);
  const table = page.getByRole("table", { name: "Catalog" });
  for (const kind of ["tool", "prompt", "resource", "template"]) {
    await expect(table.locator(`tr[data-kind="${kind}"]`).first()).toBeVisible();
  }
  await page.getByLabel("Search the catalog").fill("echo");
  await expect(table.locator("tbody tr").first()).toContainText("everything.echo");
  await page.getByLabel("Search the catalog").fill("");
  await page.getByLabel("Kind").selectOption("resource");
  await expect(table.locator('tr[data-kind="tool"]')).toHaveCount(0);
  await expect(table.locator('tr[data-kind="resource"]').first()).toContainText("switchyard://everything/");
});

test("opt in to keeping tool-call arguments in the audit trail", async ({ page }) => {
  const { tenant } = await tenantWithEverything(page, "args");
  await open(page, `/access?tenant=${tenant.id}`);
  const keep = page.getByLabel("Keep tool-call and prompt arguments in the audit trail", { exact: false });
  await expect(keep).not.toBeChecked();
  await keep.check();
  await expect
    .poll(async () => (await api(page, "GET", `/api/v1/tenants/${tenant.id}/gateway-settings`)).store_arguments)
    .toBe(true);
  await page.reload();
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.getByLabel("Keep tool-call and prompt arguments in the audit trail", { exact: false })).toBeChecked();
  // A call through the gateway now leaves its arguments, the secret one redacted.
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/tools/call`, {
    tool: "everything.echo",
    arguments: { message: "kept from the console", password: "hunter2" },
  });
  const trail = await api(page, "GET", `/api/v1/tenants/${tenant.id}/audit?action=tool.call&limit=1`);
  expect(trail.items[0].detail.arguments).toEqual({ message: "kept from the console", password: "[redacted]" });
});
