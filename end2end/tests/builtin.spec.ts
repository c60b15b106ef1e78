import { expect, test } from "@playwright/test";
import { api, open, signIn } from "./session";

test("add the built-in math server from the console and use it through the gateway", async ({ page }, info) => {
  await signIn(page);
  const slug = `bi-${Date.now().toString(36)}`;
  // This run's settings register no built-in server in new tenants, so it starts empty.
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Built-in ${slug}` });
  await open(page, `/upstreams?tenant=${tenant.id}`);
  await expect(page.getByText("No upstreams yet.")).toBeVisible();

  const form = page.getByRole("form", { name: "Built-in servers" });
  await form.getByLabel("Built-in server").selectOption("math");
  await form.getByRole("button", { name: "Add built-in server" }).click();
  const math = page.locator('tr[data-upstream="math"]');
  await expect(math).toContainText("built-in");
  // Once is enough: a second time is refused with the reason.
  await form.getByRole("button", { name: "Add built-in server" }).click();
  await expect(form.getByRole("alert")).toContainText("already");

  // Test connection lists its tools.
  await math.getByRole("button", { name: "Test" }).click();
  await expect(page.getByTestId("probe-tools")).toContainText("convert_units");

  // Its rule lets everyone use it: the try panel calls it with the admin's rights.
  const tools = page.getByRole("list", { name: "Tools" });
  await expect(tools.getByRole("button")).toHaveCount(4);
  await tools.getByRole("button", { name: "math.evaluate" }).click();
  await page.getByLabel("Arguments (JSON)").fill('{"expression": "2^64 + 1"}');
  await page.getByRole("button", { name: "Call" }).click();
  await expect(page.getByTestId("tool-result")).toContainText("18446744073709551617");
  // A mistake comes back as the tool's own error, saying where.
  await page.getByLabel("Arguments (JSON)").fill('{"expression": "2 (3)"}');
  await page.getByRole("button", { name: "Call" }).click();
  await expect(page.getByTestId("tool-result")).toContainText("at column 3");
  await page.screenshot({ path: info.outputPath("builtin.png"), fullPage: true });

  const rules = await api(page, "GET", `/api/v1/tenants/${tenant.id}/policies`);
  expect(rules.items.map((r: { name: string }) => r.name)).toContain("builtin-math");
});
