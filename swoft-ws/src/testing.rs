//! A test kit for applications (feature `testing`): start an app on a loopback port, connect
//! real WebSocket clients, send commands and await their replies, pushes and closes.
//!
//! Every wait has a timeout ([`DEFAULT_TIMEOUT`], changeable per client), and a wait that runs
//! out **panics** with a message saying what was awaited, so a broken test fails fast instead of
//! hanging.
//!
//! ```no_run
//! use serde_json::json;
//! use swoft_ws::prelude::*;
//! use swoft_ws::testing::TestServer;
//!
//! #[ws_module(path = "/echo", controllers = [Echo])]
//! pub struct EchoModule;
//! #[derive(Default)]
//! pub struct Echo;
//! #[ws_controller(prefix = "echo")]
//! impl Echo {
//!     #[message_mapping("send")]
//!     fn send(Data(v): Data<serde_json::Value>) -> serde_json::Value { v }
//! }
//!
//! #[tokio::test]
//! async fn echo_replies_with_the_data() {
//!     let app = App::builder().module::<EchoModule>().build().unwrap();
//!     let server = TestServer::start(app).await;
//!     let mut client = server.connect("/echo").await.unwrap();
//!     let reply = client.request("echo.send", json!({"a": 1})).await;
//!     assert_eq!(reply["data"], json!({"a": 1}));
//! }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use axum::Router;

use crate::{App, Server};

/// How long a test client waits for anything, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// An app served on `127.0.0.1` on a free port, stopped when dropped.
pub struct TestServer {
    addr: SocketAddr,
    server: Server,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Serves `app` on `127.0.0.1:0`. Panics if no port can be bound.
    pub async fn start(app: App) -> TestServer {
        Self::start_with(app, |router| router).await
    }

