//! A connection's task over an in-memory stream: messages dispatched and answered, control
//! frames, protocol violations, the close handshake from either side, the rate limit.

use std::time::Duration;

use serde_json::json;

use super::{Client, Events, client_frame, close_payload};
use crate::app::App;
use crate::config::RateLimit;
use crate::prelude::*;

#[ws_module(path = "/t", controllers = [Echo], crate = crate)]
pub(super) struct TestModule;

#[ws_module(crate = crate)]
impl TestModule {
    #[on_open]
    fn open(&self, conn: &Connection) {
        Events::push(conn, "open".to_owned());
    }

    #[on_close]
    fn close(&self, conn: &Connection, info: &CloseInfo) {
        Events::push(
            conn,
            format!("close {} {:?} by {:?}", info.code, info.reason, info.by),
        );
    }
}

#[derive(Default)]
pub(super) struct Echo;

#[ws_controller(prefix = "echo", crate = crate)]
impl Echo {
    #[message_mapping("send")]
    fn send(&self, Data(text): Data<String>) -> String {
        text
    }
}

fn app() -> App {
    App::builder()
        .module::<TestModule>()
        .state(Events::default())
        .build()
        .expect("the test app builds")
}

#[tokio::test]
async fn a_text_message_is_dispatched_and_its_reply_written_back_unmasked() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    client
        .send_text(r#"{"cmd":"echo.send","data":"hello","id":7}"#)
        .await;
    // `recv` checks that the frame is unmasked and whole.
    let reply = client.recv().await.json();
    assert_eq!(reply, json!({"cmd": "echo.send", "data": "hello", "id": 7}));
    assert_eq!(Events::list(&app), ["open"]);
}

#[tokio::test]
async fn messages_sent_at_once_are_answered_in_order() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    let mut batch = Vec::new();
    for id in 0..5 {
        let text = format!(r#"{{"cmd":"echo.send","data":"m{id}","id":{id}}}"#);
        batch.extend(client_frame(0x1, text.as_bytes(), true));
    }
    client.send_raw(&batch).await;
    for id in 0..5 {
        let reply = client.recv().await.json();
        assert_eq!(reply["id"], id);
        assert_eq!(reply["data"], format!("m{id}"));
    }
}

#[tokio::test]
async fn an_unknown_command_is_answered_with_an_error_reply() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    client.send_text(r#"{"cmd":"echo.nope","id":1}"#).await;
    let reply = client.recv().await.json();
    assert_eq!(reply["error"]["code"], "unknown_command");
    assert_eq!(reply["id"], 1);
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_carrying_its_payload() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    client
        .send_raw(&client_frame(0x9, b"are you there", true))
        .await;
    let pong = client.recv().await;
    assert_eq!(pong.opcode, 0xA);
    assert_eq!(pong.payload, b"are you there");
}

#[tokio::test]
async fn an_unmasked_client_frame_closes_the_connection_with_1002() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    client
        .send_raw(&client_frame(
            0x1,
            br#"{"cmd":"echo.send","data":"x"}"#,
            false,
        ))
        .await;
    let (code, reason) = client.recv().await.close();
    assert_eq!(code, 1002);
    assert_eq!(reason, "unmasked client frame");
    client.ended().await;
    assert_eq!(
        Events::list(&app),
        ["open", r#"close 1002 "unmasked client frame" by Server"#]
    );
}

#[tokio::test]
async fn a_client_close_is_echoed_and_the_close_hook_runs() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    client
        .send_raw(&client_frame(0x8, &close_payload(1000, "bye"), true))
        .await;
    // The usual answer: the client's code back, without a reason.
    assert_eq!(client.recv().await.close(), (1000, String::new()));
    let fd = client.fd;
    client.ended().await;
    assert_eq!(
        Events::list(&app),
        ["open", r#"close 1000 "bye" by Client"#]
    );
    assert!(!app.server().is_live(fd), "the session is gone");
    assert_eq!(app.server().stats().connections, 0);
}

