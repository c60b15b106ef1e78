//! Real MCP peers for gateway tests: the reference `server-everything` (npm, installed in
//! end2end/node_modules by `.ci/setup --test`), and a look at which of its processes live.

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
