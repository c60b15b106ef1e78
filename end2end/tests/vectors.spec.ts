import { expect, test } from "@playwright/test";
import { api, open, signIn } from "./session";

test("make a vector index in the console, fill it through the gateway, delete it", async ({ page }, info) => {
  await signIn(page);
  const slug = `vx-${Date.now().toString(36)}`;
  const tenant = await api(page, "POST", "/api/v1/tenants", { slug, name: `Vectors ${slug}` });
  await api(page, "POST", `/api/v1/tenants/${tenant.id}/upstreams/builtin`, { server: "vectors" });
  await open(page, `/vectors?tenant=${tenant.id}`);
  await expect(page.getByText("No vector indexes yet.")).toBeVisible();

  const form = page.getByRole("form", { name: "New vector index" });
  // A bad dimension is refused by field, and nothing is made.
  await form.getByLabel("Name").fill("films");
  await form.getByLabel("Dimension").fill("0");
  await form.getByRole("button", { name: "Create index" }).click();
  await expect(form.getByRole("alert")).toContainText("must be between 1 and 4096");
  await form.getByLabel("Dimension").fill("3");
  await form.getByLabel("Metric").selectOption("euclidean");
  await form.getByRole("button", { name: "Create index" }).click();
  const row = page.locator('tr[data-vector-index="films"]');
  await expect(row).toContainText("euclidean");
  await expect(row.getByTestId("vector-count")).toHaveText("0");

  // Records come through the vectors server's tools, governed like any upstream's.
  const call = await api(page, "POST", `/api/v1/tenants/${tenant.id}/tools/call`, {
    tool: "vectors.upsert",
    arguments: {
      index: "films",
      vectors: [
        { id: "a", values: [1, 0, 0], metadata: { genre: "drama" } },
        { id: "b", values: [0, 1, 0] },
      ],
    },
  });
  expect(call.result.structuredContent).toEqual({ upserted_count: 2, vector_count: 2 });
  await page.getByRole("button", { name: "Refresh" }).click();
  await expect(row.getByTestId("vector-count")).toHaveText("2");
  await expect(row).toContainText("exact search");
  await page.screenshot({ path: info.outputPath("vectors.png"), fullPage: true });

  // Deleting asks once more, naming what goes.
  await row.getByRole("button", { name: "Delete" }).click();
  await row.getByRole("button", { name: "Delete 2 records for good" }).click();
  await expect(page.getByText("No vector indexes yet.")).toBeVisible();
  const trail = await api(page, "GET", `/api/v1/tenants/${tenant.id}/audit?action=vector_index.delete`);
  expect(trail.items[0].detail).toMatchObject({ name: "films", vector_count: 2 });

  // A Pinecone index takes its host and key; a host that would get the key in the clear is
  // refused by field, and the key is never shown back.
  await expect(form.getByLabel("Pinecone API key")).toHaveCount(0);
  await form.getByLabel("Records live").selectOption("pinecone");
  await form.getByLabel("Name").fill("remote");
  await form.getByLabel("Pinecone index host").fill("http://pinecone.example");
  await form.getByLabel("Pinecone API key").fill("pcsk_console_secret");
  await form.getByRole("button", { name: "Create index" }).click();
  await expect(form.getByRole("alert")).toContainText("must be HTTPS");
  await form.getByLabel("Pinecone index host").fill("remote-abc.svc.aped-4627-b74a.pinecone.io");
  await form.getByRole("button", { name: "Create index" }).click();
  const remote = page.locator('tr[data-vector-index="remote"]');
  await expect(remote).toContainText("at Pinecone (https://remote-abc.svc.aped-4627-b74a.pinecone.io)");
  await expect(page.locator("body")).not.toContainText("pcsk_console_secret");
});
