import { expect, test } from "@playwright/test";
import { startLlama } from "./llama";
import { api, open, signIn } from "./session";

// llama.cpp's OpenAI-compatible server with SmolLM2-135M, as `.ci/setup --test` installs it
// (PEERS.md), requiring an API key: the console's key must really reach it.
const KEY = "sk-console-3c9a";
let llama: Awaited<ReturnType<typeof startLlama>> | undefined;
let baseUrl = "";

test.beforeAll(async () => {
  llama = await startLlama(KEY);
  baseUrl = llama.baseUrl;
});

test.afterAll(() => {
  llama?.child.kill();
});

test("add a model provider with a write-only key, test it, and spend the month's budget", async ({ page }, info) => {
  await signIn(page);
  const slug = `models-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Models ${slug}` });
  await open(page, `/models?tenant=${tenant.id}`);
  await expect(page.getByText("No model providers yet.")).toBeVisible();

  const form = page.getByRole("form", { name: "Model provider" });
  // A bad URL is refused with its field, and nothing is stored.
  await form.getByLabel("Name", { exact: true }).fill("local");
  await form.getByLabel("Base URL").fill("ftp://127.0.0.1");
  await form.getByLabel("Chat model (Azure: deployment)").fill("smollm2");
  await form.getByRole("button", { name: "Save provider" }).click();
  await expect(form.getByRole("alert")).toContainText("base_url");
  await expect(page.getByText("No model providers yet.")).toBeVisible();

  await form.getByLabel("Base URL").fill(baseUrl);
  await form.getByLabel(/API key/).fill(KEY);
  await form.getByRole("button", { name: "Save provider" }).click();
  const row = page.locator('tr[data-provider="local"]');
  await expect(row).toContainText("smollm2");
  await expect(row.locator("td").nth(3)).toHaveText("set");
  // The key is never shown again: not in the page, not in the API's answer.
  expect(await page.content()).not.toContain(KEY);
  const listed = await api(page, "GET", `/api/v1/tenants/${tenant.id}/llm-providers`);
  expect(JSON.stringify(listed)).not.toContain(KEY);

  // The test button asks the real model; its tokens show in the month's usage.
  await row.getByRole("button", { name: "Test" }).click();
  await expect(row.getByTestId("provider-test")).toContainText("answered");
  const usage = page.getByTestId("llm-usage");
  await expect(usage).toContainText("tokens used this month (no budget)");
  const byModel = page.getByRole("table", { name: "Usage by model" });
  await expect(byModel).toContainText("local");
  // The test's answer is not streamed: llama.cpp reports its usage, so nothing is estimated.
  await expect(byModel.locator("tbody tr").first().locator("td").nth(2)).toHaveText("1");
  await page.screenshot({ path: info.outputPath("models.png"), fullPage: true });

  // A budget of one token is spent already: the next request is refused, saying why.
  await page.getByLabel("Monthly budget (tokens; empty for none)").fill("1");
  await page.getByRole("button", { name: "Save budget" }).click();
  await expect(usage).toContainText("of 1 tokens used this month");
  await page.locator('tr[data-provider="local"]').getByRole("button", { name: "Test" }).click();
  await expect(page.locator('tr[data-provider="local"]').getByRole("alert")).toContainText("budget is spent");
  await page.screenshot({ path: info.outputPath("models-budget-spent.png"), fullPage: true });
});
