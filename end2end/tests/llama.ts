import { type ChildProcess, spawn } from "node:child_process";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/// Where `.ci/setup --test` puts the tools (PEERS.md): the venvs and SmolLM2's weights.
export const tools = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "switchyard-tools");

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

/// llama.cpp's OpenAI-compatible server with SmolLM2-135M on a free port, requiring `key`
/// when one is given; resolves once it answers, with its `/v1` URL.
export async function startLlama(key?: string): Promise<{ baseUrl: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    path.join(tools, "llm/bin/python"),
    ["-m", "llama_cpp.server", "--model", path.join(tools, "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
     "--host", "127.0.0.1", "--port", String(port), "--chat_format", "chatml-function-calling",
     "--n_threads", "2", ...(key ? ["--api_key", key] : [])],
    { stdio: "ignore" },
  );
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  for (let i = 0; i < 600; i++) {
    if (await fetch(`${baseUrl}/models`, { headers }).then((r) => r.ok).catch(() => false)) {
      return { baseUrl, child };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("llama.cpp's server did not start");
}
