//! Real MCP peers for gateway tests: the reference `server-everything` (npm, installed in
//! end2end/node_modules by `.ci/setup --test`), the official Python SDK (in the venv the
//! same setup makes) with our fixture server on it, and a look at which processes live.

use std::path::PathBuf;
use std::time::Duration;

/// The entry point of `@modelcontextprotocol/server-everything`.
pub fn everything() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../end2end/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.exists(),
        "{} is missing: run `.ci/setup --test` (npm install in end2end)",
        path.display()
    );
    path
}

/// Process ids whose command line holds `marker`.
pub fn pids_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(marker)
                .then_some(pid)
        })
        .collect()
}

/// Waits up to 10 s for exactly `count` processes holding `marker`; returns those there are.
pub async fn wait_for_pids(marker: &str, count: usize) -> Vec<u32> {
    for _ in 0..100 {
        let pids = pids_with(marker);
        if pids.len() == count {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pids_with(marker)
}

/// Where `.ci/setup --test` puts the tools (under `$XDG_CACHE_HOME`, or `~/.cache`).
fn tools_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"),
        PathBuf::from,
    );
    cache.join("switchyard-tools")
}

/// The Python with the MCP SDK: `$SWITCHYARD_PYTHON`, else the one `.ci/setup --test` made.
pub fn python() -> PathBuf {
    let path = std::env::var_os("SWITCHYARD_PYTHON")
        .map_or_else(|| tools_dir().join("py/bin/python"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: run `.ci/setup --test` (a venv with the MCP Python SDK)",
        path.display()
    );
    path
}

/// The fixture upstream on the Python SDK (tests/peers/fixture_server.py).
pub fn fixture_server() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/fixture_server.py")
}

/// A Python MCP server (`script` with `args`, then a free loopback port) serving Streamable
/// HTTP at `/mcp`; killed when dropped. Returns it once it accepts connections (30 s).
pub async fn http_server(script: &str, args: &[&str]) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script);
    let child = tokio::process::Command::new(python())
        .arg(script)
        .args(args)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Python server");
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, format!("http://127.0.0.1:{port}/mcp"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the Python server on port {port} did not start");
}

/// llama.cpp's OpenAI-compatible server (llama-cpp-python) with SmolLM2-135M-Instruct, both
/// installed by `.ci/setup --test` (PEERS.md), on a free loopback port, requiring `api_key`;
/// killed when dropped. Returns it with its base URL (`http://127.0.0.1:P/v1`) once the model
/// has loaded and it answers (60 s).
pub async fn llama_server(api_key: &str) -> (tokio::process::Child, String) {
    llama_server_with(api_key, &[]).await
}

/// As [`llama_server`], with more of its command-line options (`--embedding true`).
pub async fn llama_server_with(api_key: &str, options: &[&str]) -> (tokio::process::Child, String) {
    let python = tools_dir().join("llm/bin/python");
    let model = tools_dir().join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    for path in [&python, &model] {
        assert!(
            path.exists(),
            "{} is missing: run `.ci/setup --test` (llama-cpp-python and SmolLM2)",
            path.display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = tokio::process::Command::new(python)
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--chat_format",
            "chatml-function-calling",
            "--n_ctx",
            "4096",
        ])
        .args(["--n_threads", "2", "--api_key", api_key])
        .args(options)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start llama.cpp's server");
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = reqwest::Client::new();
    for _ in 0..600 {
        let answered = client
            .get(format!("{base}/models"))
            .bearer_auth(api_key)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if answered {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("llama.cpp's server on port {port} did not start");
}
