//! TLS built in (feature `tls`): a real client over `wss://` with a certificate made in the
//! test, the same limits, metrics and graceful shutdown as over TCP, clear errors for bad
//! certificate files, failed TLS handshakes dropped without harm, and certificates reloaded
//! without a restart. The chat example over wss is in `example_chat.rs`.

use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use swoft_ws::Listener;
use swoft_ws::prelude::*;
use swoft_ws::tls::{TlsConfig, TlsError};
use swoft_ws_tests::tls::{TempDir, TestCa};
use swoft_ws_tests::{TestClient, init_tracing, metric_value, wait_until};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Closes(Mutex<Vec<u16>>);

#[ws_module(path = "/t", controllers = [TController], max_message_size = 1024)]
pub struct TModule;

#[ws_module]
impl TModule {
    #[on_close]
    fn close(conn: &Connection, info: &CloseInfo) {
        let closes = conn.server().state::<Closes>().unwrap();
        closes.0.lock().unwrap().push(info.code);
    }
}

#[derive(Default)]
pub struct TController;

#[ws_controller(prefix = "t")]
impl TController {
    #[message_mapping("echo")]
    fn echo(Data(v): Data<Value>) -> Value {
        v
    }
}

/// This binary's Prometheus recorder, installed once, before any app is built.
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
        handle
    })
}

/// An app served over TLS on a loopback port, stopped by [`Tls::stop`] (or dropped with the
/// test's runtime).
struct Tls {
    addr: std::net::SocketAddr,
    server: Server,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Tls {
    async fn start(tls: TlsConfig, handshake_timeout: Duration) -> Tls {
        init_tracing();
        metrics();
        let app = App::builder()
            .module::<TModule>()
            .state(Closes::default())
            .handle_signals(false)
            .handshake_timeout(handshake_timeout)
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = app.server().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let listener = Listener::tls(listener, tls);
        assert!(listener.is_tls());
        let task = tokio::spawn(app.serve_with_shutdown(listener, shutdown));
        Tls {
            addr,
            server,
            stop: Some(tx),
            task,
        }
    }

    fn url(&self) -> String {
        format!("wss://localhost:{}/t", self.addr.port())
    }

    async fn connect(&self, ca: &TestCa) -> TestClient {
        TestClient::connect_tls(&self.url(), &[], ca.client_config())
            .await
            .expect("a wss handshake")
    }

    fn closes(&self) -> Vec<u16> {
        self.server
            .state::<Closes>()
            .unwrap()
            .0
            .lock()
            .unwrap()
            .clone()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|tx| tx.send(()));
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("serve returns in time")
            .expect("no panic")
            .expect("serve ends with Ok");
    }
}

#[tokio::test]
async fn a_wss_client_gets_replies_and_the_limits_apply_as_over_tcp() {
    let ca = TestCa::new();
    let cert = ca.server_cert("first");
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    assert_eq!(tls.current().alpn_protocols, vec![b"http/1.1".to_vec()]);
    let server = Tls::start(tls, WAIT).await;

    let mut client = server.connect(&ca).await;
    assert_eq!(client.peer_certificates().first(), Some(&cert.der));
    let reply = client.request("t.echo", json!({"text": "over tls"})).await;
    assert_eq!(reply["data"], json!({"text": "over tls"}));
    // Many frames at once, larger than a TLS record: read back in order.
    let big = "x".repeat(900);
    for i in 0..50 {
        client
            .send_text(&format!(r#"{{"cmd":"t.echo","data":"{big}{i}","id":{i}}}"#))
            .await;
    }
    for i in 0..50 {
        assert_eq!(client.recv_json().await["data"], json!(format!("{big}{i}")));
    }
    // The module's max_message_size (1 KiB), as over TCP: close 1009.
    client.send_text(&"y".repeat(2000)).await;
    assert_eq!(client.expect_close().await.0, 1009);
    // The server waits for the end of the stream after a violation (it no longer decodes).
    drop(client);
    assert!(wait_until(WAIT, || server.closes() == [1009]).await);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_over_tls_closes_every_client_1001_and_runs_on_close() {
    let ca = TestCa::new();
    let cert = ca.server_cert("shutdown");
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = Tls::start(tls, WAIT).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = server.connect(&ca).await;
        assert_eq!(c.request("t.echo", json!(1)).await["data"], json!(1));
        clients.push(c);
    }
    let s = server.server.clone();
    s.shutdown();
    for c in &mut clients {
        assert_eq!(
            c.expect_close().await,
            (1001, "server shutting down: reconnect".to_owned())
        );
    }
    drop(clients);
    let closes = s.state::<Closes>().unwrap();
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("serve returns in time")
        .unwrap()
        .unwrap();
    let closes = closes.0.lock().unwrap().clone();
    assert_eq!(
        closes,
        [1001, 1001, 1001],
        "every #[on_close] ran before serve returned"
    );
}

#[test]
fn bad_certificate_files_are_clear_errors_naming_the_file() {
    let dir = TempDir::new("tls-bad");
    let missing = dir.path().join("nope.pem");
    let err = TlsConfig::from_pem_files(&missing, &missing).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("certificate") && msg.contains(&*missing.to_string_lossy()),
        "{msg}"
    );

    let ca = TestCa::new();
    let good = ca.server_cert("good");
    let (cert, key) = good.write_to(dir.path());
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a pem file\n").unwrap();
    let err = TlsConfig::from_pem_files(&junk, &key).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("BEGIN CERTIFICATE") && msg.contains("junk.pem"),
        "{msg}"
    );
    let err = TlsConfig::from_pem_files(&cert, &junk).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("private key") && msg.contains("junk.pem"),
        "{msg}"
    );
    // The key of another certificate.
    let other = ca.server_cert("other");
    let other_key = dir.path().join("other-key.pem");
    std::fs::write(&other_key, &other.key_pem).unwrap();
    let err = TlsConfig::from_pem_files(&cert, &other_key).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("other-key.pem") && msg.contains("cert.pem"),
        "{msg}"
    );

    let config = TlsConfig::from_pem_files(&cert, &key).unwrap();
    assert_eq!(config.files(), Some((cert.as_path(), key.as_path())));
    let from_config = TlsConfig::from_server_config(config.current());
    assert!(matches!(from_config.reload(), Err(TlsError::NotFromFiles)));
}

