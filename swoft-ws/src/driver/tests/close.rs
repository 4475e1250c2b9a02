//! The close sequence over an in-memory stream: a close takes effect at once (no message is
//! dispatched after it, and the connection is gone within `close_timeout` whatever the peer
//! does), and after a close the server started, the socket ends only once the peer answered
//! (RFC 6455 section 7.1.1).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Client, client_frame, close_payload};
use crate::app::App;
use crate::prelude::*;

#[ws_module(path = "/c", controllers = [Ctl], crate = crate)]
pub(super) struct CloseModule;

/// Messages dispatched to the module's handlers (the app's state).
#[derive(Default)]
pub(super) struct Dispatched(AtomicUsize);

fn dispatched(app: &App) -> usize {
    let d = app.server().state::<Dispatched>().expect("the state");
    d.0.load(Ordering::SeqCst)
}

#[derive(Default)]
pub(super) struct Ctl;

#[ws_controller(crate = crate)]
impl Ctl {
    #[message_mapping("echo", root = true)]
    fn echo(&self, Data(text): Data<String>, State(d): State<Dispatched>) -> String {
        d.0.fetch_add(1, Ordering::SeqCst);
        text
    }

    /// A reply of `n` bytes.
    #[message_mapping("big", root = true)]
    fn big(&self, Data(n): Data<usize>, State(d): State<Dispatched>) -> String {
        d.0.fetch_add(1, Ordering::SeqCst);
        "x".repeat(n)
    }

    #[message_mapping("kick", root = true)]
    fn kick(&self, conn: &Connection, State(d): State<Dispatched>) -> &'static str {
        d.0.fetch_add(1, Ordering::SeqCst);
        conn.close(4000, "bye");
        "kicking"
    }
}

fn app(close_timeout: Duration) -> App {
    App::builder()
        .module::<CloseModule>()
        .state(Dispatched::default())
        .close_timeout(close_timeout)
        .build()
        .expect("the test app builds")
}

fn echo(id: u32) -> Vec<u8> {
    let text = format!(r#"{{"cmd":"echo","data":"m{id}","id":{id}}}"#);
    client_frame(0x1, text.as_bytes(), true)
}

#[tokio::test]
async fn after_a_handler_closes_its_connection_no_message_already_read_is_dispatched() {
    let app = app(Duration::from_secs(5));
    let mut client = Client::connect(&app, "/c");
    let mut batch = echo(1);
    batch.extend(client_frame(0x1, br#"{"cmd":"kick","id":2}"#, true));
    batch.extend(echo(3));
    batch.extend(echo(4));
    // One write: every frame is read before the first reply is written.
    client.send_raw(&batch).await;
    assert_eq!(client.recv().await.json()["data"], "m1");
    // Nothing is queued after the close, the reply of the handler that closed included.
    assert_eq!(client.recv().await.close(), (4000, "bye".to_owned()));
    assert_eq!(dispatched(&app), 2, "m3 and m4 came after the close");
    client.ended().await;
}

#[tokio::test]
async fn a_server_close_ends_a_client_that_does_not_read_within_close_timeout() {
    let close_timeout = Duration::from_millis(300);
    let app = app(close_timeout);
    let mut client = Client::connect(&app, "/c");
    // Replies larger than the stream holds (64 KiB): the server's writes block.
    let mut batch = Vec::new();
    for id in 0..20 {
        let text = format!(r#"{{"cmd":"big","data":16384,"id":{id}}}"#);
        batch.extend(client_frame(0x1, text.as_bytes(), true));
    }
    client.send_raw(&batch).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while dispatched(&app) < 20 {
        assert!(Instant::now() < deadline, "the 20 requests are handled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let kicked = Instant::now();
    app.server()
        .disconnect(client.fd, 4001, "kicked")
        .expect("live");
    // More messages after the close was requested: none is dispatched.
    let mut more = Vec::new();
    for id in 100..110 {
        more.extend(echo(id));
    }
    client.send_raw(&more).await;
    let Client { io, task, .. } = client;
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the connection's task ends although the client does not read")
        .expect("no panic");
    let took = kicked.elapsed();
    assert!(
        took < close_timeout + Duration::from_millis(700),
        "gone within close_timeout: {took:?}"
    );
    assert_eq!(dispatched(&app), 20, "nothing dispatched after the close");
    assert_eq!(app.server().stats().connections, 0);
    drop(io);
}

#[tokio::test]
async fn after_a_server_close_the_socket_ends_once_the_peer_answers_with_its_close_frame() {
    let app = app(Duration::from_secs(5));
    let mut client = Client::connect(&app, "/c");
    client.send_raw(&echo(1)).await;
    client.recv().await;
    app.server()
        .disconnect(client.fd, 4001, "kicked")
        .expect("live");
    // The client still sends before it sees the close: read and dropped, not answered.
    client.send_raw(&echo(2)).await;
    assert_eq!(client.recv().await.close(), (4001, "kicked".to_owned()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !client.task.is_finished(),
        "the server waits for the peer's close frame (RFC 6455 section 7.1.1)"
    );
    client
        .send_raw(&client_frame(0x8, &close_payload(4001, ""), true))
        .await;
    client.ended().await;
    assert_eq!(dispatched(&app), 1);
}

#[tokio::test]
async fn a_close_code_that_may_not_be_sent_goes_out_as_1011() {
    for bad in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        let app = app(Duration::from_secs(5));
        let mut client = Client::connect(&app, "/c");
        client.send_raw(&echo(1)).await;
        client.recv().await;
        app.server()
            .disconnect(client.fd, bad, "why")
            .expect("live");
        assert_eq!(
            client.recv().await.close(),
            (1011, "why".to_owned()),
            "code {bad} (RFC 6455 section 7.4)"
        );
        client.ended().await;
    }
}
