import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { startLlama, tools } from "./llama";
import { api, open, signIn } from "./session";

// The chat against real peers: llama.cpp's server with SmolLM2-135M as the model and the
// MCP Python SDK's conformance server as the upstream, both as `.ci/setup --test` installs
// them (PEERS.md).
const conformance = path.resolve(__dirname, "../../server/tests/peers/conformance_server.py");
let llama: Awaited<ReturnType<typeof startLlama>> | undefined;
let baseUrl = "";

test.beforeAll(async () => {
  llama = await startLlama();
  baseUrl = llama.baseUrl;
});

test.afterAll(() => {
  llama?.child.kill();
});

test("chat: a tool call waits for the user's approval, runs, and the answer streams in", async ({ page }, info) => {
  test.setTimeout(120_000);
  await signIn(page);
  const slug = `chat-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", `/api/v1/tenants`, { slug, name: `Chat ${slug}` });
  const base = `/api/v1/tenants/${tenant.id}`;
  await api(page, "POST", `${base}/upstreams`, {
    name: "fx",
    connection: { transport: "stdio", command: path.join(tools, "py/bin/python"), args: [conformance, "stdio"] },
  });
  await api(page, "POST", `${base}/policies`, { name: "fx-all", effect: "allow", tool_pattern: "fx.*" });
  // This tool runs only once the user confirms it.
  await api(page, "POST", `${base}/policies`, {
    name: "confirm-text", effect: "allow", confirm: true, tool_pattern: "fx.test_simple_text", priority: 10,
  });
  await api(page, "POST", `${base}/llm-providers`, { name: "local", base_url: baseUrl, model: "smollm2", timeout_secs: 60 });

  await open(page, `/chat?tenant=${tenant.id}`);
  await expect(page.getByText("No conversations yet.")).toBeVisible();
  await page.getByRole("button", { name: "New conversation" }).click();
  await expect(page.getByText("Say what you need.")).toBeVisible();
  await expect(page.getByTestId("chat-status")).toHaveText("Ready");

  // A blank message is refused, saying why; nothing is stored.
  await page.getByLabel("Message", { exact: true }).fill("   ");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.locator(".composer").getByRole("alert")).toContainText("content");
  await expect(page.getByText("Say what you need.")).toBeVisible();

  // The tool list holds the user's tools; choosing one makes it the agent's first call.
  const tool = page.getByLabel("Tool");
  await expect(tool.locator('option[value="fx.test_simple_text"]')).toHaveCount(1);
  await page.getByLabel("Message", { exact: true }).fill("Get the test text, then tell me what it said.");
  await tool.selectOption("fx.test_simple_text");
  await page.getByRole("button", { name: "Send" }).click();

  const messages = page.getByRole("list", { name: "Messages" });
  await expect(messages.locator('li[data-role="user"]')).toContainText("Get the test text");
  const card = messages.locator('.tool-card[data-tool="fx.test_simple_text"]');
  await expect(card).toHaveAttribute("data-status", "pending_approval", { timeout: 60_000 });
  await expect(card).toContainText("confirm-text");
  await expect(page.getByTestId("chat-status")).toHaveText("Waiting for your decision");
  // Nothing can be sent while a call waits.
  await expect(page.getByRole("button", { name: "Send" })).toBeDisabled();
  await page.screenshot({ path: info.outputPath("chat-waiting.png"), fullPage: true });

  await card.getByRole("button", { name: "Approve" }).click();
  await expect(card).toHaveAttribute("data-status", "done", { timeout: 60_000 });
  await expect(card).toContainText("simple text response");
  await expect(card).toContainText(" ms");
  await expect(page.getByTestId("chat-status")).toHaveText("Ready", { timeout: 60_000 });
  // The answer after the call is stored, last.
  await expect(messages.locator("li").last()).toHaveAttribute("data-role", "assistant");
  await expect(page.getByRole("button", { name: "Send" })).toBeEnabled();
  await page.screenshot({ path: info.outputPath("chat-answered.png"), fullPage: true });

  // An answer can be stopped while it is written: the turn ends, saying so.
  await page.getByLabel("Message", { exact: true }).fill("Check the connection.");
  await tool.selectOption("fx.test_reconnection");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByRole("button", { name: "Stop" }).click();
  await expect(messages.locator("li").last()).toContainText("you stopped the answer");
  await expect(page.getByTestId("chat-status")).toHaveText("Ready");
  await expect(page.getByRole("button", { name: "Stop" })).toHaveCount(0);
  // Its first message named it.
  await expect(page.locator(".chat-list li")).toContainText("Get the test text, then tell me what it said.");
  // The conversation is listed, and read again after a reload.
  const listed = await api(page, "GET", `${base}/conversations`);
  expect(listed.items).toHaveLength(1);
  await open(page, `/chat?tenant=${tenant.id}&conversation=${listed.items[0].id}`);
  await expect(messages.locator('.tool-card[data-status="done"]')).toHaveCount(1);
  await expect(messages.locator('li[data-role="assistant"]').last()).toContainText("you stopped the answer");
  await page.getByRole("button", { name: "Delete" }).click();
  await expect(page.getByText("No conversations yet.")).toBeVisible();
});

test("chat: a conversation answered by an agent workflow", async ({ page }) => {
  await signIn(page);
  const slug = `chatwf-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", `/api/v1/tenants`, { slug, name: `Chat ${slug}` });
  const base = `/api/v1/tenants/${tenant.id}`;
  await api(page, "POST", `${base}/workflows`, {
    name: "echo-agent",
    definition: {
      state: { message: { type: "string" }, history: { type: "array" }, answer: { type: "string" } },
      start: "reply",
      nodes: {
        reply: { kind: "transform", set: { answer: "'You said: ' + state.message + ' (' + string(len(state.history)) + ' before)'" } },
      },
    },
  });
  await open(page, `/chat?tenant=${tenant.id}`);
  await page.getByLabel("Answered by").selectOption({ label: "Workflow echo-agent" });
  await page.getByRole("button", { name: "New conversation" }).click();
  await expect(page.locator(".chat-list .badge")).toHaveText("workflow");
  await page.getByLabel("Message", { exact: true }).fill("hello");
  await page.getByRole("button", { name: "Send" }).click();
  const messages = page.getByRole("list", { name: "Messages" });
  await expect(messages.locator('li[data-role="assistant"]')).toHaveText("You said: hello (0 before)");
  await expect(page.getByTestId("chat-status")).toHaveText("Ready");
  await page.getByLabel("Message", { exact: true }).fill("again");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(messages.locator('li[data-role="assistant"]').last()).toHaveText("You said: again (2 before)");
});
