//! permessage-deflate's outcomes are counted (a test binary of its own: it installs the global
//! Prometheus recorder): offers accepted and declined, and the connections closed for breaking
//! RFC 7692 by close code.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;
use swoft_ws_tests::metric_value as value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[ws_module(path = "/zm", parser = raw, compression = deflate)]
struct Zm;

#[ws_module]
impl Zm {
    #[on_message]
    fn echo(frame: RawMessage) -> RawMessage {
        frame
    }
}

/// Opens `/zm` with this offer, writes `frame` (masked, first byte `b0`), and returns what the
/// server sent until it closed (or 2 s passed).
async fn exchange(server: &TestServer, offer: &str, b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let req = format!(
        "GET /zm HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n",
        server.addr()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut frame = vec![b0, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    tcp.write_all(&frame).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut got)).await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_and_violations_are_counted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
    let app = App::builder().module::<Zm>().build().unwrap();
    let server = TestServer::start(app).await;

    // Accepted; then RSV1 on a ping: 1002.
    exchange(&server, "permessage-deflate", 0x80 | 0x40 | 0x9, b"").await;
    // Declined twice (a bad value, an unknown parameter), then the third accepted; garbage
    // compressed data: 1007.
    let offers =
        "permessage-deflate; server_max_window_bits=99, permessage-deflate; x, permessage-deflate";
    exchange(&server, offers, 0x80 | 0x40 | 0x2, &[0xff; 16]).await;

    let text = handle.render();
    let m = r#"module="/zm""#;
    let counted = |prefix: String| value(&text, &prefix);
    let offers = |o: &str| {
        counted(format!(
            r#"swoft_ws_deflate_offers_total{{{m},outcome="{o}"}}"#
        ))
    };
    assert_eq!(offers("accepted"), 2.0, "{text}");
    assert_eq!(offers("declined"), 2.0, "{text}");
    let closed = |c: &str| {
        counted(format!(
            r#"swoft_ws_protocol_violations_total{{{m},code="{c}"}}"#
        ))
    };
    assert_eq!(closed("1002"), 1.0, "{text}");
    assert_eq!(closed("1007"), 1.0, "{text}");
    assert_eq!(closed("1009"), 0.0, "{text}");
}
