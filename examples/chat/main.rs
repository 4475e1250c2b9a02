//! The main example: `/echo`, `/raw` and `/chat` (rooms, whispers) over WebSocket, and over
//! HTTP the browser page at `/`, `POST /rooms/{room}/messages` and Prometheus `/metrics`.
//!
//! Run with `cargo run -p swoft-ws-examples --example chat` (listens on `127.0.0.1:8080`, or on
//! `$SWOFT_WS_ADDR`; prints `listening on ws://ADDR`), then open http://127.0.0.1:8080/, or
//! connect to `ws://127.0.0.1:8080/chat?name=alice` and send
//! `{"cmd":"room.join","data":{"room":"lobby"},"id":1}`. `/echo` answers
//! `{"cmd":"echo.send","data":"hi","id":1}` with the same frame.
//!
//! With `SWOFT_WS_TLS_CERT` and `SWOFT_WS_TLS_KEY` (paths of PEM files: the certificate chain
//! and its private key) it serves `https`/`wss` instead and prints `listening on wss://ADDR`;
//! SIGHUP reads the two files again (new connections get the new certificate, live ones stay).
//! `-- --asyncapi FILE` and/or `-- --typescript FILE` write the app's AsyncAPI 3.0 document
//! and TypeScript module (its typed contract, from `App::describe`) and exit without serving;
//! `chat::REGENERATE` is the command that refreshes the committed ones.
//!
//! The app's code is in the `swoft-ws-examples` library (`examples/chat/app.rs` and its
//! folders), so the tests build the same modules. Its module files follow layout A: a file per
//! module (`ws/chat_module.rs`) with its controllers in a folder (`ws/chat/`). Nothing here
//! lists them: `#[ws_module]` and `#[ws_controller]` register themselves, and
//! `App::builder().discover()` finds them.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use swoft_ws::tls::TlsConfig;
use swoft_ws::{App, Listener};
use swoft_ws_examples::chat;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// `--asyncapi FILE`, `--typescript FILE`: writes what is asked and answers `true` (then the
/// example exits); no such flag → `false`. An unknown argument is an error.
fn write_contract() -> Result<bool, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut asked: Vec<(String, String)> = Vec::new();
    while let Some(flag) = args.next() {
        if flag != "--asyncapi" && flag != "--typescript" {
            return Err(format!(
                "unknown argument `{flag}`; expected --asyncapi FILE or --typescript FILE"
            )
            .into());
        }
        let file = args.next().ok_or_else(|| format!("{flag} needs a FILE"))?;
        asked.push((flag, file));
    }
    if asked.is_empty() {
        return Ok(false);
    }
    let app = chat::setup(App::builder().discover()).build()?;
    for (flag, file) in asked {
        let text = if flag == "--asyncapi" {
            chat::asyncapi(&app)
        } else {
            chat::typescript(&app)
        };
        std::fs::write(&file, text).map_err(|e| format!("cannot write {file}: {e}"))?;
        eprintln!("wrote {file}");
    }
    Ok(true)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if write_contract()? {
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    // The recorder goes in before the app is built, so the runtime's metrics reach it.
    let metrics = PrometheusBuilder::new().install_recorder()?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });

    // SWOFT_WS_REDIS_URL (and SWOFT_WS_NODE_ID, SWOFT_WS_CLUSTER_SECRET) make this node one of
    // a cluster over Redis.
    let mut builder = chat::setup(App::builder().discover());
    let adapter = match chat::cluster_from_env().await {
        Ok(adapter) => adapter,
        Err(e) => {
            // e.g. `cannot connect to Redis at redis://127.0.0.1:6379: Connection refused`, or
            // `...: node id one is in use: ...`
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Some(adapter) = adapter {
        let signed = swoft_ws::cluster::ClusterAdapter::settings(&adapter).has_secret();
        eprintln!(
            "cluster node {} over Redis{}",
            swoft_ws::cluster::ClusterAdapter::node_id(&adapter),
            if signed { ", messages signed" } else { "" }
        );
        builder = builder.cluster(adapter);
    }
    let tls = chat::tls_from_env().unwrap_or_else(|e| {
        // e.g. `cannot read the TLS certificate file /etc/x.pem: No such file or directory`
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let app = builder.build()?;
    let server = app.server().clone();
    let router = chat::router(app, Some(metrics));

    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    let listener = match tls {
        Some(tls) => {
            reload_on_sighup(tls.clone());
            println!("listening on wss://{addr}");
            Listener::tls(listener, tls)
        }
        None => {
            println!("listening on ws://{addr}");
            Listener::from(listener)
        }
    };
    // Stops gracefully on SIGINT or SIGTERM (serve_router listens for them).
    swoft_ws::serve_router(listener, router, std::future::pending()).await?;
    // The other nodes (if any) drop this one now rather than after their node timeout.
    server.rooms().leave_cluster(Duration::from_secs(1)).await;
    Ok(())
}

/// On SIGHUP, reads the TLS certificate and key files again: the next handshakes use them,
/// live connections keep theirs. A failed reload is logged and the certificate in use stays.
fn reload_on_sighup(tls: TlsConfig) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(hup) => hup,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: no TLS reloads");
                return;
            }
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: TLS reload failed; the certificate in use stays");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = tls;
}
