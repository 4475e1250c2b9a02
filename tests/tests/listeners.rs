//! App-wide event listeners (Swoft's `@Listener(WsServerEvent::...)`): `#[ws_listener(event =
//! "...")]` fns, collected at start-up, told about every connection of every module, with the
//! error for `*.error`; a panicking listener is caught and logged.

use std::sync::Mutex;
use std::time::Duration;

use swoft_ws::events::Event;
use swoft_ws::prelude::*;
use swoft_ws::testing::{Received, TestServer, wait_until};

/// What the listeners saw, in order.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn seen(ev: &Event<'_>) {
    let fd = ev
        .connection()
        .map_or_else(|| "-".to_owned(), |c| c.fd().to_string());
    let error = ev.error().map(|e| format!(" ({e})")).unwrap_or_default();
    SEEN.lock().unwrap().push(format!(
        "{} {} {fd}{error}",
        ev.kind().name(),
        ev.request().path()
    ));
}

#[ws_listener(event = "handshake.before")]
fn handshake_before(ev: &Event) {
    seen(ev);
}

#[ws_listener(event = "handshake.after")]
fn handshake_after(ev: &Event) {
    seen(ev);
}

#[ws_listener(event = "open.after")]
fn open_after(ev: &Event) {
    seen(ev);
}

/// Panics: caught and logged, the connection goes on.
#[ws_listener(event = "open.after")]
fn open_after_panics(_ev: &Event) {
    panic!("a listener failed");
}

#[ws_listener(event = "message.before")]
fn message_before(ev: &Event) {
    seen(ev);
}

#[ws_listener(event = "message.error")]
fn message_error(ev: &Event) {
    seen(ev);
}

#[ws_listener(event = "message.after")]
fn message_after(ev: &Event) {
    seen(ev);
}

#[ws_listener(event = "close.after")]
fn close_after(ev: &Event) {
    seen(ev);
}

#[ws_module(path = "/ev", parser = token_text, controllers = [EvController])]
pub struct EvModule;

#[derive(Default)]
pub struct EvController;

#[ws_controller(prefix = "ev")]
impl EvController {
    #[message_mapping("ok", root = true)]
    fn ok() -> &'static str {
        "ok"
    }

    #[message_mapping("boom", root = true)]
    fn boom() -> &'static str {
        panic!("boom")
    }
}

#[tokio::test]
async fn listeners_hear_every_event_they_listen_to_with_the_connection_and_the_error() {
    let app = App::builder().module::<EvModule>().build().unwrap();
    let server = TestServer::start(app).await;
    let mut c = server.connect("/ev").await.unwrap();
    c.send_text("ok").await;
    assert_eq!(c.recv().await, Received::Text("ok".into()));
    c.send_text("boom").await;
    let Received::Text(internal) = c.recv().await else {
        panic!("an error reply")
    };
    assert!(internal.contains("internal"), "{internal:?}");
    c.close(1000, "").await;
    let done = wait_until(Duration::from_secs(5), || {
        SEEN.lock()
            .unwrap()
            .last()
            .is_some_and(|l| l.starts_with("close.after"))
    })
    .await;
    assert!(done, "close.after heard: {:?}", SEEN.lock().unwrap());

    let fd = server.server().live_fds().first().map(|f| f.to_string());
    assert!(fd.is_none(), "the connection is gone");
    let seen = SEEN.lock().unwrap().clone();
    let fd = seen[2].rsplit(' ').next().unwrap().to_owned();
    assert_eq!(
        seen,
        [
            "handshake.before /ev -".to_owned(),
            "handshake.after /ev -".to_owned(),
            format!("open.after /ev {fd}"),
            format!("message.before /ev {fd}"),
            format!("message.after /ev {fd}"),
            format!("message.before /ev {fd}"),
            format!("message.error /ev {fd} (boom)"),
            format!("message.after /ev {fd}"),
            format!("close.after /ev {fd}"),
        ]
    );
}
