//! The `switchyard` binary itself: JSON log lines that carry the request id, the generated
//! administrator password printed once on first start only, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .env_clear()
        .env("SWITCHYARD_DATA_DIR", data_dir)
        .env("SWITCHYARD_HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHYARD_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for readiness, sends one request with a known id, stops the process with SIGTERM and
/// returns its log lines, each parsed as JSON.
// A plain synchronous test driving a child process: no async runtime to block.
#[allow(clippy::disallowed_methods)]
fn run_once(data_dir: &std::path::Path) -> Vec<serde_json::Value> {
    let port = free_port();
    let mut child = start(data_dir, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if plain_http::get(port, "/readyz", "ready-check").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "not ready in 30 s");
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        plain_http::get(port, "/api/v1/openapi.json", "log-me-7")
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    stdout
        .lines()
        .map(|line| {
            let line = line.unwrap();
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
        })
        .collect()
}

/// Minimal HTTP/1.1 GET over a plain socket, so this test needs no async runtime.
mod plain_http {
    use std::io::{Read, Write};

    pub fn get(port: u16, path: &str, request_id: &str) -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-request-id: {request_id}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.starts_with("HTTP/1.1 200").then_some(answer)
    }
}

#[test]
fn json_logs_first_run_password_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_once(dir.path());
    let generated: Vec<_> = first.iter().filter(|l| l["password"].is_string()).collect();
    assert_eq!(
        generated.len(),
        1,
        "the generated password is printed exactly once"
    );
    assert_eq!(generated[0]["level"], "WARN");
    assert_eq!(generated[0]["password"].as_str().unwrap().len(), 24);
    let request_line = first
        .iter()
        .find(|l| l["span"]["request_id"] == "log-me-7")
        .expect("a log line of the request carries its id");
    assert_eq!(request_line["span"]["path"], "/api/v1/openapi.json");
    assert!(
        first.iter().any(|l| l["message"] == "stopped"),
        "no clean stop logged"
    );

    // The second start on the same database seeds nothing and prints no password.
    let second = run_once(dir.path());
    assert!(second.iter().all(|l| !l["password"].is_string()));
    assert!(second.iter().any(|l| l["message"] == "switchyard is ready"));
}
