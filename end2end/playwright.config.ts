import { defineConfig } from "@playwright/test";
import * as os from "node:os";
import * as path from "node:path";

// The server binary and site built by `cargo leptos build` (see .ci/test). Each project runs
// the real server on its own port: SQLite always, PostgreSQL when E2E_DATABASE_URL is set.
const bin = process.env.E2E_SERVER_BIN ?? path.resolve(__dirname, "../target/debug/switchyard");
const siteRoot = process.env.E2E_SITE_ROOT ?? path.resolve(__dirname, "../target/site");
const runDir = process.env.E2E_RUN_DIR ?? path.join(os.tmpdir(), `switchyard-e2e-${Date.now()}`);

function server(name: string, port: number, databaseUrl?: string) {
  return {
    command: bin,
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe" as const,
    env: {
      SWITCHYARD_HTTP__BIND: `127.0.0.1:${port}`,
      SWITCHYARD_DATA_DIR: path.join(runDir, name),
      SWITCHYARD_SITE__ROOT: siteRoot,
      SWITCHYARD_LOG__FORMAT: "pretty",
      SWITCHYARD_LOG__FILTER: "warn",
      // Specs count what their tenants offer; builtin.spec.ts adds the built-in servers.
      SWITCHYARD_TOOLS__BUILTIN_FOR_NEW_TENANTS: "[]",
      SWITCHYARD_BOOTSTRAP__ADMIN_PASSWORD: "e2e-admin-password",
      // Every test signs in afresh; the default of 5 a minute per account is for people.
      SWITCHYARD_AUTH__LOGIN_ATTEMPTS_PER_MINUTE: "1000",
      ...(databaseUrl ? { SWITCHYARD_DATABASE__URL: databaseUrl } : {}),
    },
  };
}

const projects = [{ name: "sqlite", port: 3101, databaseUrl: undefined as string | undefined }];
if (process.env.E2E_DATABASE_URL) {
  projects.push({ name: "postgres", port: 3102, databaseUrl: process.env.E2E_DATABASE_URL });
}

export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  workers: 1,
  retries: 0,
  timeout: 60_000,
  reporter: [["list"]],
  use: {
    screenshot: "on",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
      ],
    },
  },
  projects: projects.map((p) => ({
    name: p.name,
    use: { baseURL: `http://127.0.0.1:${p.port}` },
  })),
  webServer: projects.map((p) => server(p.name, p.port, p.databaseUrl)),
});