/// Writes `bytes` (if any) on a raw TCP connection and reads until the server ends it; how
/// long that took. Blocking std I/O with a read timeout, in a blocking task.
async fn ended_by_server(addr: std::net::SocketAddr, bytes: &'static [u8]) -> Duration {
    tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tcp.write_all(bytes).unwrap();
        let mut sink = [0u8; 4096];
        loop {
            match tcp.read(&mut sink) {
                Ok(0) => return start.elapsed(),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return start.elapsed();
                }
                Err(e) => panic!("the server did not end the connection: {e}"),
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn plain_http_garbage_and_silent_clients_on_the_tls_port_are_dropped_and_counted() {
    let ca = TestCa::new();
    let cert = ca.server_cert("drop");
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = Tls::start(tls, Duration::from_millis(300)).await;
    let failed = |reason: &str| {
        let text = metrics().render();
        metric_value(
            &text,
            &format!("swoft_ws_tls_handshake_failures_total{{reason=\"{reason}\"}}"),
        )
    };
    let (errors, timeouts) = (failed("error"), failed("timeout"));

    let http = b"GET /t HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n";
    ended_by_server(server.addr, http).await;
    let garbage: &[u8] = &[0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00];
    ended_by_server(server.addr, garbage).await;
    assert!(wait_until(WAIT, || failed("error") >= errors + 2.0).await);
    // A client that starts no handshake: dropped at the handshake timeout.
    let took = ended_by_server(server.addr, b"").await;
    assert!(took >= Duration::from_millis(250), "dropped after {took:?}");
    assert!(wait_until(WAIT, || failed("timeout") > timeouts).await);

    // The server still serves.
    let mut client = server.connect(&ca).await;
    assert_eq!(
        client.request("t.echo", json!("ok")).await["data"],
        json!("ok")
    );
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_reload_gives_new_handshakes_the_new_certificate_and_live_connections_stay() {
    let ca = TestCa::new();
    let dir = TempDir::new("tls-reload");
    let (first, second) = (ca.server_cert("first"), ca.server_cert("second"));
    let (cert, key) = first.write_to(dir.path());
    let tls = TlsConfig::from_pem_files(&cert, &key).unwrap();
    let server = Tls::start(tls.clone(), WAIT).await;

    let mut old = server.connect(&ca).await;
    assert_eq!(old.peer_certificates().first(), Some(&first.der));

    second.write_to(dir.path());
    tls.reload().unwrap();
    let mut new = server.connect(&ca).await;
    assert_eq!(new.peer_certificates().first(), Some(&second.der));
    assert_eq!(
        old.request("t.echo", json!("old")).await["data"],
        json!("old")
    );
    assert_eq!(
        new.request("t.echo", json!("new")).await["data"],
        json!("new")
    );

    // A failed reload keeps what is in use.
    std::fs::write(&cert, "broken").unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::Certificate { .. })));
    let again = server.connect(&ca).await;
    assert_eq!(again.peer_certificates().first(), Some(&second.der));

    // A rustls configuration of one's own, swapped in.
    let third = ca.server_cert("third");
    let own = TlsConfig::from_pem(third.cert_pem.as_bytes(), third.key_pem.as_bytes()).unwrap();
    tls.replace(own.current());
    let last = server.connect(&ca).await;
    assert_eq!(last.peer_certificates().first(), Some(&third.der));
    assert_eq!(old.request("t.echo", json!(2)).await["data"], json!(2));
    drop((old, new, again, last));
    server.stop().await;
}

#[tokio::test]
async fn a_client_offering_h2_and_http1_gets_http1_by_alpn() {
    let ca = TestCa::new();
    let cert = ca.server_cert("alpn");
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = Tls::start(tls, WAIT).await;
    let addr = server.addr;
    let mut config = (*ca.client_config()).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (alpn, status) = tokio::task::spawn_blocking(move || {
        let name = "localhost".try_into().unwrap();
        let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"GET /nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 12];
        tls.read_exact(&mut head).unwrap();
        (tls.conn.alpn_protocol().map(<[u8]>::to_vec), head)
    })
    .await
    .unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(&status, b"HTTP/1.1 404");
    server.stop().await;
}
