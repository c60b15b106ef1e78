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

/// The Python with the MCP SDK: `$SWITCHYARD_PYTHON`, else the one `.ci/setup --test` made
/// (under `$XDG_CACHE_HOME`, or `~/.cache`).
pub fn python() -> PathBuf {
    let path = std::env::var_os("SWITCHYARD_PYTHON").map_or_else(
        || {
            let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(
                || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"),
                PathBuf::from,
            );
            cache.join("switchyard-tools/py/bin/python")
        },
        PathBuf::from,
    );
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