#[tokio::test]
async fn a_server_close_sends_its_code_and_reason() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    // Once the connection answers, it is live.
    client
        .send_text(r#"{"cmd":"echo.send","data":"x","id":1}"#)
        .await;
    client.recv().await;
    app.server()
        .disconnect(client.fd, 4001, "kicked")
        .expect("a live fd");
    assert_eq!(client.recv().await.close(), (4001, "kicked".to_owned()));
    client.ended().await;
    assert_eq!(
        Events::list(&app),
        ["open", r#"close 4001 "kicked" by Server"#]
    );
}

#[tokio::test]
async fn a_vanished_client_ends_the_connection_with_1006() {
    let app = app();
    let mut client = Client::connect(&app, "/t");
    client
        .send_text(r#"{"cmd":"echo.send","data":"x","id":1}"#)
        .await;
    client.recv().await;
    client.hang_up().await;
    assert_eq!(
        Events::list(&app),
        ["open", r#"close 1006 "" by Transport"#]
    );
}

#[tokio::test]
async fn over_the_rate_limit_a_message_is_answered_rate_limited_then_abuse_closes_1008() {
    let app = App::builder()
        .module::<TestModule>()
        .state(Events::default())
        // One message, then none for a second; one rate-limited message is tolerated.
        .rate_limit(RateLimit::new(1, 1).close_after(1, Duration::from_secs(60)))
        .build()
        .expect("the test app builds");
    let mut client = Client::connect(&app, "/t");
    for id in 1..=3 {
        let text = format!(r#"{{"cmd":"echo.send","data":"m{id}","id":{id}}}"#);
        client.send_text(&text).await;
    }
    assert_eq!(client.recv().await.json()["data"], "m1");
    let limited = client.recv().await.json();
    assert_eq!(limited["error"]["code"], "rate_limited");
    assert_eq!(limited["id"], 2);
    let (code, reason) = client.recv().await.close();
    assert_eq!((code, reason.as_str()), (1008, "rate limit exceeded"));
    client.ended().await;
}

#[tokio::test]
async fn session_calls_inside_connection_with_do_not_deadlock() {
    #[derive(Clone, Debug, PartialEq)]
    struct User(&'static str);
    #[derive(Clone, Debug, PartialEq)]
    struct Seen(usize);

    let app = app();
    let client = Client::connect(&app, "/t");
    let conn = loop {
        if let Some(c) = app.server().connection(client.fd) {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    conn.insert(User("alice"));
    // On a thread of its own: a deadlock fails the test instead of hanging it.
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = conn.with::<User, _>(|user| {
            let name = user.map(|u| u.0);
            conn.insert(Seen(1));
            let again = conn.get::<User>();
            let nested = conn.with::<Seen, _>(|s| s.cloned());
            let replaced = conn.insert(User("bob"));
            (name, again, nested, replaced, conn.remove::<Seen>())
        });
        let _ = done.send((out, conn.get::<User>()));
    });
    let (out, after) = result
        .recv_timeout(Duration::from_secs(5))
        .expect("Connection::with returned (no deadlock)");
    assert_eq!(
        out,
        (
            Some("alice"),
            Some(User("alice")),
            Some(Seen(1)),
            Some(User("alice")),
            Some(Seen(1))
        )
    );
    assert_eq!(after, Some(User("bob")));
    client.hang_up().await;
}

/// The connection task's future is part of every idle connection's memory (BENCHMARKS.md,
/// "Idle memory"): state that few connections use (the ack table, the backlog of messages
/// read while a handler waits, a resumable session) must be boxed or kept elsewhere, not
/// added inline here.
#[test]
fn the_connection_task_future_stays_small() {
    let app = app();
    let server = app.server().clone();
    let module = server.modules()[0].clone();
    let admission = crate::driver::admission::Admission::try_new(&server, &module).unwrap();
    let fd = server.fds_arc().allocate_guarded().unwrap();
    let request = crate::handshake::HandshakeRequest::new(
        "/t".parse().unwrap(),
        http::HeaderMap::new(),
        None,
    );
    let parts = crate::runtime::connection::ConnParts {
        fd: fd.fd(),
        request: std::sync::Arc::new(request),
        module,
        server,
        protocol: None,
        session: crate::handshake::SessionData::default(),
    };
    let on_upgrade = hyper::upgrade::on(http::Request::new(()));
    let fut = super::super::task::run(on_upgrade, parts, fd, admission);
    let size = std::mem::size_of_val(&fut);
    eprintln!("connection task future: {size} bytes");
    assert!(
        size <= 1176,
        "the connection task's future grew to {size} bytes"
    );
}
