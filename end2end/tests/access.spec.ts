import { expect, test } from "@playwright/test";
import { open, signIn } from "./session";

test.beforeEach(async ({ page }) => signIn(page));

test("create a role and a tool rule, test a call, find the records on the audit trail", async ({ page }, info) => {
  const suffix = Date.now().toString(36);
  const role = `analyst-${suffix}`;
  const rule = `reports-${suffix}`;
  await open(page, "/access");
  await expect(page.getByRole("heading", { name: "Roles & policies" })).toBeVisible();
  await expect(page.locator('tr[data-role="viewer"]')).toContainText("built-in");

  // A custom role that may call tools.
  const roleForm = page.getByRole("form", { name: "New role" });
  await roleForm.getByLabel("Role name").fill(role);
  await roleForm.getByLabel("tools:call").check();
  await roleForm.getByRole("button", { name: "Create role" }).click();
  await expect(page.locator(`tr[data-role="${role}"]`)).toContainText("tools:call");

  // Edit it in place: one more permission, and a second factor required of its holders.
  const roleRow = page.locator(`tr[data-role="${role}"]`);
  await roleRow.getByRole("button", { name: "Edit" }).click();
  await roleRow.getByLabel("Permission audit:read").check();
  await roleRow.getByRole("button", { name: "Save" }).click();
  await expect(roleRow.getByRole("button", { name: "Edit" })).toBeVisible();
  await expect(roleRow).toContainText("audit:read");
  // The box saves on change; reload only once the save has answered, or the reload can
  // cut the request off (seen on a loaded machine).
  const saved = page.waitForResponse(
    (r) => r.url().endsWith("/require-mfa") && r.request().method() === "PUT" && r.ok(),
  );
  await roleRow.getByLabel(`Require MFA for ${role}`).check();
  await saved;
  await page.reload();
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.locator(`tr[data-role="${role}"]`)).toContainText("audit:read");
  await expect(page.locator(`tr[data-role="${role}"]`).getByLabel(`Require MFA for ${role}`)).toBeChecked();
  await expect(page.locator('tr[data-role="viewer"]').getByRole("button", { name: "Edit" })).toHaveCount(0);

  // A rule: that role may read files under /srv/reports/ only.
  const ruleForm = page.getByRole("form", { name: "New tool rule" });
  await ruleForm.getByLabel("Rule name").fill(rule);
  await ruleForm.getByLabel("Tools (glob)").fill("files.*");
  await ruleForm.getByLabel("Role").selectOption(role);
  await ruleForm.getByLabel("Only when argument").fill("/path");
  await ruleForm.getByLabel("starts with").fill("/srv/reports/");
  await ruleForm.getByRole("button", { name: "Add rule" }).click();
  await expect(page.locator(`tr[data-rule="${rule}"]`)).toContainText("files.*");

  // A bad rule is refused with the server's field errors.
  await ruleForm.getByLabel("Rule name").fill("Bad Name");
  await ruleForm.getByLabel("Tools (glob)").fill("has space");
  await ruleForm.getByRole("button", { name: "Add rule" }).click();
  await expect(ruleForm.getByRole("alert")).toContainText("tool_pattern");

  // The live tester.
  const tester = page.getByRole("form", { name: "Policy tester" });
  await tester.getByLabel("Tool").fill("files.read");
  await tester.getByLabel("As role").selectOption(role);
  await tester.getByLabel("Arguments (JSON)").fill('{"path": "/srv/reports/q3.pdf"}');
  await tester.getByRole("button", { name: "Check" }).click();
  await expect(page.getByRole("status")).toContainText(`Allowed — allowed by rule \`${rule}\``);
  await tester.getByLabel("Arguments (JSON)").fill('{"path": "/srv/reports/../secrets"}');
  await tester.getByRole("button", { name: "Check" }).click();
  await expect(page.getByRole("status")).toContainText("Denied");
  await expect(page.getByRole("status")).toContainText("condition fails");
  // Who may call it, and what one user may do and why.
  const who = page.getByRole("form", { name: "Who may call" });
  await who.getByLabel("Tool").fill("files.read");
  await who.getByRole("button", { name: "Show" }).click();
  await expect(page.locator('tr[data-who="admin@localhost"]')).toContainText("default-deny");
  await page.getByRole("combobox", { name: "User" }).selectOption({ label: "admin@localhost" });
  await expect(page.getByTestId("effective")).toContainText("tenant_admin");
  await expect(page.getByTestId("effective")).toContainText("tools:call from tenant_admin, platform administrator");
  await page.screenshot({ path: info.outputPath("access.png"), fullPage: true });

  // Both changes are on the audit trail.
  const tenant = new URL(page.url()).searchParams.get("tenant");
  await open(page, tenant ? `/audit?tenant=${tenant}` : "/audit");
  await page.getByLabel("Text").fill(suffix);
  await page.getByLabel("Text").press("Enter");
  await expect(page.locator("tr[data-seq]").filter({ hasText: "policy.create" })).toHaveCount(1);
  await expect(page.locator("tr[data-seq]").filter({ hasText: "role.create" })).toHaveCount(1);
  await expect(page.locator("tr[data-seq]").filter({ hasText: "role.update" })).toHaveCount(1);
});
