//! The `switchyard` binary: parse arguments and settings, start logging, serve.

use std::path::PathBuf;
use std::process::ExitCode;

use switchyard::config::Settings;

const USAGE: &str = "usage: switchyard [--config FILE]                 run the server
       switchyard [--config FILE] audit verify    check every tenant's audit hash chain
       switchyard openapi                         print the OpenAPI document
       switchyard connect URL                     bridge stdio to the MCP endpoint URL
                                                  (API key in $SWITCHYARD_API_KEY)
       switchyard [--config FILE] serve-tool NAME [--tenant SLUG] [--http ADDR]
                  [--allow-host HOST]...          serve a built-in MCP server (math, vectors)
                                                  over stdio, or Streamable HTTP at ADDR/mcp;
                                                  vectors acts for the tenant SLUG in the
                                                  configured database

Settings: defaults, then FILE (or $SWITCHYARD_CONFIG), then SWITCHYARD_* variables.
See deploy/switchyard.example.toml for every key.";

/// glibc's allocator took a fifth of the CPU the gateway spent under load (`malloc`, `free`
/// and `malloc_consolidate` in a `perf` profile of `switchyard-bench mcp` at 64 clients,
/// across tokio's worker threads). jemalloc's per-thread caches do not contend: 52 % more
/// calls/s there on SQLite, for 7 % more memory per open session (mimalloc: the same speed,
/// 49 % more memory).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Both ring and aws-lc-rs may be linked; pick one before any TLS use (STACK.md).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let mut args = std::env::args().skip(1);
    let mut config = std::env::var_os("SWITCHYARD_CONFIG").map(PathBuf::from);
    let mut audit_verify = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "audit" if args.next().as_deref() == Some("verify") => audit_verify = true,
            "connect" => return connect(args.next()).await,
            "serve-tool" => return serve_tool(config, args.collect()).await,
            "openapi" => {
                print!("{}", switchyard::http::openapi_document());
                return ExitCode::SUCCESS;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument `{other}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let settings = match Settings::load(config.as_deref(), std::env::vars()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("switchyard: {e}");
            return ExitCode::from(2);
        }
    };
    if audit_verify {
        return verify_audit(&settings).await;
    }
    let traces = match switchyard::telemetry::init_logging(&settings.log, &settings.trace) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("switchyard: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(settings.http.bind).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(bind = %settings.http.bind, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let code = match switchyard::serve(settings, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "switchyard stopped");
            ExitCode::FAILURE
        }
    };
    if let Some(traces) = traces {
        // Flushing blocks on the exporter's thread.
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    code
}

/// `switchyard connect URL`: stdio for a desktop MCP client, Streamable HTTP to the gateway.
/// stdout carries the protocol, so everything else goes to stderr.
async fn connect(url: Option<String>) -> ExitCode {
    let Some(url) = url else {
        eprintln!("switchyard connect: name the endpoint, e.g. https://gw.example.com/mcp/acme");
        return ExitCode::from(2);
    };
    // The key comes from the environment, never the command line (other users see that).
    let key = std::env::var("SWITCHYARD_API_KEY").unwrap_or_default();
    if key.trim().is_empty() {
        eprintln!("switchyard connect: set SWITCHYARD_API_KEY to an API key (sy_...)");
        return ExitCode::from(2);
    }
    match switchyard::bridge::connect(&url, key.trim()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard connect: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `switchyard serve-tool NAME [--tenant SLUG] [--http ADDR] [--allow-host HOST]...`: one
/// built-in MCP server on its own, for any MCP client. Over stdio, stdout carries the
/// protocol.
async fn serve_tool(config: Option<PathBuf>, args: Vec<String>) -> ExitCode {
    let names = || app::api::BuiltinServer::ALL.map(|s| s.name()).join(", ");
    let mut args = args.into_iter();
    let Some(server) = args.next().as_deref().and_then(switchyard::tools::by_name) else {
        eprintln!("switchyard serve-tool: name a built-in server: {}", names());
        return ExitCode::from(2);
    };
    let (mut http, mut hosts, mut tenant) = (None, Vec::new(), None);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--http", Some(addr)) => match addr.parse::<std::net::SocketAddr>() {
                Ok(addr) => http = Some(addr),
                Err(_) => {
                    eprintln!(
                        "switchyard serve-tool: `{addr}` is not an address like 127.0.0.1:8090"
                    );
                    return ExitCode::from(2);
                }
            },
            ("--allow-host", Some(host)) => hosts.push(host),
            ("--tenant", Some(slug)) => tenant = Some(slug),
            _ => {
                eprintln!("switchyard serve-tool: unexpected `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let settings = match Settings::load(config.as_deref(), std::env::vars()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("switchyard serve-tool: {e}");
            return ExitCode::from(2);
        }
    };
    let tools = match switchyard::tools::standalone(server, &settings, tenant.as_deref()).await {
        Ok(tools) => tools,
        Err(e) => {
            eprintln!("switchyard serve-tool: {e}");
            return ExitCode::from(2);
        }
    };
    let served = match http {
        None => switchyard::tools::serve_stdio(tools).await,
        Some(bind) => {
            let stop = tokio_util::sync::CancellationToken::new();
            let on_signal = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                on_signal.cancel();
            });
            let ready =
                |addr| eprintln!("switchyard serve-tool {}: http://{addr}/mcp", server.name());
            switchyard::tools::serve_http(tools, bind, hosts, stop, ready).await
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard serve-tool: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Re-computes every audit chain; exits 1 if any record was changed or removed.
async fn verify_audit(settings: &Settings) -> ExitCode {
    let store = match switchyard::store::Store::open(&settings.database_url(), 2).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("switchyard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let results = match switchyard::audit::verify_all(&store).await {
        Ok(results) => results,
        Err(e) => {
            eprintln!("switchyard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut intact = true;
    for (tenant, v) in &results {
        match (&v.broken_at, &v.reason) {
            (Some(seq), Some(reason)) => {
                intact = false;
                println!(
                    "tenant {tenant}: BROKEN at record {seq}: {reason} ({} records verified before it)",
                    v.checked
                );
            }
            _ => println!("tenant {tenant}: intact, {} records", v.checked),
        }
    }
    println!(
        "{} chains checked, {}",
        results.len(),
        if intact {
            "all intact"
        } else {
            "TAMPERING DETECTED"
        }
    );
    if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Resolves on SIGTERM (what orchestrators send) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
