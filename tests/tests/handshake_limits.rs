//! What a connection keeps from its handshake is bounded (issue 18, item 1): a request head
//! over the module's `max_handshake_head` gets 431, too many or too long offered subprotocols
//! or extensions get 400, and `Server::stats().handshake_bytes` shows what the live
//! connections keep.

use std::time::Duration;

use swoft_ws::config::ModuleLimits;
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;

/// The head limit of `/small` in these tests.
const SMALL_HEAD: usize = 4 << 10;

#[ws_module(path = "/echo")]
pub struct EchoModule;

#[ws_module]
impl EchoModule {
    #[on_handshake]
    fn handshake(&self, req: &HandshakeRequest) -> Accept {
        match req.protocols().iter().find(|p| *p == "chat.v2") {
            Some(p) => Accept::new().protocol(p.clone()),
            None => Accept::new(),
        }
    }
}

#[ws_module(path = "/small")]
pub struct SmallModule;

fn app() -> App {
    App::builder()
        .module::<EchoModule>()
        .module::<SmallModule>()
        .module_limits::<SmallModule>(ModuleLimits::NONE.max_handshake_head(SMALL_HEAD))
        .build()
        .unwrap()
}

/// The status of a refused handshake (a failure to connect without one is a test failure).
async fn refused(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> u16 {
    match tokio::time::timeout(Duration::from_secs(5), server.connect_with(path, headers)).await {
        Err(_) => panic!("no answer in time"),
        Ok(Ok(_)) => panic!("accepted: {headers:.200?}"),
        Ok(Err(e)) => e.status.unwrap_or_else(|| panic!("no status: {e}")),
    }
}

/// The input seen: 380 KB of `a,a,a,…` kept 10.6 MiB per idle connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_head_over_the_limit_gets_431_and_nothing_is_kept() {
    swoft_ws_tests::init_tracing();
    let server = TestServer::start(app()).await;
    let huge = "a,".repeat(190_000);
    assert_eq!(
        refused(&server, "/echo", &[("Sec-WebSocket-Protocol", &huge)]).await,
        431
    );
    // The module's own limit: a 6 KiB cookie passes the default (16 KiB), not `/small`'s.
    let cookie = format!("c={}", "x".repeat(6 << 10));
    assert_eq!(
        refused(&server, "/small", &[("Cookie", &cookie)]).await,
        431
    );
    let ok = server.connect_with("/echo", &[("Cookie", &cookie)]).await;
    assert!(ok.is_ok(), "{:?}", ok.err());
    drop(ok);
    server.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_long_subprotocols_or_extensions_get_400() {
    swoft_ws_tests::init_tracing();
    let server = TestServer::start(app()).await;
    let list = |n: usize, len: usize| {
        (0..n)
            .map(|i| format!("{i:0len$}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let protocol = "Sec-WebSocket-Protocol";
    let extension = "Sec-WebSocket-Extensions";
    for (name, value) in [
        (protocol, list(33, 4)),
        (protocol, list(1, 65)),
        (extension, list(17, 4)),
        (extension, format!("x; a={}", "1".repeat(260))),
    ] {
        assert_eq!(
            refused(&server, "/echo", &[(name, &value)]).await,
            400,
            "{name}: {value:.80}"
        );
    }
    // At the bounds: accepted.
    let at_bounds = format!("{}, chat.v2", list(31, 64));
    let client = server
        .connect_with(
            "/echo",
            &[(protocol, &at_bounds), (extension, &list(16, 4))],
        )
        .await
        .unwrap();
    assert_eq!(
        client
            .response_headers()
            .get(protocol)
            .and_then(|v| v.to_str().ok()),
        Some("chat.v2")
    );
    drop(client);
    server.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_the_handshake_bytes_live_connections_keep() {
    swoft_ws_tests::init_tracing();
    let server = TestServer::start(app()).await;
    assert_eq!(server.server().stats().handshake_bytes, 0);
    let cookie = format!("c={}", "x".repeat(1000));
    let clients = [
        server
            .connect_with("/echo", &[("Cookie", &cookie)])
            .await
            .unwrap(),
        server
            .connect_with("/small", &[("Cookie", &cookie)])
            .await
            .unwrap(),
    ];
    let kept = server.server().stats().handshake_bytes;
    assert!(
        (2 * 1000..2 * SMALL_HEAD).contains(&kept),
        "two connections with a 1 KB cookie keep {kept} bytes"
    );
    drop(clients);
    server.wait_idle().await;
    assert_eq!(server.server().stats().handshake_bytes, 0);
}