    /// Serves `app`'s router after `customize` (tower layers, extra HTTP routes) on
    /// `127.0.0.1:0`.
    pub async fn start_with(app: App, customize: impl FnOnce(Router) -> Router) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = app.server().clone();
        let router = customize(app.into_router());
        let (tx, rx) = oneshot::channel();
        // No signal handlers in tests: Ctrl-C still stops the test binary.
        let task = tokio::spawn(crate::app::serve_app(
            server.clone(),
            router,
            listener.into(),
            async {
                let _ = rx.await;
            },
            false,
        ));
        TestServer {
            addr,
            server,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The loopback address the app listens on (a free port picked at start).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT{path_and_query}`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }

    /// The app's server handle (sessions, contexts, pushes).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Connects a client to `path_and_query` (`/chat?name=a`).
    pub async fn connect(&self, path_and_query: &str) -> Result<TestClient, HandshakeFailed> {
        TestClient::connect(&self.url(path_and_query), &[]).await
    }

    /// Connects with extra request headers (`Origin`, `Cookie`, `Sec-WebSocket-Protocol`, ...).
    pub async fn connect_with(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<TestClient, HandshakeFailed> {
        TestClient::connect(&self.url(path_and_query), headers).await
    }

    /// Waits until the server holds nothing: no connection, admission slot, message context,
    /// fd, room or queued byte ([`ServerStats::is_idle`](crate::ServerStats::is_idle)).
    /// Panics after [`DEFAULT_TIMEOUT`], naming what is left.
    pub async fn wait_idle(&self) {
        let s = &self.server;
        let ok = wait_until(DEFAULT_TIMEOUT, || s.stats().is_idle()).await;
        assert!(
            ok,
            "server not idle after {DEFAULT_TIMEOUT:?}: {:?}",
            s.stats()
        );
    }

    /// Shuts the server down gracefully (as `serve` does on SIGTERM) and returns what `serve`
    /// returned. Panics if it does not return within 30 s.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.join().await
    }

    /// Waits until `serve` returns (after [`Server::shutdown`], say) and returns its result.
    /// Panics if it does not return within 30 s.
    pub async fn join(mut self) -> std::io::Result<()> {
        let task = self.task.take().expect("the serve task");
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("serve did not return within 30 s")
            .expect("the serve task panicked")
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(DEFAULT_TIMEOUT, task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes; whether it held.
pub async fn wait_until(timeout: Duration, cond: impl FnMut() -> bool) -> bool {
    crate::runtime::shutdown::wait_until(timeout, cond).await
}

/// The server refused the handshake (or the connection failed before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeFailed {
    /// The HTTP status, when the server answered with one.
    pub status: Option<u16>,
    /// The response body (the reason), or the error.
    pub body: String,
}

impl fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handshake failed: {:?} {}", self.status, self.body)
    }
}

impl std::error::Error for HandshakeFailed {}

/// A control frame a client received ([`TestClient::recv_control`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// A ping frame and its payload.
    Ping(Vec<u8>),
    /// A pong frame and its payload.
    Pong(Vec<u8>),
}

/// The most control frames a client keeps unread (the server's liveness pings add to them).
const MAX_CONTROLS: usize = 64;

/// What a client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A close frame (code, reason); 1005 when it had no code.
    Close(u16, String),
    /// The connection ended without a close frame.
    Ended,
}

/// A real WebSocket client over loopback.
pub struct TestClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    timeout: Duration,
    next_id: u64,
    /// Frames received while waiting for something else (a reply with another id).
    pending: VecDeque<Received>,
    /// Pings and pongs received, oldest first (at most [`MAX_CONTROLS`]).
    controls: VecDeque<Control>,
    /// Response headers of the handshake.
    headers: http::HeaderMap,
    /// The `$session` frames of a module with resumable sessions (their `data`), kept aside
    /// (see [`expect_session`](Self::expect_session)), and how many frames came before the
    /// first.
    sessions: Vec<Value>,
    before_session: usize,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl TestClient {
    /// Connects to `url` with extra headers.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Self, HandshakeFailed> {
        Self::connect_via(url, headers, None).await
    }

    /// Connects to a `wss://` `url` with extra headers, over TLS with `tls` (feature `tls`):
    /// e.g. a rustls `ClientConfig` whose roots hold the test's own CA.
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        url: &str,
        headers: &[(&str, &str)],
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Self, HandshakeFailed> {
        let connector = tokio_tungstenite::Connector::Rustls(tls);
        Self::connect_via(url, headers, Some(connector)).await
    }

    /// The certificate chain the server presented, leaf first (empty over plain TCP).
    #[cfg(feature = "tls")]
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        match self.ws.get_ref() {
            MaybeTlsStream::Rustls(tls) => tls
                .get_ref()
                .1
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_vec())
                .collect(),
            _ => Vec::new(),
        }
    }

    async fn connect_via(
        url: &str,
        headers: &[(&str, &str)],
        connector: Option<tokio_tungstenite::Connector>,
    ) -> Result<Self, HandshakeFailed> {
        let mut req = url.into_client_request().map_err(|e| HandshakeFailed {
            status: None,
            body: e.to_string(),
        })?;
        for (k, v) in headers {
            let name = http::HeaderName::try_from(*k).expect("header name");
            let value = http::HeaderValue::try_from(*v).expect("header value");
            req.headers_mut().append(name, value);
        }
        #[cfg(feature = "tls")]
        let fut = tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector);
        #[cfg(not(feature = "tls"))]
        let fut = {
            let _plain_only = connector;
            tokio_tungstenite::connect_async(req)
        };
        let res = tokio::time::timeout(DEFAULT_TIMEOUT, fut)
            .await
            .map_err(|_| HandshakeFailed {
                status: None,
                body: format!("no handshake answer within {DEFAULT_TIMEOUT:?}"),
            })?;
        match res {
            Ok((ws, resp)) => Ok(TestClient {
                ws,
                timeout: DEFAULT_TIMEOUT,
                next_id: 1,
                pending: VecDeque::new(),
                controls: VecDeque::new(),
                headers: resp.headers().clone(),
                sessions: Vec::new(),
                before_session: 0,
            }),
            Err(tungstenite::Error::Http(resp)) => Err(HandshakeFailed {
                status: Some(resp.status().as_u16()),
                body: resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            }),
            Err(e) => Err(HandshakeFailed {
                status: None,
                body: e.to_string(),
            }),
        }
    }

    /// Changes how long this client waits.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The handshake response's headers.
    pub fn response_headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.send(Message::binary(bytes.to_vec())).await;
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends any frame; whether it could be sent (no panic: for tests where the server may
    /// already have closed the connection).
    pub async fn try_send(&mut self, msg: Message) -> bool {
        matches!(
            tokio::time::timeout(self.timeout, self.ws.send(msg)).await,
            Ok(Ok(()))
        )
    }

    /// Sends any frame (pings, fragments built by hand, ...).
    pub async fn send(&mut self, msg: Message) {
        tokio::time::timeout(self.timeout, self.ws.send(msg))
            .await
            .expect("send timed out")
            .expect("send failed");
    }

    /// Sends `{"cmd": command, "data": data, "id": N}` and returns the reply carrying id N (the
    /// whole frame: `cmd`, `data` or `error`, `id`). Frames that arrive before it are kept for
    /// [`recv`](Self::recv).
    pub async fn request(&mut self, command: &str, data: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_json(&json!({"cmd": command, "data": data, "id": id}))
            .await;
        self.reply_to(&json!(id)).await
    }

    /// Waits for the reply whose `id` is `id`.
    pub async fn reply_to(&mut self, id: &Value) -> Value {
        let what = format!("a reply with id {id}");
        self.wait_for(&what, |v| v.get("id") == Some(id)).await
    }

    /// Waits for a push (a frame with no id) with this command, and returns its `data`.
    pub async fn expect_push(&mut self, command: &str) -> Value {
        let what = format!("a push `{command}`");
        let mut v = self
            .wait_for(&what, |v| v["cmd"] == command && v.get("id").is_none())
            .await;
        v["data"].take()
    }

    async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let matches = |r: &Received| match r {
            Received::Text(t) => serde_json::from_str::<Value>(t).ok().filter(&pred),
            _ => None,
        };
        if let Some(pos) = self.pending.iter().position(|r| matches(r).is_some()) {
            let r = self.pending.remove(pos).expect("position is valid");
            return matches(&r).expect("matched above");
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let r = match tokio::time::timeout(left, self.next_frame()).await {
                Ok(r) => r,
                Err(_) => panic!(
                    "timed out after {:?} waiting for {what}; received meanwhile: {:?}",
                    self.timeout, self.pending
                ),
            };
            if let Some(v) = matches(&r) {
                return v;
            }
            if matches!(r, Received::Close(..) | Received::Ended) {
                panic!("connection closed ({r:?}) while waiting for {what}");
            }
            self.pending.push_back(r);
        }
    }

    /// The `data` of the `$session` frame (a module with resumable sessions sends it first:
    /// `{"token": T, "resumed": bool, ...}`), waiting for it if it has not come yet; frames
    /// that arrive meanwhile are kept for [`recv`](Self::recv). Panics if it does not come in
    /// time, or if another frame came before it. `$session` frames never show in `recv`,
    /// `request` or `expect_push`: tests of apps with recovery read them here.
    pub async fn expect_session(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + self.timeout;
        while self.sessions.is_empty() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.next_event(false)).await {
                Ok(None) => {}
                Ok(Some(Received::Close(..) | Received::Ended)) | Err(_) => {
                    panic!(
                        "no `$session` frame; received meanwhile: {:?}",
                        self.pending
                    )
                }
                Ok(Some(r)) => self.pending.push_back(r),
            }
        }
        assert_eq!(
            self.before_session, 0,
            "frames came before `$session`: {:?}",
            self.pending
        );
        self.sessions.remove(0)
    }

    /// The next frame (pings and pongs skipped). Panics if none comes in time.
    pub async fn recv(&mut self) -> Received {
        if let Some(r) = self.pending.pop_front() {
            return r;
        }
        match tokio::time::timeout(self.timeout, self.next_frame()).await {
            Ok(r) => r,
            Err(_) => panic!("timed out after {:?} waiting for a frame", self.timeout),
        }
    }

    /// The next frame as JSON. Panics if it is not a JSON text frame.
    pub async fn recv_json(&mut self) -> Value {
        match self.recv().await {
            Received::Text(t) => {
                serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
            }
            other => panic!("expected a JSON text frame, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives within `window`.
    pub async fn expect_silence(&mut self, window: Duration) {
        assert!(self.pending.is_empty(), "unexpected: {:?}", self.pending);
        if let Ok(r) = tokio::time::timeout(window, self.next_frame()).await {
            panic!("expected silence for {window:?}, got {r:?}");
        }
    }

    /// Waits for the server's close frame (or the end of the connection) and returns its code
    /// and reason ([`Received::Ended`] as 1006). The close is answered at once (RFC 6455
    /// section 5.5.1), as browsers do: the server waits for that answer before it ends the
    /// socket (at most its `close_timeout`).
    pub async fn expect_close(&mut self) -> (u16, String) {
        loop {
            match self.recv().await {
                Received::Close(code, reason) => {
                    // tungstenite queued the answer when it read the close: send it now.
                    let _ = tokio::time::timeout(self.timeout, self.ws.flush()).await;
                    return (code, reason);
                }
                Received::Ended => return (1006, String::new()),
                _ => {}
            }
        }
    }

    /// Closes with this code and waits (within the timeout) for the server's answer.
    pub async fn close(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(self.timeout, self.ws.close(Some(frame))).await;
        let _ = tokio::time::timeout(self.timeout, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// Drops the TCP connection without a close frame.
    pub fn drop_abruptly(self) {
        drop(self);
    }

    async fn next_frame(&mut self) -> Received {
        loop {
            if let Some(r) = self.next_event(false).await {
                return r;
            }
        }
    }

    /// The next data frame, close or end; `None` when a `$session` frame was kept aside, or a
    /// ping or pong was kept and `stop_on_control` is set.
    async fn next_event(&mut self, stop_on_control: bool) -> Option<Received> {
        loop {
            let control = match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if t.starts_with(r#"{"cmd":"$session","#) {
                        if let Ok(mut v) = serde_json::from_str::<Value>(&t) {
                            self.sessions.push(v["data"].take());
                            return None;
                        }
                    }
                    if self.sessions.is_empty() {
                        self.before_session += 1;
                    }
                    return Some(Received::Text(t.to_string()));
                }
                Some(Ok(Message::Binary(b))) => return Some(Received::Binary(b.to_vec())),
                Some(Ok(Message::Close(f))) => {
                    return Some(match f {
                        Some(f) => Received::Close(f.code.into(), f.reason.to_string()),
                        None => Received::Close(1005, String::new()),
                    });
                }
                Some(Ok(Message::Ping(p))) => Control::Ping(p.to_vec()),
                Some(Ok(Message::Pong(p))) => Control::Pong(p.to_vec()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Received::Ended),
            };
            self.keep_control(control);
            if stop_on_control {
                return None;
            }
        }
    }

    fn keep_control(&mut self, c: Control) {
        if self.controls.len() == MAX_CONTROLS {
            self.controls.pop_front();
        }
        self.controls.push_back(c);
    }

    /// The next ping or pong frame (data frames that arrive meanwhile are kept for
    /// [`recv`](Self::recv)). Panics if none comes in time.
    pub async fn recv_control(&mut self) -> Control {
        let timeout = self.timeout;
        let wait = async {
            loop {
                if let Some(c) = self.controls.pop_front() {
                    return c;
                }
                match self.next_event(true).await {
                    None => {}
                    Some(Received::Ended) => {
                        panic!("the connection ended while waiting for a control frame")
                    }
                    Some(r) => self.pending.push_back(r),
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(c) => c,
            Err(_) => panic!("timed out after {timeout:?} waiting for a control frame"),
        }
    }
}
