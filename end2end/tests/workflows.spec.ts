import { expect, test } from "@playwright/test";
import { api, open, signIn } from "./session";

test("write a workflow with inline checks, run it, watch its trace, approve, see it finish", async ({ page }, info) => {
  await signIn(page);
  const slug = `wf-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Workflows ${slug}` });
  await open(page, `/workflows?tenant=${tenant.id}`);
  await expect(page.getByText("No workflows yet.")).toBeVisible();

  const form = page.getByRole("form", { name: "Workflow" });
  const check = form.getByTestId("definition-check");
  // The example checks and is drawn.
  await expect(check).toContainText("The definition checks.");
  await expect(check.locator('g[data-node="approve"]')).toBeVisible();

  // A typo is named inline, with its field, before anything is sent.
  const definition = form.getByLabel("Definition (JSON)");
  const example = await definition.inputValue();
  await definition.fill(example.replace('"to": "approve"', '"to": "aprove"'));
  await expect(check.getByRole("list", { name: "Definition problems" })).toContainText(
    "nodes.check.routes[0].to: there is no node `aprove`",
  );
  await definition.fill(example.replace("state.count >= 3", "state.count >="));
  await expect(check).toContainText("nodes.check.routes[0].when: at character 15: expected a value, found the end");
  // Saved anyway, the server refuses it with the same problem, and nothing is stored.
  await form.getByLabel("Name", { exact: true }).fill("counter");
  await form.getByRole("button", { name: "Save workflow" }).click();
  await expect(form.getByRole("alert")).toContainText("definition.nodes.check.routes[0].when");
  await expect(page.getByText("No workflows yet.")).toBeVisible();

  await definition.fill(example);
  await form.getByRole("button", { name: "Save workflow" }).click();
  const row = page.locator('tr[data-workflow="counter"]');
  await expect(row).toContainText("1");

  // Run it from the console: the runs page opens on the run's live trace.
  await row.getByLabel("Run input (JSON)").fill('{"count": 1}');
  await row.getByRole("button", { name: "Run" }).click();
  await expect(page).toHaveURL(/\/runs\?tenant=.*&run=/);
  const trace = page.getByTestId("run-trace");
  // The run pauses at the approval; the trace shows it waiting, the node highlighted.
  await expect(trace.getByTestId("run-status")).toContainText("waiting");
  await expect(trace.locator('g.graph-node.active[data-node="approve"]')).toBeVisible();
  await expect(trace.getByRole("list", { name: "Checkpoints" })).toContainText("step 4: check");
  await trace.getByRole("button", { name: "step 1: inc" }).click();
  await expect(trace.getByTestId("checkpoint-state")).toContainText('"count": 2');
  await expect(trace.locator(".approval")).toContainText("Counted to 3. Accept?");
  // The run's event stream, replayed then followed live.
  const events = trace.getByRole("list", { name: "Events" });
  await expect(events).toContainText("inc started (transform)");
  await expect(events).toContainText("run waiting at step 4, waiting on approve");
  await page.screenshot({ path: info.outputPath("run-waiting.png"), fullPage: true });

  await trace.locator(".approval").getByLabel("Comment").fill("looks right");
  await trace.locator(".approval").getByRole("button", { name: "Approve" }).click();
  await expect(trace.getByTestId("run-status")).toContainText("succeeded");
  await expect(trace.getByRole("list", { name: "Checkpoints" })).toContainText("step 5: approve");
  await expect(trace.locator("g.graph-node.active")).toHaveCount(0);
  // Heard live, after the decision: the approval, the last step, the end.
  await expect(events).toContainText("approve approved");
  await expect(events).toContainText("step 5 committed (approve): changed decision");
  await expect(events).toContainText("run succeeded at step 5");
  await page.screenshot({ path: info.outputPath("run-finished.png"), fullPage: true });

  const runs = await api(page, "GET", `/api/v1/tenants/${tenant.id}/runs?status=succeeded`);
  expect(runs.items).toHaveLength(1);
  expect(runs.items[0].state.decision.approved).toBe(true);
  expect(runs.items[0].state.decision.comment).toBe("looks right");
});

test("the approvals inbox lists what waits, with its prompt, and takes the decision", async ({ page }) => {
  await signIn(page);
  const slug = `inbox-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Inbox ${slug}` });
  const definition = {
    state: { amount: { type: "integer" }, decision: { type: "object" } },
    start: "ask",
    nodes: {
      ask: { kind: "approval", prompt: "Pay {{ state.amount }} EUR?", output: "decision",
             form: [{ name: "reason", type: "string", required: true }] },
    },
  };
  const wf = await api(page, "POST", `/api/v1/tenants/${tenant.id}/workflows`, { name: "pay", definition });
  const run = await api(page, "POST", `/api/v1/tenants/${tenant.id}/workflows/${wf.id}/runs`, { input: { amount: 42 } });
  await expect
    .poll(async () => (await api(page, "GET", `/api/v1/tenants/${tenant.id}/runs/${run.id}`)).status)
    .toBe("waiting");

  await open(page, `/approvals?tenant=${tenant.id}`);
  const item = page.locator(`li[data-approval="${run.id}:ask"]`);
  await expect(item).toContainText("Pay 42 EUR?");
  // The form's required field is checked by the server: refused without it, kept waiting.
  await item.getByRole("button", { name: "Approve" }).click();
  await expect(item.getByRole("alert")).toContainText("reason");
  await item.getByLabel("reason").fill("invoice 7");
  await item.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByText("Nothing waits for a decision.")).toBeVisible();
  const done = await api(page, "GET", `/api/v1/tenants/${tenant.id}/runs/${run.id}`);
  expect(done.status).toBe("succeeded");
  expect(done.state.decision.form.reason).toBe("invoice 7");
});
