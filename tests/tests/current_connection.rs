//! `Connection::current()` (Swoft's `Session::current()`): the connection, with its session
//! data, in every hook and handler and what they call, without passing it down; none in
//! `#[on_handshake]`, before the connection exists.

use std::sync::Mutex;
use std::time::Duration;

use swoft_ws::middleware::{BoxFuture, Middleware, Next};
use swoft_ws::prelude::*;
use swoft_ws::testing::{Received, TestServer, wait_until};

/// What the handshake hook saw, and the fds the close hook saw.
static SEEN_IN_HANDSHAKE: Mutex<Vec<bool>> = Mutex::new(Vec::new());
static CLOSED: Mutex<Vec<(u32, Option<String>)>> = Mutex::new(Vec::new());

#[derive(Clone)]
struct Nick(String);

/// App code far from the hook or handler: no connection passed in.
fn say(text: &str) {
    let conn = Connection::current().expect("a current connection");
    let _ = conn.send(RawMessage::text(format!("#{} {text}", conn.fd())));
}

#[ws_module(path = "/cur", parser = token_text, controllers = [CurController])]
pub struct CurModule;

#[ws_module]
impl CurModule {
    #[on_handshake]
    fn handshake(_req: &HandshakeRequest) -> Accept {
        SEEN_IN_HANDSHAKE
            .lock()
            .unwrap()
            .push(Connection::current().is_some());
        Accept::new()
    }

    #[on_open]
    async fn open(_conn: &Connection) {
        tokio::task::yield_now().await;
        Connection::current()
            .expect("current in on_open")
            .insert(Nick("anon".into()));
        say("opened");
    }

    #[on_close]
    fn close(_conn: &Connection, _info: &CloseInfo) {
        let conn = Connection::current().expect("current in on_close");
        let nick = conn.get::<Nick>().map(|n| n.0);
        CLOSED.lock().unwrap().push((conn.fd().get(), nick));
    }
}

#[derive(Default)]
pub struct CurController;

/// Greets through `Connection::current()` before the handler runs.
#[derive(Default)]
pub struct Greet;

impl Middleware for Greet {
    fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            say("via middleware");
            next.run(cx).await
        })
    }
}

#[ws_controller(prefix = "cur")]
impl CurController {
    #[message_mapping("nick", root = true)]
    async fn nick(Data(body): Data<String>) {
        tokio::task::yield_now().await;
        let conn = Connection::current().expect("current in a handler");
        conn.insert(Nick(body));
        say("renamed");
    }

    #[message_mapping("whoami", root = true)]
    #[middleware(Greet)]
    fn whoami() {
        let nick = Connection::current().and_then(|c| c.get::<Nick>());
        say(&format!("is {}", nick.map_or_else(String::new, |n| n.0)));
    }
}

#[tokio::test]
async fn the_current_connection_is_known_in_hooks_handlers_and_middleware_but_not_the_handshake() {
    let app = App::builder().module::<CurModule>().build().unwrap();
    let server = TestServer::start(app).await;
    assert!(Connection::current().is_none(), "none outside a connection");

    let mut c = server.connect("/cur").await.unwrap();
    let Received::Text(opened) = c.recv().await else {
        panic!("a text")
    };
    let fd = opened
        .strip_prefix('#')
        .and_then(|s| s.strip_suffix(" opened"))
        .expect("`#FD opened`")
        .to_owned();
    assert_eq!(*SEEN_IN_HANDSHAKE.lock().unwrap(), [false]);

    c.send_text("whoami").await;
    assert_eq!(
        c.recv().await,
        Received::Text(format!("#{fd} via middleware"))
    );
    assert_eq!(c.recv().await, Received::Text(format!("#{fd} is anon")));
    c.send_text("nick:ann").await;
    assert_eq!(c.recv().await, Received::Text(format!("#{fd} renamed")));

    c.close(1000, "").await;
    let closed = wait_until(Duration::from_secs(5), || {
        !CLOSED.lock().unwrap().is_empty()
    })
    .await;
    assert!(closed, "on_close ran");
    assert_eq!(
        *CLOSED.lock().unwrap(),
        [(fd.parse::<u32>().unwrap(), Some("ann".to_owned()))]
    );
}
